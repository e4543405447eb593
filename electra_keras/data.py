"""Corpus reading, packing into pretraining examples, and the tf.data pipeline.

Corpus format (as the official builder): plain text, `.txt` or `.txt.gz`, one
sentence or paragraph per line, a blank line between documents.

An example is `[CLS] A [SEP] B [SEP]` (or `[CLS] A [SEP]`) packed from the
consecutive lines of one document, padded to the sequence length. Masks are
not stored: the pretrainer draws new ones every time it sees an example.
"""

import dataclasses
import logging
import pathlib

import numpy as np
import tensorflow as tf

from electra_keras.dataset_builder import BuildError
from electra_keras.dataset_builder import BuildSettings
from electra_keras.dataset_builder import InputStatistics
from electra_keras.dataset_builder import iter_documents
from electra_keras.dataset_builder import read_manifest

logger = logging.getLogger(__name__)

DEFAULT_CORPUS_DIR = pathlib.Path(__file__).resolve().parent / "corpora"
DEFAULT_CORPUS = (
    DEFAULT_CORPUS_DIR / "brown_en.txt.gz",
    DEFAULT_CORPUS_DIR / "libreoffice_help_ko.txt.gz",
)
DEFAULT_VOCABULARY = DEFAULT_CORPUS_DIR / "vocab.txt"


class CorpusError(ValueError):
    """A corpus that cannot be read; the message names the file."""


@dataclasses.dataclass
class CorpusStatistics:
    """What reading a corpus found, for logs and `metrics.json`."""

    files: int = 0
    documents: int = 0
    lines: int = 0
    undecodable_bytes: int = 0
    lines_with_undecodable_bytes: int = 0


def read_corpus(paths, text_field="text", text_column="text"):
    """Reads corpus files into documents (lists of non-empty lines), in memory.

    Takes the formats of `scripts/build_dataset.py` (`.txt`, `.jsonl` with
    `text_field`, `.csv` with `text_column`, each optionally `.gz`) through
    the same reader, `dataset_builder.iter_documents`. Undecodable bytes are
    replaced with U+FFFD and counted, with a warning naming the file and its
    first such line; a missing, unreadable or empty corpus raises
    `CorpusError`.

    Returns:
        `(documents, statistics)`.

    Example:
    ```python
    documents, stats = electra_keras.data.read_corpus(["news.txt", "wiki.txt.gz"])
    ```
    """
    settings = BuildSettings(text_field=text_field, text_column=text_column)
    documents = []
    statistics = CorpusStatistics()
    for path in map(pathlib.Path, paths):
        if not path.exists():
            raise CorpusError(f"{path}: corpus file not found")
        if path.is_dir():
            raise CorpusError(f"{path}: is a directory; pass the text files in it")
        file_statistics = InputStatistics()
        try:
            documents.extend(iter_documents(path, settings, file_statistics))
        except BuildError as error:
            raise CorpusError(str(error)) from None
        statistics.files += 1
        statistics.lines += file_statistics.lines
        statistics.undecodable_bytes += file_statistics.undecodable_bytes
        statistics.lines_with_undecodable_bytes += file_statistics.lines_with_undecodable_bytes
        if file_statistics.lines_with_undecodable_bytes:
            logger.warning(
                "%s: replaced undecodable bytes on %d lines (first: line %d)",
                path, file_statistics.lines_with_undecodable_bytes, file_statistics.first_undecodable_line,
            )
    statistics.documents = len(documents)
    if not documents:
        names = ", ".join(str(p) for p in paths) or "(no files given)"
        raise CorpusError(f"corpus is empty: no text in {names}")
    return documents, statistics


def tokenize_documents(documents, tokenizer, batch_size=1024):
    """Tokenizes every line inside tf.data; returns lists of id arrays.

    Example:
    ```python
    token_documents = electra_keras.data.tokenize_documents(documents, tokenizer)
    ```
    """
    lines = [line for document in documents for line in document]
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(lines, dtype=tf.string))
    dataset = dataset.batch(batch_size).map(tokenizer, num_parallel_calls=tf.data.AUTOTUNE)
    token_lines = []
    for batch in dataset:
        token_lines.extend(np.split(batch.flat_values.numpy(), batch.row_splits.numpy()[1:-1]))
    token_documents = []
    start = 0
    for document in documents:
        token_documents.append(token_lines[start : start + len(document)])
        start += len(document)
    return token_documents


def pack_documents(
    token_documents,
    sequence_length,
    cls_token_id,
    sep_token_id,
    pad_token_id=0,
    single_segment_probability=0.1,
    short_sequence_probability=0.05,
    seed=0,
):
    """Packs tokenized documents into fixed-length two-segment examples.

    Consecutive lines of a document fill an example up to its target length
    (the full length, or with `short_sequence_probability` a random shorter
    one, as the official builder). The lines are then split at a random line
    boundary into segments A and B, or with `single_segment_probability` kept
    as one segment. Unlike the official builder nothing is truncated: a line
    longer than an example is cut into pieces, so every token is used once,
    in order. Documents are never merged into one example.

    Returns:
        dict of int32 arrays `token_ids`, `segment_ids`, `padding_mask`, each
        `[num_examples, sequence_length]`.

    Example:
    ```python
    examples = electra_keras.data.pack_documents(token_documents, 128, cls_token_id=2, sep_token_id=3)
    ```
    """
    rng = np.random.default_rng(seed)
    budget = sequence_length - 3  # [CLS] A [SEP] B [SEP]
    examples = []
    for document in token_documents:
        pieces = []
        for line in document:
            line = np.asarray(line, dtype=np.int32)
            pieces.extend(line[i : i + budget] for i in range(0, len(line), budget))
        pieces = [piece for piece in pieces if len(piece)]
        current, current_length = [], 0
        target = _target_length(rng, budget, short_sequence_probability)
        for piece in pieces:
            if current and current_length + len(piece) > target:
                examples.append(_frame(current, rng, single_segment_probability))
                current, current_length = [], 0
                target = _target_length(rng, budget, short_sequence_probability)
            current.append(piece)
            current_length += len(piece)
        if current:
            examples.append(_frame(current, rng, single_segment_probability))
    token_ids = np.full((len(examples), sequence_length), pad_token_id, dtype=np.int32)
    segment_ids = np.zeros((len(examples), sequence_length), dtype=np.int32)
    padding_mask = np.zeros((len(examples), sequence_length), dtype=np.int32)
    for row, (first, second) in enumerate(examples):
        ids = [cls_token_id, *first, sep_token_id]
        segments = [0] * len(ids)
        if len(second):
            ids += [*second, sep_token_id]
            segments += [1] * (len(second) + 1)
        token_ids[row, : len(ids)] = ids
        segment_ids[row, : len(ids)] = segments
        padding_mask[row, : len(ids)] = 1
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def _target_length(rng, budget, short_sequence_probability):
    if rng.random() < short_sequence_probability:
        return int(rng.integers(min(5, budget), budget + 1))
    return budget


def _frame(pieces, rng, single_segment_probability):
    if len(pieces) < 2 or rng.random() < single_segment_probability:
        return np.concatenate(pieces), np.zeros(0, dtype=np.int32)
    split = int(rng.integers(1, len(pieces)))
    return np.concatenate(pieces[:split]), np.concatenate(pieces[split:])


def split_examples(examples, eval_fraction, min_eval_examples, seed=0):
    """Shuffles examples and holds out a share for evaluation.

    Example:
    ```python
    train, held_out = electra_keras.data.split_examples(examples, 0.02, 64)
    ```
    """
    count = len(examples["token_ids"])
    order = np.random.default_rng(seed).permutation(count)
    num_eval = min(max(int(count * eval_fraction), min_eval_examples), count // 2)
    held_out = {key: value[order[:num_eval]] for key, value in examples.items()}
    train = {key: value[order[num_eval:]] for key, value in examples.items()}
    return train, held_out


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
    features = {
        "token_ids": tf.io.FixedLenFeature([length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([length], tf.int64),
    }
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
