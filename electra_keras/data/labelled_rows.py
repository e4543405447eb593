"""Labelled rows for fine-tuning and probes: reading files, encoding pairs.

Files are `.csv`, `.tsv` or `.jsonl` (optionally `.gz`), one example per
row with a text field, an optional second text (pair tasks) and a label.
"""

import csv
import gzip
import io
import json
import pathlib

import keras
import numpy as np


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
    opener = gzip.open if path.name.endswith(".gz") else open
    wanted = [f for f in (text_field, label_field, pair_field) if f]
    texts, pairs, labels = [], [], []
    with opener(path, "rb") as binary:
        stream = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        if kind == "jsonl":
            rows = ((number, _json_row(path, number, line)) for number, line in enumerate(stream, 1) if line.strip())
        else:
            reader = csv.DictReader(stream, delimiter="\t" if kind == "tsv" else ",")
            missing = [f for f in wanted if f not in (reader.fieldnames or [])]
            if missing:
                raise LabelledDataError(f"{path}:1: no column {missing[0]!r} in the header {reader.fieldnames}")
            rows = ((reader.line_num, row) for row in reader)
        for number, row in rows:
            for field in wanted:
                if row.get(field) in (None, ""):
                    raise LabelledDataError(f"{path}:{number}: empty or missing {field!r}")
            texts.append(str(row[text_field]))
            pairs.append(str(row[pair_field]) if pair_field else None)
            labels.append(row[label_field] if label_field else None)
    if not texts:
        raise LabelledDataError(f"{path}: no rows")
    return texts, pairs, labels


def _json_row(path, number, line):
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise LabelledDataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    if not isinstance(row, dict):
        raise LabelledDataError(f"{path}:{number}: expected a JSON object")
    return row


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
