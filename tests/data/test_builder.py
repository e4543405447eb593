import gzip
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf
from conftest import ROOT

from electra_keras import data
from electra_keras.data.builder import BuildSettings
from electra_keras.data.builder import build_dataset
from electra_keras.data.tokenizer import make_tokenizer

LENGTH = 32


def bundled_lines(count, which=0):
    with gzip.open(data.DEFAULT_CORPUS[which], "rt", encoding="utf-8") as file:
        return file.read().splitlines()[:count]


@pytest.fixture
def corpus(tmp_path):
    text = tmp_path / "brown.txt.gz"
    text.write_bytes(gzip.compress("\n".join(bundled_lines(600)).encode()))
    korean = [line for line in bundled_lines(400, which=1) if line]
    rows = tmp_path / "help.jsonl"
    rows.write_text(
        "\n".join(json.dumps({"text": "\n".join(korean[i : i + 5])}, ensure_ascii=False) for i in range(0, 400, 5)),
        encoding="utf-8",
    )
    table = tmp_path / "help.csv"
    table.write_text("id,body\n" + "".join(f'{i},"{line}"\n' for i, line in enumerate(korean[:50])), encoding="utf-8")
    return [text, rows, table]


def read_all(data_dir, split="train"):
    rows = []
    for batch in data.make_tfrecord_dataset(data_dir, 16, split=split, shuffle=False, repeat=False):
        rows.extend(zip(batch["token_ids"].numpy().tolist(), batch["segment_ids"].numpy().tolist()))
    return rows


def expected_examples(paths, settings):
    """Pack the same documents directly, as the builder does, per input."""
    tokenizer = make_tokenizer(data.DEFAULT_VOCABULARY)
    rows = []
    for index, path in enumerate(paths):
        documents = list(data.iter_documents(path, data.InputStatistics(), settings.text_field, settings.text_column))
        examples = data.pack_documents(
            data.tokenize_documents(documents, tokenizer), settings.sequence_length,
            cls_token_id=2, sep_token_id=3, seed=[settings.seed, index, 0],
        )
        rows.extend(zip(examples["token_ids"].tolist(), examples["segment_ids"].tolist()))
    return rows


def test_shards_read_back_exactly_the_examples_written(corpus, tmp_path):
    settings = BuildSettings(sequence_length=LENGTH, text_column="body", examples_per_shard=50)
    manifest = build_dataset(corpus, tmp_path / "built", data.DEFAULT_VOCABULARY, settings)
    read = read_all(tmp_path / "built")
    expected = expected_examples(corpus, settings)
    assert sorted(read) == sorted(expected)
    totals = manifest["totals"]
    assert totals["sequences"] == len(expected) == len(read)
    assert totals["tokens"] == sum(sum(1 for t in ids if t != 0) for ids, _ in expected)
    rows, table = manifest["inputs"][1:]
    assert rows["documents"] + rows["rows_without_text"] == 80 and table["documents"] == 50
    assert manifest["vocabulary_sha256"] == data.file_sha256(data.DEFAULT_VOCABULARY)
    assert len(manifest["shards"]["train"]) > 3  # several shards per input
    assert (tmp_path / "built" / "vocab.txt").read_text() == data.DEFAULT_VOCABULARY.read_text()


@pytest.mark.slow
def test_parallel_build_equals_serial_build(corpus, tmp_path):
    settings = BuildSettings(sequence_length=LENGTH, text_column="body")
    serial = build_dataset(corpus, tmp_path / "serial", data.DEFAULT_VOCABULARY, settings)
    parallel = build_dataset(corpus, tmp_path / "parallel", data.DEFAULT_VOCABULARY, settings, num_processes=2)
    assert serial["totals"] == parallel["totals"]
    assert read_all(tmp_path / "serial") == read_all(tmp_path / "parallel")


def test_resume_redoes_only_unfinished_inputs_and_append_adds_shards(corpus, tmp_path):
    settings = BuildSettings(sequence_length=LENGTH, text_column="body")
    out = tmp_path / "built"
    first = build_dataset(corpus[:2], out, data.DEFAULT_VOCABULARY, settings)
    untouched = out / first["inputs"][0]["shards"][0]
    stamp = untouched.stat().st_mtime_ns
    # An interrupted second input: its record is gone, a half shard remains.
    (out / "inputs" / "00001.json").unlink()
    (out / ".train-00001-0000.tmp-1.tfrecord.gz").write_bytes(b"partial")
    again = build_dataset(corpus[:2], out, data.DEFAULT_VOCABULARY, settings)
    assert again["totals"] == first["totals"]
    assert untouched.stat().st_mtime_ns == stamp
    appended = build_dataset(corpus, out, data.DEFAULT_VOCABULARY, settings)
    assert appended["totals"]["documents"] == first["totals"]["documents"] + 50
    assert untouched.stat().st_mtime_ns == stamp
    assert sorted(read_all(out)) == sorted(expected_examples(corpus, settings))


def test_eval_fraction_routes_examples_to_eval_shards(corpus, tmp_path):
    settings = BuildSettings(sequence_length=LENGTH, text_column="body", eval_fraction=0.2)
    manifest = build_dataset(corpus, tmp_path / "built", data.DEFAULT_VOCABULARY, settings)
    train, held_out = read_all(tmp_path / "built"), read_all(tmp_path / "built", "eval")
    assert len(held_out) == manifest["totals"]["eval_sequences"]
    assert 0.1 < len(held_out) / (len(train) + len(held_out)) < 0.3
    assert sorted(train + held_out) == sorted(expected_examples(corpus, settings))


def test_bad_input_is_counted_or_stops_naming_file_and_line(tmp_path):
    settings = BuildSettings(sequence_length=LENGTH)
    messy = tmp_path / "messy.txt"
    long_line = ("word " * 2_000_000).encode()  # a 10 MB line, cut at whitespace
    messy.write_bytes(b"fine line\n\n\nbad \xff\xfe bytes\n" + long_line + b"\n")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "kept"}\n{"title": "no text"}\n{"text": ""}\n')
    manifest = build_dataset([messy, empty, rows], tmp_path / "built", data.DEFAULT_VOCABULARY, settings)
    by_name = {os.path.basename(e["path"]): e for e in manifest["inputs"]}
    assert by_name["messy.txt"]["undecodable_bytes"] == 2
    assert by_name["messy.txt"]["long_lines_split"] == 1
    assert by_name["messy.txt"]["empty_lines"] == 2
    assert by_name["rows.jsonl"]["rows_without_text"] == 2
    assert by_name["rows.jsonl"]["first_row_without_text"] == 2
    assert manifest["totals"]["empty_files"] == 1
    # Every word of the long line is in the shards.
    word = make_tokenizer(data.DEFAULT_VOCABULARY).token_to_id("word")
    assert sum(ids.count(word) for ids, _ in read_all(tmp_path / "built")) == 2_000_000

    broken_json = tmp_path / "broken.jsonl"
    broken_json.write_text('{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(data.CorpusError, match=r"broken.jsonl:2: not valid JSON"):
        build_dataset([broken_json], tmp_path / "b1", data.DEFAULT_VOCABULARY, settings)
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(gzip.compress(("a line of text\n" * 5000).encode())[:-40])
    with pytest.raises(data.CorpusError, match=r"cut.txt.gz: cut off or corrupt"):
        build_dataset([cut], tmp_path / "b2", data.DEFAULT_VOCABULARY, settings)
    assert not (tmp_path / "b2" / "manifest.json").exists()
    assert not list((tmp_path / "b2").glob("train-*"))  # nothing that looks complete
    no_column = tmp_path / "table.csv"
    no_column.write_text("id,body\n1,hello\n")
    with pytest.raises(data.CorpusError, match=r"table.csv:1: no column 'text'"):
        build_dataset([no_column], tmp_path / "b3", data.DEFAULT_VOCABULARY, settings)
    parquet = tmp_path / "x.parquet"
    parquet.write_bytes(b"PAR1")
    with pytest.raises(data.CorpusError, match="x.parquet: unknown input format"):
        build_dataset([parquet], tmp_path / "b4", data.DEFAULT_VOCABULARY, settings)


def test_truncated_shard_is_detected(corpus, tmp_path):
    settings = BuildSettings(sequence_length=LENGTH, text_column="body")
    manifest = build_dataset(corpus[:1], tmp_path / "built", data.DEFAULT_VOCABULARY, settings)
    shard = tmp_path / "built" / manifest["shards"]["train"][0]
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(tf.errors.DataLossError):
        read_all(tmp_path / "built")


@pytest.mark.slow
def test_pretrain_refuses_a_dataset_built_with_another_vocabulary(corpus, tmp_path):
    settings = BuildSettings(sequence_length=64, text_column="body")
    build_dataset(corpus[:1], tmp_path / "built", data.DEFAULT_VOCABULARY, settings)
    other = tmp_path / "other_vocab.txt"
    other.write_text(data.DEFAULT_VOCABULARY.read_text() + "[zzq-not-a-token]\n")
    command = [sys.executable, str(ROOT / "scripts" / "pretrain.py"), "--data", str(tmp_path / "built"),
               "--output", str(tmp_path / "run"), "--steps", "2"]
    result = subprocess.run([*command, "--vocab", str(other)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "is not the vocabulary" in result.stderr and "Traceback" not in result.stderr
    # With the dataset's own vocabulary, training streams from the shards.
    result = subprocess.run(
        [*command, "--overwrite", "--batch-size", "4", "--set", "training.steps_per_eval=2"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["data"]["data_dir"] == str(tmp_path / "built")


@pytest.mark.slow
def test_build_scripts_end_to_end(corpus, tmp_path):
    def script(name, *args):
        return subprocess.run(
            [sys.executable, str(ROOT / "scripts" / name), *map(str, args)],
            capture_output=True, text=True, timeout=300,
        )

    vocab = tmp_path / "vocab.txt"
    result = script("build_vocab.py", *corpus, "--text-column", "body", "--size", 2000, "--output", vocab,
                    "--trainer", "tokenizers")
    assert result.returncode == 0, result.stderr[-2000:]
    assert vocab.read_text(encoding="utf-8").splitlines()[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    result = script("build_dataset.py", *corpus, "--text-column", "body", "--vocab", vocab,
                    "--output", tmp_path / "built", "--sequence-length", 32, "--processes", 1)
    assert result.returncode == 0, result.stderr[-2000:]
    totals = json.loads(result.stdout.strip().splitlines()[-1])
    assert totals["sequences"] == len(read_all(tmp_path / "built"))
    result = script("build_dataset.py", tmp_path / "missing.txt", "--vocab", vocab, "--output", tmp_path / "b")
    assert result.returncode == 2 and "missing.txt: input file not found" in result.stderr
