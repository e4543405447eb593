"""NumPy batches for backends without TensorFlow (JAX, PyTorch).

The NumPy twins of `electra_keras.data.tf_pipeline`: the same in-memory
packed examples (`numpy_batches`) and the same built datasets
(`numpy_tfrecord_batches`, read by `shard_format`'s NumPy decoder), with
NumPy and the standard library only, so an accelerator machine that has JAX
but no TensorFlow trains on data built elsewhere.
"""

import pathlib

import numpy as np

from electra_keras.data.shard_format import read_manifest
from electra_keras.data.shard_format import read_shard


def numpy_batches(examples, batch_size, shuffle=True, repeat=True, seed=0):
    """A generator of `(batch,)` tuples of in-memory packed examples.

    Keras' generator adapter takes tuples; `batch` is the dict of int32
    `token_ids`, `segment_ids` and `padding_mask`.

    The NumPy twin of `electra_keras.data.make_dataset`: a new permutation
    every epoch, full batches only.

    Example:
    ```python
    batches = numpy_batches(train_examples, batch_size=32)
    pretrainer.fit(batches, steps_per_epoch=100)  # on any backend
    ```
    """
    count = len(examples["token_ids"])
    if count < batch_size:
        raise ValueError(f"{count} examples are fewer than one batch of {batch_size}")
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(count) if shuffle else np.arange(count)
        for start in range(0, count - batch_size + 1, batch_size):
            rows = order[start : start + batch_size]
            yield ({key: np.asarray(value)[rows] for key, value in examples.items()},)
        if not repeat:
            return


def numpy_tfrecord_batches(
    data_dir, batch_size, split="train", shuffle=True, repeat=True, seed=0, shuffle_buffer=10_000,
    num_shards=1, shard_index=0,
):
    """A generator of `(batch,)` tuples streamed from a built dataset's shards.

    `batch` is the dict of int32 `token_ids`, `segment_ids` and
    `padding_mask`, as `numpy_batches` gives.

    The NumPy twin of `electra_keras.data.make_tfrecord_dataset`: shards in
    a new random order every epoch, examples mixed through a shuffle buffer.
    `num_shards`/`shard_index` give each of several hosts its own shards.
    Orders differ from tf.data's (different generators); the examples are
    the same.

    Example:
    ```python
    batches = numpy_tfrecord_batches("data/built", batch_size=128)
    pretrainer.fit(batches, steps_per_epoch=1000)
    ```
    """
    data_dir = pathlib.Path(data_dir)
    manifest = read_manifest(data_dir)
    shards = [data_dir / name for name in manifest["shards"][split]][shard_index::num_shards]
    if not shards:
        raise ValueError(f"{data_dir}: no {split} shards for input {shard_index} of {num_shards}")
    length = manifest["settings"]["sequence_length"]
    pad_token_id = manifest.get("pad_token_id", 0)
    rng = np.random.default_rng(seed)
    buffer = {key: np.zeros((0, length), dtype=np.int32) for key in ("token_ids", "segment_ids", "padding_mask")}
    # Batches leave from the front of the buffer while it holds at least
    # this many rows; the rest is mixed with the next shard.
    keep = max(batch_size, shuffle_buffer) if shuffle else batch_size

    def drain(buffer, keep):
        # Slices are views: one copy per shard (the concatenation), not per batch.
        start, size = 0, len(buffer["token_ids"])
        while size - start >= keep:
            yield ({key: value[start : start + batch_size] for key, value in buffer.items()},)
            start += batch_size
        return {key: value[start:] for key, value in buffer.items()}

    while True:
        for shard in (rng.permutation(len(shards)) if shuffle else range(len(shards))):
            examples = read_shard(shards[shard], length, pad_token_id)
            buffer = {key: np.concatenate([buffer[key], examples[key]]) for key in buffer}
            if shuffle:
                order = rng.permutation(len(buffer["token_ids"]))
                buffer = {key: value[order] for key, value in buffer.items()}
            buffer = yield from drain(buffer, keep)
        if not repeat:
            break
    yield from drain(buffer, batch_size)
