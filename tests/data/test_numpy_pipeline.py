"""The NumPy twins of the tf.data pipelines read exactly what they read."""

import pytest


def test_numpy_reader_gives_exactly_the_examples_tf_data_gives(built_dataset):
    from electra_keras import data
    from electra_keras.data import numpy_pipeline as numpy_data

    for split in ("train", "eval"):
        from_tf = [
            (tuple(t), tuple(s), tuple(p))
            for batch in data.make_tfrecord_dataset(built_dataset, 1, split=split, shuffle=False, repeat=False)
            for t, s, p in zip(*(batch[k].numpy().tolist() for k in ("token_ids", "segment_ids", "padding_mask")))
        ]
        from_numpy = [
            (tuple(t), tuple(s), tuple(p))
            for (batch,) in numpy_data.numpy_tfrecord_batches(built_dataset, 1, split=split, shuffle=False, repeat=False)
            for t, s, p in zip(*(batch[k].tolist() for k in ("token_ids", "segment_ids", "padding_mask")))
        ]
        assert len(from_tf) > 16
        # tf.data interleaves shards even unshuffled: compare as multisets.
        assert sorted(from_numpy) == sorted(from_tf)


def test_numpy_shuffled_batches_cover_every_example_once_per_pass(built_dataset):
    from electra_keras.data import numpy_pipeline as numpy_data

    plain = numpy_data.numpy_tfrecord_batches(built_dataset, 8, shuffle=False, repeat=False)
    shuffled = numpy_data.numpy_tfrecord_batches(built_dataset, 8, shuffle=True, repeat=False, shuffle_buffer=50)
    rows = lambda batches: [tuple(r) for (b,) in batches for r in b["token_ids"].tolist()]  # noqa: E731
    plain_rows, shuffled_rows = rows(plain), rows(shuffled)
    assert sorted(shuffled_rows) == sorted(plain_rows) and shuffled_rows != plain_rows


def test_a_truncated_shard_is_an_error_naming_the_file(built_dataset, tmp_path):
    import gzip

    from electra_keras.data import shard_format

    shard = sorted(built_dataset.glob("train-*.tfrecord.gz"))[0]
    raw = gzip.decompress(shard.read_bytes())
    broken = tmp_path / shard.name
    broken.write_bytes(gzip.compress(raw[: len(raw) - 7]))
    with pytest.raises(shard_format.RecordError, match=f"{broken.name}: record .* truncated"):
        shard_format.read_shard(broken, 32)
    corrupted = tmp_path / "corrupted.tfrecord.gz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    with pytest.raises(shard_format.RecordError, match="corrupted.tfrecord.gz"):
        shard_format.read_shard(corrupted, 32)
