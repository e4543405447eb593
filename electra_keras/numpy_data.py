"""NumPy batches for backends without TensorFlow (JAX, PyTorch).

Reads the same built datasets as `electra_keras.data.make_tfrecord_dataset`
(GZIP TFRecord shards of `tf.train.Example`s, `scripts/build_dataset.py`)
and the same in-memory packed examples as `electra_keras.data.make_dataset`,
with NumPy and the standard library only, so an accelerator machine that has
JAX but no TensorFlow trains on data built elsewhere.

The TFRecord framing and the two `int64_list` features are decoded here
directly (the wire format is small and fixed). Each record's length is
checked against its CRC-32C; the payload's CRC is not recomputed (pure
Python would be slow), but a GZIP shard's own CRC catches a corrupted file.
A truncated or malformed record is an error naming the shard and record.
"""

import gzip
import pathlib
import struct

import numpy as np

from electra_keras.dataset_builder import read_manifest


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def masked_crc32c(data):
    """TFRecord's masked CRC-32C (Castagnoli) of `data`.

    Example:
    ```python
    masked_crc32c(struct.pack("<Q", len(record)))
    ```
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class RecordError(ValueError):
    """A shard that cannot be read; the message names the file and record."""


def iter_tfrecords(path):
    """Yields the serialized records of one TFRecord file (GZIP or plain).

    Example:
    ```python
    for record in iter_tfrecords("data/built/train-00000-0000.tfrecord.gz"):
        example = parse_example(record)
    ```
    """
    path = pathlib.Path(path)
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as stream:
            index = 0
            while True:
                header = stream.read(12)
                if not header:
                    return
                if len(header) < 12:
                    raise RecordError(f"{path}: record {index} is truncated (incomplete header)")
                (length,) = struct.unpack("<Q", header[:8])
                (length_crc,) = struct.unpack("<I", header[8:])
                if masked_crc32c(header[:8]) != length_crc:
                    raise RecordError(f"{path}: record {index} has a corrupted length (CRC mismatch)")
                body = stream.read(length + 4)
                if len(body) < length + 4:
                    raise RecordError(f"{path}: record {index} is truncated ({len(body)} of {length + 4} bytes)")
                yield body[:length]
                index += 1
    except (OSError, EOFError) as error:  # gzip's CRC or framing failed
        raise RecordError(f"{path}: not a readable TFRecord file ({error})") from error


def _read_varint(buffer, offset):
    value, shift = 0, 0
    while True:
        byte = buffer[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7


def _fields(buffer):
    """(field number, wire type, value) of one protobuf message; LEN values
    are `memoryview`s, varints ints."""
    offset, end = 0, len(buffer)
    while offset < end:
        key, offset = _read_varint(buffer, offset)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, offset = _read_varint(buffer, offset)
        elif wire_type == 2:
            length, offset = _read_varint(buffer, offset)
            value, offset = buffer[offset : offset + length], offset + length
        elif wire_type == 1:
            value, offset = buffer[offset : offset + 8], offset + 8
        elif wire_type == 5:
            value, offset = buffer[offset : offset + 4], offset + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        if offset > end:
            raise ValueError("message ends inside a field")
        yield field, wire_type, value


def _packed_varints(buffer):
    """Decodes packed non-negative varints, vectorised."""
    data = np.frombuffer(buffer, dtype=np.uint8)
    if data.size == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.flatnonzero(data < 0x80)
    if ends.size == 0 or ends[-1] != data.size - 1:
        raise ValueError("packed varints end inside a value")
    starts = np.concatenate([[0], ends[:-1] + 1])
    owner = np.repeat(np.arange(ends.size), ends - starts + 1)
    shift = (np.arange(data.size) - starts[owner]) * 7
    values = np.zeros(ends.size, dtype=np.int64)
    np.add.at(values, owner, (data & 0x7F).astype(np.int64) << shift)
    return values


def parse_example(serialized):
    """The `int64_list` features of a serialized `tf.train.Example`, as arrays.

    Example:
    ```python
    parse_example(record)  # {"token_ids": array([...]), "segment_ids": array([...])}
    ```
    """
    features = {}
    for field, _, features_message in _fields(memoryview(serialized)):
        if field != 1:  # Example.features
            continue
        for entry_field, _, entry in _fields(features_message):
            if entry_field != 1:  # Features.feature (a map entry)
                continue
            name, feature = None, None
            for part_field, _, part in _fields(entry):
                if part_field == 1:
                    name = bytes(part).decode("utf-8")
                elif part_field == 2:
                    feature = part
            values = []
            for kind, _, value_list in _fields(feature if feature is not None else b""):
                if kind != 3:  # Feature.int64_list; bytes and float lists unused here
                    continue
                for value_field, wire_type, value in _fields(value_list):
                    if value_field == 1 and wire_type == 2:
                        values.append(_packed_varints(value))
                    elif value_field == 1 and wire_type == 0:
                        values.append(np.array([value], dtype=np.int64))
            features[name] = np.concatenate(values) if values else np.zeros(0, dtype=np.int64)
    return features


def read_shard(path, sequence_length, pad_token_id=0):
    """All examples of one shard as int32 arrays `[n, sequence_length]`.

    Example:
    ```python
    examples = read_shard("data/built/train-00000-0000.tfrecord.gz", 128)
    ```
    """
    token_ids, segment_ids = [], []
    for index, record in enumerate(iter_tfrecords(path)):
        try:
            example = parse_example(record)
            tokens, segments = example["token_ids"], example["segment_ids"]
        except (ValueError, KeyError, IndexError) as error:
            raise RecordError(f"{path}: record {index} is not a pretraining example ({error!r})") from error
        if len(tokens) != sequence_length or len(segments) != sequence_length:
            raise RecordError(
                f"{path}: record {index} has {len(tokens)} tokens, the manifest says {sequence_length}"
            )
        token_ids.append(tokens)
        segment_ids.append(segments)
    token_ids = np.asarray(token_ids, dtype=np.int32).reshape(-1, sequence_length)
    return {
        "token_ids": token_ids,
        "segment_ids": np.asarray(segment_ids, dtype=np.int32).reshape(-1, sequence_length),
        "padding_mask": (token_ids != pad_token_id).astype(np.int32),
    }


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
