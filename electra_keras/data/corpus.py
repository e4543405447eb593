"""Reading corpus files into documents: plain text, JSON Lines or CSV.

Plain text (`.txt`, `.txt.gz`, as the official builder): one sentence or
paragraph per line, a blank line between documents. JSON Lines (`.jsonl`):
one document per row, its text in a field. CSV (`.csv`): one document per
row, its text in a column. Problems that can be handled (undecodable bytes,
empty lines, over-long lines, rows without text) are counted; the rest stop
with a `CorpusError` naming the file and line.
"""

import csv
import dataclasses
import gzip
import hashlib
import io
import json
import logging
import pathlib
import zlib

logger = logging.getLogger(__name__)

DEFAULT_CORPUS_DIR = pathlib.Path(__file__).resolve().parent / "corpora"
DEFAULT_CORPUS = (
    DEFAULT_CORPUS_DIR / "brown_en.txt.gz",
    DEFAULT_CORPUS_DIR / "libreoffice_help_ko.txt.gz",
)
DEFAULT_VOCABULARY = DEFAULT_CORPUS_DIR / "vocab.txt"
# Longer lines are cut at whitespace before tokenization (a 10 MB line is a
# dump, not a paragraph); every piece is kept and the cut is counted.
MAX_LINE_CHARACTERS = 100_000


class CorpusError(ValueError):
    """A corpus that cannot be read; the message names the file (and line)."""


@dataclasses.dataclass
class CorpusStatistics:
    """What reading a corpus found, for logs and `metrics.json`."""

    files: int = 0
    documents: int = 0
    lines: int = 0
    undecodable_bytes: int = 0
    lines_with_undecodable_bytes: int = 0


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
    raise CorpusError(f"{path}: unknown input format; expected .txt, .jsonl or .csv (optionally .gz)")


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


def iter_documents(path, statistics, text_field="text", text_column="text"):
    """Yields documents (lists of lines) of one input file, counting problems.

    Example:
    ```python
    stats = InputStatistics()
    for document in iter_documents(pathlib.Path("rows.jsonl"), stats, text_field="body"):
        ...
    ```
    """
    kind = _format_of(path)
    line_number = 0
    try:
        with _open_bytes(path) as file:
            if kind == "csv":
                yield from _csv_documents(path, file, statistics, text_column)
                return
            current = []
            for line_number, raw in enumerate(file, start=1):
                line = _decode(raw, statistics, line_number)
                if line_number == 1:
                    line = line.removeprefix("\ufeff")
                if kind == "jsonl":
                    if not line.strip():
                        statistics.empty_lines += 1
                        continue
                    row = parse_json_line(path, line_number, line, CorpusError)
                    value = row.get(text_field) if isinstance(row, dict) else None
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
        raise CorpusError(f"{path}: cut off or corrupt after line {line_number} ({error})") from None
    except OSError as error:
        raise CorpusError(f"{path}: cannot read ({error})") from None


def parse_json_line(path, number, line, error_type):
    """The value of line `number` of a JSON Lines file; `error_type` naming the file and line if it is not JSON.

    Huge numbers and deep nesting raise `ValueError` and `RecursionError`
    rather than `JSONDecodeError`: they are refused the same way.

    Example:
    ```python
    row = parse_json_line("train.jsonl", 3, '{"text": "hello"}', CorpusError)
    ```
    """
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as error:
        raise error_type(f"{path}:{number}: not valid JSON ({getattr(error, 'msg', error)})") from None


def _csv_documents(path, file, statistics, text_column):
    # utf-8-sig: a spreadsheet's BOM would otherwise rename the first column.
    text = io.TextIOWrapper(file, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.DictReader(text)
    try:
        if reader.fieldnames is None or text_column not in reader.fieldnames:
            raise CorpusError(
                f"{path}:1: no column {text_column!r} in the header {reader.fieldnames}; pass --text-column"
            )
        for row in reader:
            document = _text_lines(row.get(text_column) or "", statistics)
            if document:
                yield document
            else:
                _count_row_without_text(statistics, reader.line_num)
    except csv.Error as error:
        raise CorpusError(f"{path}:{reader.line_num}: malformed CSV ({error})") from None


def _count_row_without_text(statistics, line_number):
    statistics.rows_without_text += 1
    statistics.first_row_without_text = statistics.first_row_without_text or line_number


def read_corpus(paths, text_field="text", text_column="text"):
    """Reads corpus files into documents (lists of non-empty lines), in memory.

    Takes the formats of `scripts/build_dataset.py` (`.txt`, `.jsonl` with
    `text_field`, `.csv` with `text_column`, each optionally `.gz`) through
    the same reader, `iter_documents`. Undecodable bytes are
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
    documents = []
    statistics = CorpusStatistics()
    for path in map(pathlib.Path, paths):
        if not path.exists():
            raise CorpusError(f"{path}: corpus file not found")
        if path.is_dir():
            raise CorpusError(f"{path}: is a directory; pass the text files in it")
        file_statistics = InputStatistics()
        documents.extend(iter_documents(path, file_statistics, text_field, text_column))
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


