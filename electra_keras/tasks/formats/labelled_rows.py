"""Labelled rows for fine-tuning and probes: reading files, encoding pairs.

Files are `.csv`, `.tsv` or `.jsonl` (optionally `.gz`), one example per
row with a text field, an optional second text (pair tasks) and a label.
They are UTF-8 (a BOM is dropped); what cannot be read raises a
`LabelledDataError` naming the file and line.
"""

import csv
import gzip
import json
import pathlib
import zlib

import keras
import numpy as np

from electra_keras.data.corpus import parse_json_line


class LabelledDataError(ValueError):
    """A labelled file that cannot be read; the message names file and line."""


def read_labelled(path, text_field="text", label_field="label", pair_field=None):
    """Rows of a `.csv`, `.tsv` or `.jsonl` file (optionally `.gz`).

    Returns:
        `(texts, pairs, labels)`: lists of str, of str or None (without
        `pair_field`), and the raw label values (str for CSV/TSV; None
        without `label_field`, for unlabelled rows to predict).

    Example:
    ```python
    texts, pairs, labels = read_labelled("train.tsv", text_field="sentence")
    ```
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise LabelledDataError(f"{path}: file not found")
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    kind = name.rsplit(".", 1)[-1].lower()
    if kind not in ("csv", "tsv", "jsonl"):
        raise LabelledDataError(f"{path}: expected .csv, .tsv or .jsonl (optionally .gz)")
    wanted = [f for f in (text_field, label_field, pair_field) if f]
    texts, pairs, labels = [], [], []
    lines = read_lines(path, LabelledDataError)
    if kind == "jsonl":
        rows = ((number, _json_row(path, number, line)) for number, line in lines if line.strip())
    else:
        reader = csv.DictReader((line for _, line in lines), delimiter="\t" if kind == "tsv" else ",")
        rows = _csv_rows(path, reader, wanted)
    for number, row in rows:
        for field in wanted:
            if row.get(field) in (None, ""):
                raise LabelledDataError(f"{path}:{number}: empty or missing {field!r}")
        texts.append(_text(path, number, row, text_field))
        pairs.append(_text(path, number, row, pair_field) if pair_field else None)
        labels.append(_label(path, number, row, label_field) if label_field else None)
    if not texts:
        raise LabelledDataError(f"{path}: no rows")
    return texts, pairs, labels


def read_lines(path, error_type):
    """Yields `(line number, text)` of a UTF-8 file, optionally `.gz`, without a leading BOM.

    Lines end at `\\n` and keep their ending (as `csv` wants). Undecodable
    bytes and cut-off or corrupt gzip raise `error_type` naming the file and line.

    Example:
    ```python
    for number, line in read_lines(pathlib.Path("train.conll"), LabelledDataError):
        ...
    ```
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    number = 0
    try:
        with opener(path, "rb") as binary:
            for number, raw in enumerate(binary, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise error_type(
                        f"{path}:{number}: not UTF-8 ({error.reason} at byte {error.start} of the line); "
                        "re-save the file as UTF-8"
                    ) from None
                yield number, line.removeprefix("\ufeff") if number == 1 else line
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise error_type(f"{path}: cut off or corrupt after line {number} ({error})") from None
    except OSError as error:
        raise error_type(f"{path}: cannot read ({error})") from None


def _csv_rows(path, reader, wanted):
    try:
        missing = [f for f in wanted if f not in (reader.fieldnames or [])]
        if missing:
            raise LabelledDataError(f"{path}:1: no column {missing[0]!r} in the header {reader.fieldnames}")
        for row in reader:
            yield reader.line_num, row
    except csv.Error as error:
        raise LabelledDataError(f"{path}:{reader.line_num}: malformed CSV ({error})") from None


def _json_row(path, number, line):
    row = parse_json_line(path, number, line, LabelledDataError)
    if not isinstance(row, dict):
        raise LabelledDataError(f"{path}:{number}: expected a JSON object")
    return row


def _text(path, number, row, field):
    # A number is text ("42"); a list or object is a mistake, not a sentence.
    if isinstance(row[field], (dict, list, bool)):
        raise LabelledDataError(f"{path}:{number}: {field!r} must be a string, got {type(row[field]).__name__}")
    return str(row[field])


def _label(path, number, row, field):
    # One label (str, number, bool) or a list of them (multi-label).
    value = row[field]
    if isinstance(value, dict) or (
        isinstance(value, list) and not all(isinstance(v, (str, int, float)) for v in value)
    ):
        raise LabelledDataError(
            f"{path}:{number}: {field!r} must be a label or a list of labels, got {json.dumps(value)[:60]}"
        )
    return value


def encode_pairs(tokenizer, texts, pairs, sequence_length):
    """`{token_ids, segment_ids, padding_mask}` int32 arrays: [CLS] a [SEP] (b [SEP]).

    Over-long inputs are trimmed longest-first, as the serving export does.

    Example:
    ```python
    inputs = encode_pairs(tokenizer, ["a film"], [None], 128)
    ```
    """
    first = [list(map(int, keras.ops.convert_to_numpy(ids))) for ids in tokenizer(texts)]
    second = (
        [list(map(int, keras.ops.convert_to_numpy(ids))) for ids in tokenizer([p or "" for p in pairs])]
        if any(p is not None for p in pairs) else [None] * len(texts)
    )
    token_ids = np.full((len(texts), sequence_length), tokenizer.pad_token_id, dtype="int32")
    segment_ids = np.zeros_like(token_ids)
    for row, (a, b) in enumerate(zip(first, second)):
        if pairs[row] is None:
            b = None
        budget = sequence_length - (3 if b is not None else 2)
        a, b = list(a), (list(b) if b is not None else None)
        while len(a) + (len(b) if b else 0) > budget:
            (a if b is None or len(a) >= len(b) else b).pop()
        ids = [tokenizer.cls_token_id, *a, tokenizer.sep_token_id]
        segments = [0] * len(ids)
        if b is not None:
            ids += [*b, tokenizer.sep_token_id]
            segments += [1] * (len(b) + 1)
        token_ids[row, : len(ids)] = ids
        segment_ids[row, : len(ids)] = segments
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": (token_ids != tokenizer.pad_token_id).astype("int32"),
    }
