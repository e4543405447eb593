"""`--task tagging`: CoNLL files in, entity F1 out, a `tag` signature that serves what was scored."""

import collections
import json

import numpy as np
import pytest
from conftest import FAST
from conftest import ROOT
from conftest import run

from electra_keras.tasks.formats.tagging import entity_metrics
from electra_keras.tasks.formats.tagging import read_tagged
from electra_keras.tasks.formats.tagging import repair_tags

FIXTURES = ROOT / "tests" / "fixtures" / "labelled"


def pretrain_on_sentences(task, tmp_path):
    """A few pretraining steps on a tagging task's own sentences: a run whose vocabulary covers them."""
    corpus = tmp_path / f"{task}.txt"
    sentences = read_tagged(FIXTURES / task / "train.conll")
    corpus.write_text("\n".join(" ".join(s.words) for s in sentences) + "\n", encoding="utf-8")
    run_dir = tmp_path / f"run-{task}"
    result = run("--corpus", corpus, "--output", run_dir, "--steps", 4, *FAST, "--set", "data.vocabulary_size=1500",
                 "--set", "model.max_position_embeddings=64")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def memorised_f1(task):
    """The CoNLL baseline: each test word gets the tag it had most often in training."""
    counts = collections.defaultdict(collections.Counter)
    for sentence in read_tagged(FIXTURES / task / "train.conll"):
        for word, tag in zip(sentence.words, sentence.tags):
            counts[word][tag] += 1
    test = read_tagged(FIXTURES / task / "test.conll")
    guesses = [repair_tags([counts[w].most_common(1)[0][0] if w in counts else "O" for w in s.words]) for s in test]
    return entity_metrics([s.tags for s in test], guesses)["f1"]


@pytest.mark.slow
def test_the_finetune_script_tags_korean_ui_mentions_and_serves_what_it_scored(tmp_path):
    task = FIXTURES / "libreoffice_ko_ui"
    output = tmp_path / "ui"
    finetune = run(
        "--init-from", pretrain_on_sentences("libreoffice_ko_ui", tmp_path), "--task", "tagging",
        "--train", task / "train.conll", "--eval", task / "test.conll", "--output", output, "--batch-size", 16,
        "--sequence-length", 64, "--min-steps", 0, script=ROOT / "scripts" / "finetune.py",
    )
    assert finetune.returncode == 0, finetune.stderr[-3000:]
    assert "f1" in finetune.stdout
    summary = json.loads((output / "metrics.json").read_text())
    assert summary["task"] == "tagging" and "B-UI" in summary["labels"] and summary["sequence_length"] == 64
    best = summary["epochs"][summary["best_epoch"] - 1]
    assert best["f1"] == max(epoch["f1"] for epoch in summary["epochs"]) == summary["eval"]["f1"]
    # 400 Korean sentences are not enough for a tiny model to beat memorising each word's tag (F1 0.17,
    # benchmarks/README.md has the full-size table); they do show it learning to find the mentions.
    assert summary["eval"]["f1"] > max(0.1, summary["epochs"][0]["f1"] + 0.03)
    assert summary["eval"]["by_type"]["UI"]["entities"] > 100 and summary["eval"]["by_type"]["UI"]["f1"] > 0.1

    # scripts/predict.py through the exported `tag` signature: the entity F1 fine-tuning reported.
    for model, name in ((output, "folder.jsonl"), (output / "export" / "tagger" / "1", "saved.jsonl")):
        result = run("--model", model, "--input", task / "test.conll", "--output", tmp_path / name,
                     script=ROOT / "scripts" / "predict.py")
        assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in open(tmp_path / "saved.jsonl", encoding="utf-8")]
    assert rows == [json.loads(line) for line in open(tmp_path / "folder.jsonl", encoding="utf-8")]
    gold = read_tagged(task / "test.conll")
    assert [row["tokens"] for row in rows] == [s.words for s in gold]
    served = entity_metrics([s.tags for s in gold], [row["tags"] for row in rows])["f1"]
    assert served == pytest.approx(summary["eval"]["f1"], abs=0.01)
    for row in rows:
        text = " ".join(row["tokens"])
        assert all(text[e["start"]:e["end"]] == e["text"] for e in row["entities"])

    hf_config = json.loads((output / "huggingface" / "config.json").read_text())
    assert hf_config["architectures"] == ["ElectraForTokenClassification"]
    assert hf_config["id2label"]["0"] == summary["labels"][0]


@pytest.mark.slow
def test_the_tagging_job_learns_english_names_from_python_and_names_bad_tags(tmp_path):
    from electra_keras.finetuning.job import FinetuningSettings
    from electra_keras.finetuning.job import run_finetuning
    from electra_keras.tasks.formats.labelled_rows import LabelledDataError

    task = FIXTURES / "brown_names"
    run_dir = pretrain_on_sentences("brown_names", tmp_path)
    summary = run_finetuning(
        [run_dir], FinetuningSettings(str(task / "train.conll"), str(task / "test.conll"), str(tmp_path / "names"),
                                      task="tagging", batch_size=16, sequence_length=64, min_steps=0),
        verbose=0,
    )
    assert summary["eval"]["f1"] > memorised_f1("brown_names") + 0.1
    assert set(summary["eval"]["by_type"]) == {"NAME", "TITLE"}
    assert np.isfinite(summary["eval"]["loss"])

    bad = tmp_path / "bad.conll"
    bad.write_text("Kim B-NAME\nwent O\n\nParis B-CITY\n")
    with pytest.raises(LabelledDataError, match=r"bad\.conll:4: tag 'B-CITY' does not occur in the training file"):
        run_finetuning([run_dir], FinetuningSettings(str(task / "train.conll"), str(bad), str(tmp_path / "x"),
                                                     task="tagging"), verbose=0)
