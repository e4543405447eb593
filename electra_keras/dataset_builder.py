"""Corpus to sharded, compressed TFRecords, once, in parallel, resumable.

Inputs are plain text (`.txt`, `.txt.gz`: one sentence or paragraph per line,
a blank line between documents), JSON Lines (`.jsonl`, `.jsonl.gz`: one
document per row, its text in `text_field`) or CSV (`.csv`, `.csv.gz`: one
document per row, its text in `text_column`). Each input file is one task
run in its own process: it tokenizes and packs its documents
(`electra_keras.data.pack_documents`) and writes
`train-IIIII-KKKK.tfrecord.gz` / `eval-IIIII-KKKK.tfrecord.gz` shards, each
written under a hidden temporary name and renamed when closed, then a
per-input record `inputs/IIIII.json`. `manifest.json` (counts, the
vocabulary's SHA-256, the settings, the shard list) is written last.

Re-running the build over the same folder skips inputs whose record matches
the file (path, size, modification time) and redoes the rest; new input
files are appended as new tasks. Problems that can be handled (undecodable
bytes, empty lines and files, over-long lines, rows without text) are counted
per input in the manifest; the rest (unreadable files, cut-off gzip,
malformed JSON or CSV) stop the build with a message naming the file and
line, leaving the finished inputs' shards in place.
"""

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import logging
import multiprocessing
import pathlib
import zlib

import numpy as np

from electra_keras.files import atomic_path

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Longer lines are cut at whitespace before tokenization (a 10 MB line is a
# dump, not a paragraph); every piece is kept and the cut is counted.
MAX_LINE_CHARACTERS = 100_000
DOCUMENTS_PER_CHUNK = 2000


class BuildError(ValueError):
    """Input the builder cannot use; the message names the file and line."""


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


@dataclasses.dataclass
class InputStatistics:
    """Per-input counts, as recorded in `inputs/IIIII.json` and the manifest."""

    path: str = ""
    size: int = 0
    mtime_ns: int = 0
    documents: int = 0
    lines: int = 0
    empty_lines: int = 0
    undecodable_bytes: int = 0
    lines_with_undecodable_bytes: int = 0
    first_undecodable_line: int = 0
    long_lines_split: int = 0
    rows_without_text: int = 0
    first_row_without_text: int = 0
    sequences: int = 0
    eval_sequences: int = 0
    tokens: int = 0
    shards: list = dataclasses.field(default_factory=list)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_bytes(path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _format_of(path):
    name = path.name.removesuffix(".gz")
    for suffix, kind in ((".jsonl", "jsonl"), (".csv", "csv"), (".txt", "text")):
        if name.endswith(suffix):
            return kind
    raise BuildError(f"{path}: unknown input format; expected .txt, .jsonl or .csv (optionally .gz)")


def _decode(raw, statistics, line_number):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        kept = len(raw.decode("utf-8", errors="ignore").encode("utf-8"))
        statistics.undecodable_bytes += len(raw) - kept
        statistics.lines_with_undecodable_bytes += 1
        statistics.first_undecodable_line = statistics.first_undecodable_line or line_number
        return raw.decode("utf-8", errors="replace")


def _split_long(line, statistics):
    if len(line) <= MAX_LINE_CHARACTERS:
        return [line]
    statistics.long_lines_split += 1
    pieces, start = [], 0
    while start < len(line):
        end = min(start + MAX_LINE_CHARACTERS, len(line))
        cut = line.rfind(" ", start + 1, end) if end < len(line) else end
        end = cut if cut > start else end
        pieces.append(line[start:end].strip())
        start = end
    return [piece for piece in pieces if piece]


def _text_lines(text, statistics):
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            statistics.empty_lines += 1
            continue
        statistics.lines += 1
        lines.extend(_split_long(line, statistics))
    return lines


def iter_documents(path, settings, statistics):
    """Yields documents (lists of lines) of one input file, counting problems.

    Example:
    ```python
    stats = InputStatistics()
    for document in iter_documents(pathlib.Path("rows.jsonl"), BuildSettings(), stats):
        ...
    ```
    """
    kind = _format_of(path)
    line_number = 0
    try:
        with _open_bytes(path) as file:
            if kind == "csv":
                text = io.TextIOWrapper(file, encoding="utf-8", errors="replace", newline="")
                reader = csv.DictReader(text)
                if reader.fieldnames is None or settings.text_column not in reader.fieldnames:
                    raise BuildError(
                        f"{path}:1: no column {settings.text_column!r} in the header "
                        f"{reader.fieldnames}; pass --text-column"
                    )
                for row in reader:
                    line_number = reader.line_num
                    document = _text_lines(row.get(settings.text_column) or "", statistics)
                    if document:
                        yield document
                    else:
                        _count_row_without_text(statistics, line_number)
                return
            current = []
            for line_number, raw in enumerate(file, start=1):
                line = _decode(raw, statistics, line_number)
                if kind == "jsonl":
                    if not line.strip():
                        statistics.empty_lines += 1
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as error:
                        raise BuildError(f"{path}:{line_number}: not valid JSON ({error.msg})") from None
                    value = row.get(settings.text_field) if isinstance(row, dict) else None
                    document = _text_lines(value, statistics) if isinstance(value, str) else []
                    if document:
                        yield document
                    else:
                        _count_row_without_text(statistics, line_number)
                    continue
                line = line.strip()
                if line:
                    statistics.lines += 1
                    current.extend(_split_long(line, statistics))
                else:
                    statistics.empty_lines += 1
                    if current:
                        yield current
                        current = []
            if current:
                yield current
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise BuildError(f"{path}: cut off or corrupt after line {line_number} ({error})") from None
    except csv.Error as error:
        raise BuildError(f"{path}:{line_number}: malformed CSV ({error})") from None
    except OSError as error:
        raise BuildError(f"{path}: cannot read ({error})") from None


def _count_row_without_text(statistics, line_number):
    statistics.rows_without_text += 1
    statistics.first_row_without_text = statistics.first_row_without_text or line_number


class _ShardWriter:
    """Writes examples to numbered shards, each renamed into place when full."""

    def __init__(self, output_dir, prefix, examples_per_shard):
        self.output_dir = output_dir
        self.prefix = prefix
        self.examples_per_shard = examples_per_shard
        self.names = []
        self._writer = None
        self._count = 0
        self._atomic = None

    def write(self, serialized):
        import tensorflow as tf

        if self._writer is None:
            name = f"{self.prefix}-{len(self.names):04d}.tfrecord.gz"
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


def _serialize(token_ids, segment_ids):
    import tensorflow as tf

    feature = {
        "token_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=token_ids)),
        "segment_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=segment_ids)),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _run_task(task):
    """Builds the shards of one input file (in a worker process)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from electra_keras import data
    from electra_keras import tokenizer as tokenization

    index, path, output_dir, vocabulary_path, settings = task
    path, output_dir = pathlib.Path(path), pathlib.Path(output_dir)
    settings = BuildSettings(**settings)
    for stale in output_dir.glob(f"*-{index:05d}-*.tfrecord.gz"):
        stale.unlink()
    tokenizer = tokenization.make_tokenizer(vocabulary_path, settings.lowercase, settings.strip_accents)
    stat = path.stat()
    statistics = InputStatistics(path=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    writers = {
        split: _ShardWriter(output_dir, f"{split}-{index:05d}", settings.examples_per_shard)
        for split in ("train", "eval")
    }
    rng = np.random.default_rng([settings.seed, index])
    chunk = []

    def flush(chunk_number):
        examples = data.pack_documents(
            data.tokenize_documents(chunk, tokenizer),
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
            writers[split].write(_serialize(token_ids.tolist(), segment_ids.tolist()))
            statistics.sequences += 1
            statistics.eval_sequences += split == "eval"
            statistics.tokens += int(mask.sum())

    chunk_number = 0
    for document in iter_documents(path, settings, statistics):
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
    manifest = electra_keras.dataset_builder.build_dataset(
        ["news.jsonl.gz", "wiki.txt"], "data/built", "vocab.txt",
        BuildSettings(sequence_length=128), num_processes=8,
    )
    ```
    """
    from electra_keras import tokenizer as tokenization

    settings = settings or BuildSettings()
    output_dir = pathlib.Path(output_dir)
    inputs = [pathlib.Path(p).resolve() for p in inputs]
    for path in inputs:
        if not path.is_file():
            raise BuildError(f"{path}: input file not found")
        _format_of(path)
    vocabulary = tokenization.load_vocabulary(vocabulary_path)
    vocabulary_sha256 = file_sha256(vocabulary_path)
    output_dir.mkdir(parents=True, exist_ok=True)
    settings_dict = dataclasses.asdict(settings)
    previous = _read_manifest_or_none(output_dir)
    if previous is not None:
        if previous["vocabulary_sha256"] != vocabulary_sha256:
            raise BuildError(
                f"{output_dir}: was built with another vocabulary "
                f"(sha256 {previous['vocabulary_sha256'][:12]}...); use a new folder"
            )
        if previous["settings"] != settings_dict:
            raise BuildError(f"{output_dir}: was built with other settings {previous['settings']}; use a new folder")
    tokenization.save_vocabulary(vocabulary, output_dir / "vocab.txt")

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
            record.unlink()
        tasks.append((index, str(path), str(output_dir), str(output_dir / "vocab.txt"), settings_dict))
    if tasks:
        logger.info("building %d inputs (%d already built)", len(tasks), len(done))
        if num_processes > 1 and len(tasks) > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(num_processes, len(tasks))) as pool:
                for index, statistics in pool.imap_unordered(_run_task, tasks):
                    done[index] = statistics
        else:
            for task in tasks:
                index, statistics = _run_task(task)
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
        "format_version": FORMAT_VERSION,
        "vocabulary_sha256": vocabulary_sha256,
        "vocabulary_size": len(vocabulary),
        "pad_token_id": vocabulary.index("[PAD]"),
        "settings": settings_dict,
        "totals": totals,
        "shards": {split: sorted(s for s in shards if s.startswith(split)) for split in ("train", "eval")},
        "inputs": entries,
    }
    with atomic_path(output_dir / "manifest.json") as temporary:
        temporary.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def _read_manifest_or_none(output_dir):
    path = output_dir / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def read_manifest(data_dir):
    """The manifest of a built dataset; a clear error when there is none.

    Example:
    ```python
    manifest = electra_keras.dataset_builder.read_manifest("data/built")
    manifest["totals"]["tokens"]
    ```
    """
    data_dir = pathlib.Path(data_dir)
    manifest = _read_manifest_or_none(data_dir)
    if manifest is None:
        raise BuildError(f"{data_dir}: no manifest.json; build it with scripts/build_dataset.py")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BuildError(f"{data_dir}/manifest.json: format version {manifest.get('format_version')}, expected {FORMAT_VERSION}")
    return manifest
