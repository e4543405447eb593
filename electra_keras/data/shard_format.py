"""The shard format of built datasets, written down once.

A built dataset is a folder with `manifest.json` (format version, the
vocabulary's SHA-256 and size, the [PAD] id, the build settings, counts and
the list of shards) and GZIP-compressed TFRecord shards
`train-IIIII-KKKK.tfrecord.gz` / `eval-IIIII-KKKK.tfrecord.gz` (input file
`IIIII`, shard `KKKK`). Each record is a `tf.train.Example` with two
`int64_list` features of `sequence_length` values, `token_ids` and
`segment_ids`; the padding mask is `token_ids != pad_token_id`.

Writing needs TensorFlow (`serialize_example`); reading has two twins, the
`tf.io` parse spec (`feature_spec`) and a NumPy decoder of the same bytes
(`iter_tfrecords`, `parse_example`, `read_shard`) for machines without
TensorFlow. The NumPy reader checks each record length's CRC-32C; the
payload's CRC is not recomputed (pure Python would be slow), but a GZIP
shard's own CRC catches a corrupted file.
"""

import gzip
import json
import pathlib
import struct

import numpy as np

FORMAT_VERSION = 1
FEATURES = ("token_ids", "segment_ids")
MANIFEST = "manifest.json"


class RecordError(ValueError):
    """A shard or manifest that cannot be read; the message names the file."""


def shard_name(split, input_index, shard_index):
    """The file name of a shard.

    Example:
    ```python
    shard_name("train", 0, 3)  # "train-00000-0003.tfrecord.gz"
    ```
    """
    return f"{split}-{input_index:05d}-{shard_index:04d}.tfrecord.gz"


def serialize_example(token_ids, segment_ids):
    """One record: a serialized `tf.train.Example` (needs TensorFlow).

    Example:
    ```python
    record = serialize_example([2, 17, 3, 0], [0, 0, 0, 0])
    ```
    """
    import tensorflow as tf

    values = {"token_ids": token_ids, "segment_ids": segment_ids}
    feature = {
        name: tf.train.Feature(int64_list=tf.train.Int64List(value=list(map(int, values[name]))))
        for name in FEATURES
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def feature_spec(sequence_length):
    """The `tf.io.parse_example` spec of a record.

    Example:
    ```python
    parsed = tf.io.parse_example(records, feature_spec(128))
    ```
    """
    import tensorflow as tf

    return {name: tf.io.FixedLenFeature([sequence_length], tf.int64) for name in FEATURES}


def read_manifest(data_dir):
    """The manifest of a built dataset; a clear error when there is none.

    Example:
    ```python
    manifest = electra_keras.data.read_manifest("data/built")
    manifest["totals"]["tokens"]
    ```
    """
    data_dir = pathlib.Path(data_dir)
    manifest = read_manifest_or_none(data_dir)
    if manifest is None:
        raise RecordError(f"{data_dir}: no {MANIFEST}; build it with scripts/build_dataset.py")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RecordError(
            f"{data_dir / MANIFEST}: format version {manifest.get('format_version')}, expected {FORMAT_VERSION}"
        )
    return manifest


def read_manifest_or_none(data_dir):
    """The manifest dict, or None when the folder has none yet."""
    path = pathlib.Path(data_dir) / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


# --- Reading without TensorFlow ------------------------------------------------


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

