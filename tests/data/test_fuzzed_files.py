"""Fuzzed input files: every reader reads a file right or stops with an error naming the file and where.

Each test writes a real-looking file (pretraining text, JSONL or CSV;
labelled rows; CoNLL or JSONL tags; SQuAD JSON), corrupts it (a cut at a
random byte, a BOM, CRLF, Latin-1 or stray bytes, a 1 MB line, an empty
file, wrong JSON types, missing and extra fields) and reads it. A file
that is still valid must read back what was written; any other outcome
must be the reader's own error type, with the file's name and a line
number or JSON path in its message. Anything else (KeyError, TypeError,
UnicodeDecodeError, a bare ValueError) fails.

The example budget is fixed and derandomized, so the tier's runtime and
its verdict do not vary between runs.
"""

import contextlib
import csv
import gzip
import io
import json
import pathlib
import re
import tempfile

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from electra_keras.data.builder import BuildSettings
from electra_keras.data.builder import build_dataset
from electra_keras.data.corpus import DEFAULT_VOCABULARY
from electra_keras.data.corpus import CorpusError
from electra_keras.data.corpus import read_corpus
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.labelled_rows import read_labelled
from electra_keras.tasks.formats.squad import SquadDataError
from electra_keras.tasks.formats.squad import read_squad
from electra_keras.tasks.formats.tagging import read_tagged

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=40,  # per format and corruption: 76 tests, about 30 s on one core
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HUGE_LINE = b"word " * 200_000  # 1 MB
# What a clean message names after the file: a line, a JSON path, or a whole-file condition.
WHERE = re.compile(r":\d+|line \d+|data\[|top level|empty|no rows|no sentences|no questions|no text|not valid JSON")

WORDS = st.sampled_from(["Seoul", "서울", "naïve", "東京", "café", "the", "a", "42", "x,y", 'say "hi"', "tab\tbed"])
PLAIN_WORDS = st.sampled_from(["Seoul", "서울", "naïve", "東京", "café", "the", "a", "42", "Kim", "-"])
CORRUPTIONS = ["none", "bom", "crlf", "truncate", "latin1", "garbage", "huge_line", "empty"]
KEEPS_CONTENT = {"none", "bom", "crlf"}  # the file must still read exactly as written


def sentence(words=WORDS, min_size=1):
    return st.lists(words, min_size=min_size, max_size=6).map(" ".join)


@st.composite
def corrupted(draw, content, kind, compress=False):
    """`content` (bytes of a valid file) corrupted the `kind` way, optionally gzipped."""
    data = content
    if kind == "bom":
        data = b"\xef\xbb\xbf" + data
    elif kind == "crlf":
        data = data.replace(b"\n", b"\r\n")
    elif kind == "empty":
        data = b""
    elif kind in ("latin1", "garbage", "huge_line"):
        at = draw(st.integers(0, len(data)))
        if kind == "huge_line":
            at = data.rfind(b"\n", 0, at) + 1  # at a line start
        insert = {"latin1": b"caf\xe9 \xff", "huge_line": HUGE_LINE + b"\n"}.get(kind) or draw(
            st.binary(min_size=1, max_size=12)
        )
        data = data[:at] + insert + data[at:]
    if compress:
        data = gzip.compress(data, mtime=0)
    if kind == "truncate":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    return data


@contextlib.contextmanager
def written(name, data):
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / name
        path.write_bytes(data)
        yield path


def read_or_clean_error(read, path, error_type):
    """The reader's result, or None after an `error_type` that names the file and where in it."""
    try:
        return read(path)
    except error_type as error:
        message = str(error)
        assert path.name in message, message
        assert WHERE.search(message.replace(str(path), "FILE")), message
        return None


# --- Pretraining corpora -----------------------------------------------------

documents = st.lists(st.lists(sentence(), min_size=1, max_size=4), min_size=1, max_size=5)


def corpus_file(kind, docs, rows_without_text):
    """Bytes of a corpus file holding `docs`, and the documents a reader finds in it."""
    if kind == "txt":
        return "\n\n".join("\n".join(doc) for doc in docs).encode() + b"\n", docs
    if kind == "jsonl":
        rows = [{"text": "\n".join(doc), "id": n} for n, doc in enumerate(docs)]
        rows += [{"text": value} for value in rows_without_text] + [{"id": 1}]
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode(), docs
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "id"])  # first, where a BOM would rename it
    writer.writerows([" ".join(doc), n] for n, doc in enumerate(docs))
    return buffer.getvalue().encode(), [[" ".join(doc)] for doc in docs]


@pytest.mark.parametrize("kind", ["txt", "jsonl", "csv"])
@pytest.mark.parametrize("corruption", CORRUPTIONS)
@FUZZ
@given(
    compress=st.booleans(),
    docs=documents,
    rows_without_text=st.lists(st.sampled_from([5, None, ["a"], {"b": 1}, "", "  "]), max_size=2),
    data=st.data(),
)
def test_corpus_reads_right_or_names_file_and_line(kind, corruption, compress, docs, rows_without_text, data):
    content, expected = corpus_file(kind, docs, rows_without_text)
    raw = data.draw(corrupted(content, corruption, compress))
    name = f"corpus.{kind}" + (".gz" if compress else "")
    with written(name, raw) as path:
        result = read_or_clean_error(lambda p: read_corpus([p])[0], path, CorpusError)
    if corruption in KEEPS_CONTENT:
        assert result == expected
    elif kind == "txt" and corruption == "latin1":
        # Undecodable bytes are replaced (and counted), never refused.
        assert result is not None and any("\ufffd" in line for document in result for line in document)
    elif kind == "txt" and corruption == "huge_line":
        # A 1 MB line is cut into pieces of at most MAX_LINE_CHARACTERS, never refused.
        assert result is not None and sum(map(len, result)) >= sum(map(len, expected)) + 10


# --- Labelled rows -----------------------------------------------------------

labelled_rows = st.lists(
    st.tuples(sentence(), sentence(), st.one_of(st.sampled_from(["pos", "neg", "1"]), st.lists(
        st.sampled_from(["sport", "news"]), min_size=1, max_size=2
    ))),
    min_size=1, max_size=6,
)
# A JSONL row edited: a field dropped, given another type, or one added.
ROW_EDITS = st.tuples(
    st.sampled_from(["drop", "retype", "extra"]), st.sampled_from(["text", "pair", "label"]),
    st.sampled_from([5, 2.5, None, True, [], ["a", {"b": 1}], {"c": 1}, "", "x"]),
)


def edited_json_lines(records, edit, extra_field):
    """JSON Lines bytes of `records`, one of them edited: `((action, field, value), row)`, or None.

    `drop` removes `field`, `retype` sets it to `value`, `extra` adds
    `extra_field` (formatted with `field`) holding `value`.
    """
    if edit is not None:
        (action, field, value), row = edit
        record = records[row % len(records)]
        if action == "drop":
            record.pop(field, None)
        elif action == "retype":
            record[field] = value
        else:
            record[extra_field.format(field=field)] = value
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def labelled_file(kind, rows, with_pair, edit):
    fields = ["text", "pair", "label"] if with_pair else ["text", "label"]
    if kind == "jsonl":
        records = [dict(zip(fields, (text, pair, label) if with_pair else (text, label))) for text, pair, label in rows]
        return edited_json_lines(records, edit, extra_field="{field}_extra")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t" if kind == "tsv" else ",", lineterminator="\n")
    writer.writerow(fields)
    for text, pair, label in rows:
        label = "|".join(label) if isinstance(label, list) else label
        writer.writerow([text, pair, label] if with_pair else [text, label])
    return buffer.getvalue().encode()


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl"])
@pytest.mark.parametrize("corruption", CORRUPTIONS)
@FUZZ
@given(
    compress=st.booleans(),
    rows=labelled_rows,
    with_pair=st.booleans(),
    edit=st.none() | st.tuples(ROW_EDITS, st.integers(0, 10)),
    data=st.data(),
)
def test_labelled_rows_read_right_or_name_file_and_line(kind, corruption, compress, rows, with_pair, edit, data):
    edit = edit if kind == "jsonl" else None
    raw = data.draw(corrupted(labelled_file(kind, rows, with_pair, edit), corruption, compress))
    name = f"train.{kind}" + (".gz" if compress else "")
    pair_field = "pair" if with_pair else None
    with written(name, raw) as path:
        result = read_or_clean_error(lambda p: read_labelled(p, pair_field=pair_field), path, LabelledDataError)
    if result is not None:
        texts, pairs, labels = result
        assert all(isinstance(text, str) and text for text in texts)
        assert len(texts) == len(pairs) == len(labels)
    if corruption in KEEPS_CONTENT and (edit is None or edit[0][0] == "extra"):
        as_read = [label if kind == "jsonl" or not isinstance(label, list) else "|".join(label) for *_, label in rows]
        assert result == ([t for t, _, _ in rows], [p if with_pair else None for _, p, _ in rows], as_read)


# --- Tagging files -----------------------------------------------------------

TAGS = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "S-ORG"])
tagged_sentences = st.lists(st.lists(st.tuples(PLAIN_WORDS, TAGS), min_size=1, max_size=5), min_size=1, max_size=5)
TAG_EDITS = st.tuples(
    st.sampled_from(["drop", "retype", "extra"]), st.sampled_from(["tokens", "tags"]),
    st.sampled_from([5, None, "O", [], ["O"], [1, 2], {"a": 1}, ["", " "]]),
)


def tagged_file(kind, sentences, columns, edit):
    if kind == "jsonl":
        records = [{"tokens": [w for w, _ in s], "tags": [t for _, t in s]} for s in sentences]
        return edited_json_lines(records, edit, extra_field="id")
    blocks = ["\n".join(" ".join([word, *["NN"] * (columns - 2), tag]) for word, tag in s) for s in sentences]
    return ("-DOCSTART- -X- -X- O\n\n" if columns == 4 else "").encode() + "\n\n".join(blocks).encode() + b"\n"


@pytest.mark.parametrize("kind", ["conll", "jsonl"])
@pytest.mark.parametrize("corruption", CORRUPTIONS)
@FUZZ
@given(
    compress=st.booleans(),
    sentences=tagged_sentences,
    columns=st.sampled_from([2, 4]),
    edit=st.none() | st.tuples(TAG_EDITS, st.integers(0, 10)),
    data=st.data(),
)
def test_tagging_files_read_right_or_name_file_and_line(kind, corruption, compress, sentences, columns, edit, data):
    edit = edit if kind == "jsonl" else None
    raw = data.draw(corrupted(tagged_file(kind, sentences, columns, edit), corruption, compress))
    name = f"train.{kind}" + (".gz" if compress else "")
    with written(name, raw) as path:
        result = read_or_clean_error(read_tagged, path, LabelledDataError)
    if result is not None:
        assert all(len(s.words) == len(s.tags) and all(s.words) for s in result)
    if corruption in KEEPS_CONTENT and (edit is None or edit[0][0] == "extra"):
        assert [(s.words, s.tags) for s in result] == [([w for w, _ in s], [t for _, t in s]) for s in sentences]


# --- SQuAD JSON --------------------------------------------------------------


@st.composite
def squad_documents(draw):
    """A SQuAD v2.0-layout dict, and the `(id, question, context, answers)` a reader finds in it."""
    articles, expected, number = [], [], 0
    for _ in range(draw(st.integers(1, 2))):
        paragraphs = []
        for _ in range(draw(st.integers(1, 2))):
            words = draw(st.lists(PLAIN_WORDS, min_size=2, max_size=12))
            context = " ".join(words)
            qas = []
            for _ in range(draw(st.integers(1, 3))):
                first = draw(st.integers(0, len(words) - 1))
                last = draw(st.integers(first, len(words) - 1))
                start = len(" ".join(words[:first])) + (1 if first else 0)
                text = " ".join(words[first : last + 1])
                impossible = draw(st.booleans())
                question = draw(sentence(PLAIN_WORDS)) + "?"
                qa = {"id": f"q{number}", "question": question, "is_impossible": impossible,
                      "answers": [] if impossible else [{"text": text, "answer_start": start}]}
                if impossible:
                    qa["plausible_answers"] = [{"text": text, "answer_start": start}]
                qas.append(qa)
                expected.append((f"q{number}", question, context, () if impossible else ((text, start),)))
                number += 1
            paragraphs.append({"context": context, "qas": qas})
        articles.append({"title": "t", "paragraphs": paragraphs})
    return {"version": "v2.0", "data": articles}, expected


def json_nodes(value, path=()):
    """Every `(path, dict)` in a JSON document, the root first."""
    if isinstance(value, dict):
        yield path, value
        for key, child in value.items():
            yield from json_nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from json_nodes(child, (*path, index))


@pytest.mark.parametrize("corruption", CORRUPTIONS)
@FUZZ
@given(
    document=squad_documents(),
    edit=st.none() | st.tuples(
        st.sampled_from(["drop", "retype", "extra"]), st.integers(0, 100), st.integers(0, 10),
        st.sampled_from([5, -3, True, None, "", "x", [], [{}], {"a": 1}, 2.5]),
    ),
    data=st.data(),
)
def test_squad_files_read_right_or_name_file_and_json_path(corruption, document, edit, data):
    document, expected = document
    if edit is not None:
        action, node, key, value = edit
        nodes = list(json_nodes(document))
        _, target = nodes[node % len(nodes)]
        keys = list(target)
        if action == "extra" or not keys:
            target["extra_field"] = value
        elif action == "drop":
            del target[keys[key % len(keys)]]
        else:
            target[keys[key % len(keys)]] = value
    content = json.dumps(document, ensure_ascii=False, indent=data.draw(st.sampled_from([None, 1]))).encode()
    raw = data.draw(corrupted(content, corruption))
    with written("dev-v2.0.json", raw) as path:
        result = read_or_clean_error(read_squad, path, SquadDataError)
    if corruption in KEEPS_CONTENT and (edit is None or edit[0] == "extra"):
        assert [(e.id, e.question, e.context, e.answers) for e in result] == expected


# --- The dataset builder -----------------------------------------------------

BAD_INPUTS = {
    "bad.jsonl": b'{"text": "fine"}\n{"text": "cut off\n',
    "bad.txt.gz": gzip.compress(b"a line\n" * 1000)[:-20],
    "bad.csv": b"id,body\n1,no text column\n",
    "bad.jsonl.gz": gzip.compress(b'{"text": "fine"}\n[[[' + b"[" * 100_000 + b"\n"),
}


@pytest.mark.parametrize("bad", sorted(BAD_INPUTS))
def test_bad_input_leaves_no_dataset_folder_and_no_change_to_an_existing_one(bad, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Kim lives in Seoul.\nShe likes it.\n\nA second document here.\n", encoding="utf-8")
    broken = tmp_path / bad
    broken.write_bytes(BAD_INPUTS[bad])
    fresh = tmp_path / "fresh"
    with pytest.raises(CorpusError, match=re.escape(bad)):
        build_dataset([good, broken], fresh, DEFAULT_VOCABULARY, BuildSettings(sequence_length=16))
    assert not fresh.exists()

    existing = tmp_path / "built"
    build_dataset([good], existing, DEFAULT_VOCABULARY, BuildSettings(sequence_length=16))
    before = {p.relative_to(existing): p.read_bytes() for p in existing.rglob("*") if p.is_file()}
    good.write_text("Changed text, so this input is rebuilt too.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape(bad)):
        build_dataset([good, broken], existing, DEFAULT_VOCABULARY, BuildSettings(sequence_length=16))
    assert {p.relative_to(existing): p.read_bytes() for p in existing.rglob("*") if p.is_file()} == before
