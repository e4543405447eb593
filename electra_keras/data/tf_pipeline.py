"""`tf.data` pipelines: in-memory packed examples, or a built dataset's shards."""

import pathlib

import tensorflow as tf

from electra_keras.data.corpus import CorpusError
from electra_keras.data.shard_format import feature_spec
from electra_keras.data.shard_format import read_manifest


def make_dataset(examples, batch_size, shuffle=True, repeat=True, seed=0):
    """A batched, prefetched `tf.data.Dataset` of packed examples.

    Example:
    ```python
    dataset = electra_keras.data.make_dataset(train_examples, batch_size=32)
    pretrainer.fit(dataset, steps_per_epoch=100)
    ```
    """
    count = len(examples["token_ids"])
    if count < batch_size:
        raise CorpusError(
            f"the corpus gives {count} examples, fewer than one batch of {batch_size}; "
            "use more text or a smaller training.batch_size"
        )
    dataset = tf.data.Dataset.from_tensor_slices(examples)
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def in_memory_batches(rows, batch_size, shuffle=True, drop_remainder=False):
    """Rows held in memory (strings, arrays, a tuple or dict of them) as batches,
    all rows reshuffled every epoch when `shuffle`, as Keras' `fit` does with arrays.

    The order follows `keras.utils.set_random_seed` (TensorFlow's global seed).

    Example:
    ```python
    batches = in_memory_batches((texts, labels), batch_size=32)
    ```
    """
    dataset = tf.data.Dataset.from_tensor_slices(rows)
    if shuffle:
        dataset = dataset.shuffle(int(dataset.cardinality()), reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder)


def make_tfrecord_dataset(
    data_dir, batch_size, split="train", shuffle=True, repeat=True, seed=0, input_context=None
):
    """Streams a built dataset (`scripts/build_dataset.py`) as batches.

    Shards are interleaved (read in parallel), shuffled, batched, parsed and
    prefetched. Under `tf.distribute`, pass the `input_context` that
    `strategy.distribute_datasets_from_function` gives: each input pipeline
    then reads its own subset of shards.

    Example:
    ```python
    dataset = electra_keras.data.make_tfrecord_dataset("data/built", batch_size=128)
    pretrainer.fit(dataset, steps_per_epoch=1000)
    ```
    """
    data_dir = pathlib.Path(data_dir)
    manifest = read_manifest(data_dir)
    shards = [str(data_dir / name) for name in manifest["shards"][split]]
    if not shards:
        raise CorpusError(f"{data_dir}: no {split} shards (is data.eval_fraction 0?)")
    length = manifest["settings"]["sequence_length"]
    files = tf.data.Dataset.from_tensor_slices(shards)
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(shards) < input_context.num_input_pipelines:
            raise CorpusError(
                f"{data_dir}: {len(shards)} {split} shards cannot feed "
                f"{input_context.num_input_pipelines} input pipelines; build with smaller shards"
            )
        files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle:
        files = files.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        files = files.repeat()
    records = files.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP"),
        cycle_length=min(8, len(shards)),
        num_parallel_calls=tf.data.AUTOTUNE,
        # A fixed order, so that a resumed run can skip to where it stopped.
        deterministic=True,
    )
    if shuffle:
        records = records.shuffle(10_000, seed=seed)
    features = feature_spec(length)
    pad_token_id = manifest.get("pad_token_id", 0)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, features)
        token_ids = tf.cast(parsed["token_ids"], tf.int32)
        return {
            "token_ids": token_ids,
            "segment_ids": tf.cast(parsed["segment_ids"], tf.int32),
            "padding_mask": tf.cast(token_ids != pad_token_id, tf.int32),
        }

    batches = records.batch(batch_size, drop_remainder=repeat)
    return batches.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
