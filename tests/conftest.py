"""Test setup: two logical CPU devices, so tf.distribute tests can run here."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gzip  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

# Ids of the small vocabularies the tests build: [PAD] [UNK] [CLS] [SEP] [MASK].
PAD, UNK, CLS, SEP, MASK = range(5)

TINY_MODEL = {
    "vocabulary_size": 120,
    "embedding_size": 24,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_size": 64,
    "generator_size_fraction": 0.5,
    "max_position_embeddings": 64,
}


def make_batch(batch_size=8, length=24, vocabulary_size=120, seed=0):
    """Packed-looking batches: [CLS] A [SEP] B [SEP] with some padding."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocabulary_size, (batch_size, length)).astype("int32")
    segment_ids = np.zeros_like(token_ids)
    padding_mask = np.ones_like(token_ids)
    for row in range(batch_size):
        used = int(rng.integers(length // 2, length + 1))
        middle = used // 2
        token_ids[row, 0] = CLS
        token_ids[row, middle] = SEP
        token_ids[row, used - 1] = SEP
        segment_ids[row, middle + 1 : used] = 1
        token_ids[row, used:] = PAD
        padding_mask[row, used:] = 0
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


@pytest.fixture(scope="session")
def two_replicas():
    """One `MirroredStrategy` over the two logical CPUs for all tests.

    Two strategies over the same devices in one process restart their
    collective instance keys and clash in TensorFlow's collective cache
    ("Shape mismatch in the collective instance 100").
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture
def batch():
    return make_batch()


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """Some of the bundled English and Korean text, with one undecodable line."""
    folder = tmp_path_factory.mktemp("corpus")
    parts = []
    from electra_keras import data

    for path in data.DEFAULT_CORPUS:
        with gzip.open(path, "rb") as file:
            parts.append(b"\n".join(file.read().split(b"\n")[:1500]))
    english = folder / "english.txt"
    english.write_bytes(parts[0] + b"\n\nA broken \xff\xfe line here.\n")
    korean = folder / "korean.txt.gz"
    korean.write_bytes(gzip.compress(parts[1]))
    return [english, korean]
