"""`--task qa`: SQuAD v2.0 files in, official EM/F1 out, an `answer` signature that returns spans of the context."""

import json

import pytest
from conftest import FAST
from conftest import ROOT
from conftest import run

from electra_keras.tasks.formats.squad import read_squad

FIXTURES = ROOT / "tests" / "fixtures" / "labelled"


def pretrain_on_contexts(task, tmp_path):
    """A few pretraining steps on a QA task's own text: a run whose vocabulary covers it."""
    examples = read_squad(FIXTURES / task / "train.json")
    corpus = tmp_path / f"{task}.txt"
    text = list(dict.fromkeys([e.context for e in examples] + [e.question for e in examples]))
    corpus.write_text("\n\n".join(text) + "\n", encoding="utf-8")
    run_dir = tmp_path / f"run-{task}"
    result = run("--corpus", corpus, "--output", run_dir, "--steps", 4, *FAST, "--set", "data.vocabulary_size=2000")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.mark.slow
def test_a_korean_reader_finds_the_spans_it_was_trained_on_and_serves_them(tmp_path):
    task = FIXTURES / "libreoffice_ko_qa"
    output = tmp_path / "reader"
    finetune = run(
        "--init-from", pretrain_on_contexts("libreoffice_ko_qa", tmp_path), "--task", "qa",
        "--train", task / "train.json", "--eval", task / "train.json", "--output", output,
        "--sequence-length", 128, "--epochs", 25, "--patience", 25, "--learning-rate", 2e-3, "--batch-size", 16,
        "--min-steps", 0,
        script=ROOT / "scripts" / "finetune.py",
    )
    assert finetune.returncode == 0, finetune.stderr[-3000:]
    summary = json.loads((output / "metrics.json").read_text())
    # Official scale (0-100); the questions it was trained on, answers mapped back through WordPiece.
    assert summary["task"] == "qa" and summary["f1"] > 70 and summary["exact"] > 50
    assert summary["eval"]["HasAns_total"] > 80 and summary["eval"]["NoAns_total"] > 30
    assert "null_threshold" in summary["eval"]

    result = run("--model", output, "--input", task / "train.json", "--output", tmp_path / "answers.jsonl",
                 script=ROOT / "scripts" / "predict.py")
    assert result.returncode == 0, result.stderr[-3000:]
    answers = {row["id"]: row for row in map(json.loads, open(tmp_path / "answers.jsonl", encoding="utf-8"))}
    examples = read_squad(task / "train.json")
    assert set(answers) == {e.id for e in examples}
    exact = 0
    for example in examples:
        row = answers[example.id]
        if row["answer"]:
            assert example.context[row["start"]:row["end"]] == row["answer"]
        gold = [text for text, _ in example.answers] or [""]
        exact += row["answer"] in gold
    # The served answers score what fine-tuning reported (exact string match is stricter than EM).
    assert 100 * exact / len(examples) == pytest.approx(summary["exact"], abs=5)
    config = json.loads((output / "huggingface" / "config.json").read_text())
    assert config["architectures"] == ["ElectraForQuestionAnswering"]


@pytest.mark.slow
def test_a_chinese_reader_learns_from_python_and_scores_cmrc_style(tmp_path):
    from electra_keras.finetuning.job import FinetuningSettings
    from electra_keras.finetuning.job import run_finetuning

    task = FIXTURES / "libreoffice_zh_qa"
    summary = run_finetuning(
        [pretrain_on_contexts("libreoffice_zh_qa", tmp_path)],
        FinetuningSettings(str(task / "train.json"), str(task / "train.json"), str(tmp_path / "zh"), task="qa",
                           sequence_length=128, epochs=10, patience=10, learning_rate=2e-3, batch_size=16, min_steps=0),
        verbose=0,
    )
    first = summary["epochs"][0]
    assert summary["f1"] > first["f1"] + 15 and summary["exact"] <= summary["f1"]
