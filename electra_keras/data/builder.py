"""Corpus to sharded, compressed TFRecords, once, in parallel, resumable.

Inputs are plain text (`.txt`, `.txt.gz`: one sentence or paragraph per line,
a blank line between documents), JSON Lines (`.jsonl`, `.jsonl.gz`: one
document per row, its text in `text_field`) or CSV (`.csv`, `.csv.gz`: one
document per row, its text in `text_column`). Each input file is one task
run in its own process: it tokenizes and packs its documents
(`electra_keras.data.packing`) and writes
the shards of `electra_keras.data.shard_format`, each
written under a hidden temporary name and renamed when closed, then a
per-input record `inputs/IIIII.json`. `manifest.json` (counts, the
vocabulary's SHA-256, the settings, the shard list) is written last.

Re-running the build over the same folder skips inputs whose record matches
the file (path, size, modification time) and redoes the rest; new input
files are appended as new tasks. Problems that can be handled (undecodable
bytes, empty lines and files, over-long lines, rows without text) are counted
per input in the manifest; the rest (unreadable files, cut-off gzip,
malformed JSON or CSV) stop the build with a message naming the file and
line before anything is written: each input is read through once first,
so the folder stays as it was (or is not made).
"""

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import pathlib

import numpy as np

from electra_keras.data import shard_format
from electra_keras.data.corpus import CorpusError
from electra_keras.data.corpus import InputStatistics
from electra_keras.data.corpus import _format_of
from electra_keras.data.corpus import file_sha256
from electra_keras.data.corpus import iter_documents
from electra_keras.files import atomic_path

logger = logging.getLogger(__name__)

DOCUMENTS_PER_CHUNK = 2000


class BuildError(CorpusError):
    """A dataset folder or input the builder cannot use; the message names it."""


@dataclasses.dataclass
class BuildSettings:
    """What shapes the examples; stored in the manifest.

    Example:
    ```python
    settings = BuildSettings(sequence_length=128, text_field="document")
    ```
    """

    sequence_length: int = 128
    lowercase: bool = False
    strip_accents: bool = False
    text_field: str = "text"
    text_column: str = "text"
    examples_per_shard: int = 10000
    eval_fraction: float = 0.0
    single_segment_probability: float = 0.1
    short_sequence_probability: float = 0.05
    seed: int = 0

class _ShardWriter:
    """Writes examples to numbered shards, each renamed into place when full."""

    def __init__(self, output_dir, split, input_index, examples_per_shard):
        self.output_dir = output_dir
        self.split = split
        self.input_index = input_index
        self.examples_per_shard = examples_per_shard
        self.names = []
        self._writer = None
        self._count = 0
        self._atomic = None

    def write(self, serialized):
        import tensorflow as tf

        if self._writer is None:
            name = shard_format.shard_name(self.split, self.input_index, len(self.names))
            self._atomic = atomic_path(self.output_dir / name)
            temporary = self._atomic.__enter__()
            self._writer = tf.io.TFRecordWriter(str(temporary), options="GZIP")
            self.names.append(name)
        self._writer.write(serialized)
        self._count += 1
        if self._count == self.examples_per_shard:
            self.close()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._atomic.__exit__(None, None, None)
            self._writer, self._count = None, 0


def _check_input(task):
    """Reads one input file through (in a worker process); raises `CorpusError` where it is unusable."""
    _, path, _, _, settings = task
    for _ in iter_documents(pathlib.Path(path), InputStatistics(), settings["text_field"], settings["text_column"]):
        pass


def _run_task(task):
    """Builds the shards of one input file (in a worker process)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from electra_keras.data import packing
    from electra_keras.data import tokenizer as tokenization

    index, path, output_dir, vocabulary_path, settings = task
    path, output_dir = pathlib.Path(path), pathlib.Path(output_dir)
    settings = BuildSettings(**settings)
    for stale in output_dir.glob(f"*-{index:05d}-*.tfrecord.gz"):
        stale.unlink()
    tokenizer = tokenization.make_tokenizer(vocabulary_path, settings.lowercase, settings.strip_accents)
    stat = path.stat()
    statistics = InputStatistics(path=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    writers = {
        split: _ShardWriter(output_dir, split, index, settings.examples_per_shard)
        for split in ("train", "eval")
    }
    rng = np.random.default_rng([settings.seed, index])
    chunk = []

    def flush(chunk_number):
        examples = packing.pack_documents(
            packing.tokenize_documents(chunk, tokenizer),
            settings.sequence_length,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            pad_token_id=tokenizer.pad_token_id,
            single_segment_probability=settings.single_segment_probability,
            short_sequence_probability=settings.short_sequence_probability,
            seed=[settings.seed, index, chunk_number],
        )
        for token_ids, segment_ids, mask in zip(
            examples["token_ids"], examples["segment_ids"], examples["padding_mask"]
        ):
            split = "eval" if rng.random() < settings.eval_fraction else "train"
            writers[split].write(shard_format.serialize_example(token_ids, segment_ids))
            statistics.sequences += 1
            statistics.eval_sequences += split == "eval"
            statistics.tokens += int(mask.sum())

    chunk_number = 0
    for document in iter_documents(path, statistics, settings.text_field, settings.text_column):
        chunk.append(document)
        statistics.documents += 1
        if len(chunk) == DOCUMENTS_PER_CHUNK:
            flush(chunk_number)
            chunk, chunk_number = [], chunk_number + 1
    if chunk:
        flush(chunk_number)
    for writer in writers.values():
        writer.close()
        statistics.shards.extend(writer.names)
    with atomic_path(output_dir / "inputs" / f"{index:05d}.json") as temporary:
        temporary.write_text(json.dumps(dataclasses.asdict(statistics), indent=2))
    return index, dataclasses.asdict(statistics)


def build_dataset(inputs, output_dir, vocabulary_path, settings=None, num_processes=1):
    """Builds (or resumes, or extends) a TFRecord pretraining dataset.

    Args:
        inputs: paths of input files.
        output_dir: the dataset folder.
        vocabulary_path: the `vocab.txt` to tokenize with (copied into the
            folder; its SHA-256 goes into the manifest).
        settings: `BuildSettings`.
        num_processes: int, input files tokenized at once.

    Returns:
        The manifest dict (also `output_dir/manifest.json`).

    Example:
    ```python
    manifest = electra_keras.data.build_dataset(
        ["news.jsonl.gz", "wiki.txt"], "data/built", "vocab.txt",
        BuildSettings(sequence_length=128), num_processes=8,
    )
    ```
    """
    from electra_keras.data import tokenizer as tokenization

    settings = settings or BuildSettings()
    output_dir = pathlib.Path(output_dir)
    inputs = [pathlib.Path(p).resolve() for p in inputs]
    for path in inputs:
        if not path.is_file():
            raise BuildError(f"{path}: input file not found")
        _format_of(path)
    vocabulary = tokenization.load_vocabulary(vocabulary_path)
    vocabulary_sha256 = file_sha256(vocabulary_path)
    settings_dict = dataclasses.asdict(settings)
    previous = shard_format.read_manifest_or_none(output_dir)
    if previous is not None:
        if previous["vocabulary_sha256"] != vocabulary_sha256:
            raise BuildError(
                f"{output_dir}: was built with another vocabulary "
                f"(sha256 {previous['vocabulary_sha256'][:12]}...); use a new folder"
            )
        if previous["settings"] != settings_dict:
            raise BuildError(f"{output_dir}: was built with other settings {previous['settings']}; use a new folder")

    # Known inputs keep their task index; new ones are appended.
    indices = {entry["path"]: entry["index"] for entry in (previous or {}).get("inputs", [])}
    for record in (output_dir / "inputs").glob("*.json"):
        indices.setdefault(json.loads(record.read_text())["path"], int(record.stem))
    next_index = max(indices.values(), default=-1) + 1
    tasks, done = [], {}
    for path in inputs:
        if str(path) not in indices:
            indices[str(path)] = next_index
            next_index += 1
        index = indices[str(path)]
        record = output_dir / "inputs" / f"{index:05d}.json"
        stat = path.stat()
        if record.exists():
            recorded = json.loads(record.read_text())
            if (recorded["size"], recorded["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
                done[index] = recorded
                continue
        tasks.append((index, str(path), str(output_dir), str(output_dir / "vocab.txt"), settings_dict))
    pool = None
    if num_processes > 1 and len(tasks) > 1:
        pool = multiprocessing.get_context("spawn").Pool(min(num_processes, len(tasks)))
    with pool or contextlib.nullcontext():
        # Every input is read through once before anything is written, so
        # unusable input stops the build with the folder as it was.
        list(pool.imap_unordered(_check_input, tasks) if pool else map(_check_input, tasks))
        output_dir.mkdir(parents=True, exist_ok=True)
        tokenization.save_vocabulary(vocabulary, output_dir / "vocab.txt")
        for task in tasks:
            (output_dir / "inputs" / f"{task[0]:05d}.json").unlink(missing_ok=True)
        if tasks:
            logger.info("building %d inputs (%d already built)", len(tasks), len(done))
        for index, statistics in pool.imap_unordered(_run_task, tasks) if pool else map(_run_task, tasks):
            done[index] = statistics
    return _write_manifest(output_dir, done, vocabulary_sha256, settings_dict, vocabulary)


def _write_manifest(output_dir, done, vocabulary_sha256, settings_dict, vocabulary):
    # Every input ever built into this folder stays in the manifest.
    for record in (output_dir / "inputs").glob("*.json"):
        done.setdefault(int(record.stem), json.loads(record.read_text()))
    entries = [{"index": index, **done[index]} for index in sorted(done)]
    totals = {
        key: sum(entry[key] for entry in entries)
        for key in (
            "documents", "lines", "empty_lines", "undecodable_bytes", "long_lines_split",
            "rows_without_text", "sequences", "eval_sequences", "tokens",
        )
    }
    totals["empty_files"] = sum(entry["documents"] == 0 for entry in entries)
    shards = [shard for entry in entries for shard in entry["shards"]]
    manifest = {
        "format_version": shard_format.FORMAT_VERSION,
        "vocabulary_sha256": vocabulary_sha256,
        "vocabulary_size": len(vocabulary),
        "pad_token_id": vocabulary.index("[PAD]"),
        "settings": settings_dict,
        "totals": totals,
        "shards": {split: sorted(s for s in shards if s.startswith(split)) for split in ("train", "eval")},
        "inputs": entries,
    }
    with atomic_path(output_dir / shard_format.MANIFEST) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest
