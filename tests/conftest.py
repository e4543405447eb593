"""Test setup: two logical CPU devices, so tf.distribute tests can run here."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import contextlib  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
HELPERS = ROOT / "tests" / "helpers"
sys.path.insert(0, str(HELPERS))  # shared test data modules (bert_parity)

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
    from electra_keras.data.corpus import DEFAULT_CORPUS

    for path in DEFAULT_CORPUS:
        with gzip.open(path, "rb") as file:
            parts.append(b"\n".join(file.read().split(b"\n")[:1500]))
    english = folder / "english.txt"
    english.write_bytes(parts[0] + b"\n\nA broken \xff\xfe line here.\n")
    korean = folder / "korean.txt.gz"
    korean.write_bytes(gzip.compress(parts[1]))
    return [english, korean]


@pytest.fixture(scope="session")
def built_dataset(tmp_path_factory):
    """A dataset built into TFRecord shards from some of the bundled English text."""
    import gzip

    from electra_keras import data
    from electra_keras.data.builder import BuildSettings
    from electra_keras.data.builder import build_dataset

    folder = tmp_path_factory.mktemp("built")
    with gzip.open(data.DEFAULT_CORPUS[0], "rt", encoding="utf-8") as file:
        lines = file.read().splitlines()[:1500]
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    settings = BuildSettings(sequence_length=32, examples_per_shard=100, eval_fraction=0.1)
    build_dataset([corpus], folder / "built", data.DEFAULT_VOCABULARY, settings)
    return folder / "built"


# --- Running the project's scripts as a user does ----------------------------

PRETRAIN = ROOT / "scripts" / "pretrain.py"
# A run of a few seconds: small vocabulary, short sequences, small batches.
FAST = [
    "--set", "data.vocabulary_size=1000",
    "--set", "data.sequence_length=32",
    "--set", "training.steps_per_eval=15",
    "--set", "training.steps_per_checkpoint=10",
    "--set", "training.eval_batches=2",
    "--batch-size", "8",
]


def run(*args, cwd=None, script=PRETRAIN):
    """Runs a script of `scripts/` (pretraining by default) in a new process."""
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def graph_mode(*args):
    """Runs serving/graph_mode_check.py (TF Serving's loader) in a new process."""
    return run(*args, script=ROOT / "serving" / "graph_mode_check.py")


def run_signature(export_dir, tmp_path, signature, inputs):
    """Calls a SavedModel's signature as TF Serving would; returns the outputs."""
    request = tmp_path / f"{signature}.json"
    request.write_text(json.dumps(inputs, ensure_ascii=False), encoding="utf-8")
    answer = tmp_path / f"{signature}.npz"
    result = graph_mode("run", export_dir, "--signature", signature, "--inputs", request, "--output", answer)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    return dict(np.load(answer, allow_pickle=True))


def write_task(folder, rows_per_split=120):
    """A labelled task whose label is one word of each text ("good"/"bad")."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    words = ["good", "bad", "film", "plot", "actor", "scene", "long", "short"]
    for split in ("train", "test"):
        with open(folder / f"{split}.jsonl", "w") as out:
            for _ in range(rows_per_split):
                label = ["pos", "neg"][int(rng.integers(2))]
                text = " ".join(rng.choice(words[2:], 5)) + (" good" if label == "pos" else " bad")
                out.write(json.dumps({"text": text, "label": label}) + "\n")


@contextlib.contextmanager
def file_size_limit(max_bytes):
    """Makes writes past `max_bytes` in one file fail (EFBIG), as on a full disk, without root.

    The limit (`ulimit -f`) acts in the C writers too (h5py, TensorFlow), so
    the code under test meets the failure where a full disk would put it.
    """
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the process is killed
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)
