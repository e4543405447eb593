"""Token tagging data: CoNLL and JSONL readers, BIO/BIOES chunks, the CoNLL entity score, subword labels.

A tagged file holds sentences of words, each with one tag. Two formats:

- CoNLL: one word per line, its columns separated by whitespace, the word
  in the first column and the tag in the last (`--tag-column` picks
  another); a blank line ends a sentence; `-DOCSTART-` lines are skipped.
  A file with one column is untagged (for prediction).
- JSONL: one sentence per line, `{"tokens": [...], "tags": [...]}`.

Chunks are read as the CoNLL-2000 `conlleval` script reads them, so the
entity precision, recall and F1 here are that script's figures, for BIO,
IOB1 and BIOES tags alike. The model labels the first subword of every
word; the other subwords, [CLS], [SEP] and padding are ignored by the loss.
"""

import bisect
import dataclasses
import pathlib

import numpy as np

from electra_keras.data.corpus import parse_json_line
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.labelled_rows import read_lines

IGNORED_LABEL = -100  # subwords that are not a word's first: no loss, no prediction
OUTSIDE = "O"


@dataclasses.dataclass
class TaggedSentence:
    """Words and their tags (`tags` is None for an untagged sentence).

    Example:
    ```python
    TaggedSentence(["Kim", "lives", "in", "Seoul"], ["B-PER", "O", "O", "B-LOC"])
    ```
    """

    words: list
    tags: list = None
    where: list = None  # "file:line" of each word, for messages


def read_tagged(path, tag_column=-1, tokens_field="tokens", tags_field="tags", require_tags=True):
    """Sentences of a CoNLL (`.conll`, `.txt`, `.iob`, `.bio`, `.tsv`) or `.jsonl` file, optionally `.gz`.

    Args:
        path: the file.
        tag_column: CoNLL column of the tag (default the last).
        tokens_field, tags_field: JSONL fields.
        require_tags: `False` reads untagged files (for prediction).

    Example:
    ```python
    sentences = read_tagged("train.conll")
    sentences[0].words, sentences[0].tags
    ```
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise LabelledDataError(f"{path}: file not found")
    lines = read_lines(path, LabelledDataError)
    if path.name.removesuffix(".gz").endswith(".jsonl"):
        sentences = list(_jsonl_sentences(path, lines, tokens_field, tags_field, require_tags))
    else:
        sentences = list(_conll_sentences(path, lines, tag_column, require_tags))
    if not sentences:
        raise LabelledDataError(f"{path}: no sentences")
    return sentences


def _conll_sentences(path, lines, tag_column, require_tags):
    words, tags, where, columns = [], [], [], None
    for number, line in lines:
        fields = line.split()
        if fields and fields[0] == "-DOCSTART-":
            continue
        if not fields:
            if words:
                yield TaggedSentence(words, tags if tags else None, where)
            words, tags, where = [], [], []
            continue
        where.append(f"{path}:{number}")
        if not require_tags:  # prediction: the words are all that is read
            words.append(fields[0])
            continue
        if len(fields) < 2:
            raise LabelledDataError(f"{path}:{number}: one column {fields[0]!r}; expected a word and its tag")
        if columns is not None and len(fields) != columns:
            raise LabelledDataError(f"{path}:{number}: {len(fields)} columns where the file has {columns}")
        columns = len(fields)
        if not -len(fields) <= tag_column < len(fields):
            raise LabelledDataError(f"{path}:{number}: no column {tag_column} for the tag ({len(fields)} columns)")
        words.append(fields[0])
        tags.append(_checked_tag(fields[tag_column], path, number))
    if words:
        yield TaggedSentence(words, tags if tags else None, where)


def _jsonl_sentences(path, lines, tokens_field, tags_field, require_tags):
    for number, line in lines:
        if not line.strip():
            continue
        row = parse_json_line(path, number, line, LabelledDataError)
        words = row.get(tokens_field) if isinstance(row, dict) else None
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise LabelledDataError(f"{path}:{number}: {tokens_field!r} must be a non-empty list of words")
        tags = row.get(tags_field)
        if tags is None and require_tags:
            raise LabelledDataError(f"{path}:{number}: no {tags_field!r}")
        if tags is not None:
            if not isinstance(tags, list) or len(tags) != len(words):
                raise LabelledDataError(
                    f"{path}:{number}: {tags_field!r} must be a list as long as {tokens_field!r} ({len(words)})"
                )
            tags = [_checked_tag(str(tag), path, number) for tag in tags]
        yield TaggedSentence([w.strip() for w in words], tags, [f"{path}:{number}"] * len(words))


def _checked_tag(tag, path, number):
    if tag != OUTSIDE and not (len(tag) > 2 and tag[0] in "BIES" and tag[1] in "-_"):
        raise LabelledDataError(
            f"{path}:{number}: tag {tag!r} is not O or B-/I-/E-/S- and a type (for example B-PER)"
        )
    return tag


def _split_tag(tag):
    return (OUTSIDE, "") if tag == OUTSIDE else (tag[0], tag[2:])


def _ends_chunk(previous, current):
    (prev_prefix, prev_type), (prefix, kind) = previous, current
    if prev_prefix in "ES":
        return True
    if prev_prefix in "BI" and prefix in "BSO":
        return True
    return prev_prefix != OUTSIDE and prev_type != kind


def _starts_chunk(previous, current):
    (prev_prefix, prev_type), (prefix, kind) = previous, current
    if prefix in "BS":
        return True
    if prev_prefix in "ESO" and prefix in "IE":
        return True
    return prefix != OUTSIDE and prev_type != kind


def entity_spans(tags):
    """The chunks of a tag sequence as `(type, first word, end word exclusive)`, as conlleval reads them.

    Example:
    ```python
    entity_spans(["B-PER", "I-PER", "O", "I-LOC"])  # [("PER", 0, 2), ("LOC", 3, 4)]
    ```
    """
    spans, start, previous = [], None, (OUTSIDE, "")
    for index, tag in enumerate(list(tags) + [OUTSIDE]):
        current = _split_tag(tag)
        if start is not None and _ends_chunk(previous, current):
            spans.append((previous[1], start, index))
            start = None
        if _starts_chunk(previous, current):
            start = index
        previous = current
    return spans


def spans_to_tags(spans, length, scheme="bio"):
    """Tags (`bio` or `bioes`) that encode `spans` over `length` words.

    Example:
    ```python
    spans_to_tags([("LOC", 1, 3)], 4, "bioes")  # ["O", "B-LOC", "E-LOC", "O"]
    ```
    """
    if scheme not in ("bio", "bioes"):
        raise ValueError(f"scheme must be 'bio' or 'bioes', got {scheme!r}")
    tags = [OUTSIDE] * length
    for kind, start, end in spans:
        for index in range(start, end):
            tags[index] = f"I-{kind}"
        tags[start] = f"B-{kind}"
        if scheme == "bioes":
            if end - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[end - 1] = f"E-{kind}"
    return tags


def repair_tags(tags, scheme="bio"):
    """A valid `bio`/`bioes` sequence with the chunks conlleval reads in `tags` (an I- after O opens a chunk).

    Example:
    ```python
    repair_tags(["O", "I-PER", "I-LOC"])  # ["O", "B-PER", "B-LOC"]
    ```
    """
    return spans_to_tags(entity_spans(tags), len(tags), scheme)


def entity_metrics(gold, predicted):
    """Entity precision, recall and F1 (0-1), overall and per type, as the CoNLL evaluation counts them.

    A predicted entity counts when its type and its first and last word
    match a gold entity exactly.

    Example:
    ```python
    entity_metrics([["B-PER", "O"]], [["B-PER", "O"]])["f1"]  # 1.0
    ```
    """
    counts = {}  # type -> [correct, predicted, gold]
    correct_tags = total_tags = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"a sentence of {len(gold_tags)} gold tags has {len(predicted_tags)} predicted")
        gold_spans, predicted_spans = set(entity_spans(gold_tags)), set(entity_spans(predicted_tags))
        for kind, _, _ in gold_spans:
            counts.setdefault(kind, [0, 0, 0])[2] += 1
        for span in predicted_spans:
            counts.setdefault(span[0], [0, 0, 0])[1] += 1
            counts[span[0]][0] += span in gold_spans
        correct_tags += sum(g == p for g, p in zip(gold_tags, predicted_tags))
        total_tags += len(gold_tags)
    overall = _precision_recall_f1(*np.sum(list(counts.values()) or [[0, 0, 0]], axis=0))
    return {
        **overall,
        "token_accuracy": correct_tags / max(total_tags, 1),
        "by_type": {kind: _precision_recall_f1(*c) for kind, c in sorted(counts.items())},
    }


def _precision_recall_f1(correct, predicted, gold):
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "entities": int(gold), "predicted": int(predicted)}


def encode_tagged(tokenizer, sentences, sequence_length, label_index=None):
    """Model inputs for sentences, the first subword of each word carrying its label.

    The words of a sentence are joined by spaces and tokenized as the served
    model tokenizes a text, so training and serving see the same subwords.
    Words past `sequence_length - 2` subwords are cut (`truncated_words`
    counts them; they are predicted `O`).

    Args:
        tokenizer: an `electra_keras.data.offsets.OffsetTokenizer`.
        sentences: `TaggedSentence`s.
        sequence_length: padded length, [CLS] and [SEP] included.
        label_index: tag -> id; `None` for untagged sentences.

    Returns:
        A dict of int32 arrays `[sentences, sequence_length]`: `token_ids`,
        `segment_ids`, `padding_mask`, `word_index` (the word a first
        subword starts, else -1) and, with `label_index`, `labels`
        (`IGNORED_LABEL` where `word_index` is -1); and `truncated_words`.

    Example:
    ```python
    encoded = encode_tagged(OffsetTokenizer(vocabulary), read_tagged("train.conll"), 128, {"O": 0, "B-PER": 1})
    ```
    """
    import tensorflow as tf

    texts = [" ".join(sentence.words) for sentence in sentences]
    ids, starts, _ = tokenizer(tf.constant(texts))
    ids, starts = ids.to_list(), starts.to_list()
    special = tokenizer.wordpiece.tokenize(tf.constant(["[CLS]", "[SEP]", "[PAD]"])).to_list()
    cls_id, sep_id, pad_id = (pieces[0] for pieces in special)
    count = len(sentences)
    encoded = {
        "token_ids": np.full((count, sequence_length), pad_id, dtype="int32"),
        "segment_ids": np.zeros((count, sequence_length), dtype="int32"),
        "padding_mask": np.zeros((count, sequence_length), dtype="int32"),
        "word_index": np.full((count, sequence_length), -1, dtype="int32"),
    }
    if label_index is not None:
        encoded["labels"] = np.full((count, sequence_length), IGNORED_LABEL, dtype="int32")
    truncated = 0
    for row, sentence in enumerate(sentences):
        word_starts = _word_byte_starts(sentence.words)
        pieces = list(zip(ids[row], starts[row]))[: sequence_length - 2]
        tokens = [cls_id] + [piece for piece, _ in pieces] + [sep_id]
        encoded["token_ids"][row, : len(tokens)] = tokens
        encoded["padding_mask"][row, : len(tokens)] = 1
        previous_word = -1
        for position, (_, byte_start) in enumerate(pieces, 1):
            word = bisect.bisect_right(word_starts, byte_start) - 1
            if word != previous_word:
                encoded["word_index"][row, position] = word
                if label_index is not None:
                    encoded["labels"][row, position] = _label_id(label_index, sentence, word)
            previous_word = word
        truncated += len(sentence.words) - 1 - previous_word if sentence.words else 0
    encoded["truncated_words"] = truncated
    return encoded


def _word_byte_starts(words):
    starts, offset = [], 0
    for word in words:
        starts.append(offset)
        offset += len(word.encode("utf-8")) + 1
    return starts


def _label_id(label_index, sentence, word):
    tag = sentence.tags[word]
    if tag not in label_index:
        where = sentence.where[word] if sentence.where else f"word {word}"
        raise LabelledDataError(
            f"{where}: tag {tag!r} does not occur in the training file (known: {', '.join(sorted(label_index))})"
        )
    return label_index[tag]


def word_tags(encoded, predictions, sentences, labels):
    """Each sentence's predicted tags, one per word (cut-off words `O`), repaired to valid BIO.

    Args:
        encoded: `encode_tagged`'s output for `sentences`.
        predictions: `[sentences, sequence_length]` label ids (e.g. the argmax of the logits).
        labels: label names in id order.

    Example:
    ```python
    tags = word_tags(encoded, logits.argmax(-1), sentences, labels)
    ```
    """
    result = []
    for row, sentence in enumerate(sentences):
        tags = [OUTSIDE] * len(sentence.words)
        positions = np.flatnonzero(encoded["word_index"][row] >= 0)
        for position in positions:
            tags[encoded["word_index"][row, position]] = labels[int(predictions[row, position])]
        scheme = "bioes" if any(tag[0] in "ES" for tag in labels if tag != OUTSIDE) else "bio"
        result.append(repair_tags(tags, scheme))
    return result
