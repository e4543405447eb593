"""A collapsed run end to end: pretraining says so, fine-tuning names it before training, export warns.

The collapse is made the way it was first met: a 30-step tiny run whose
warmup is squeezed into those 30 steps (the peak rate at step 30; before
`build_optimizer` kept the configured ramp, `--steps 30` alone did this).
"""

import json

import pytest
from conftest import ROOT
from conftest import run

from electra_keras.pretraining.health import COLLAPSE_RATIO

pytestmark = pytest.mark.slow
FINETUNE = ROOT / "scripts" / "finetune.py"
EXPORT = ROOT / "scripts" / "export.py"
TASK = ROOT / "tests" / "fixtures" / "labelled" / "rotten_tomatoes"


@pytest.fixture(scope="module")
def collapsed_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("collapsed") / "run"
    result = run("--output", output, "--steps", 30, "--set", "optimizer.warmup_steps=30",
                 "--set", "training.steps_per_eval=30")
    assert result.returncode == 0, result.stderr[-3000:]
    return output, result


def test_pretraining_logs_the_health_figures_and_warns_once(collapsed_run):
    output, result = collapsed_run
    metrics = json.loads((output / "metrics.json").read_text())
    evaluation = metrics["evaluations"][-1]
    assert evaluation["token_spread_ratio"] < COLLAPSE_RATIO and evaluation["token_cosine"] > 0.99
    assert len(metrics["representation_warnings"]) == 1
    assert result.stderr.count("the discriminator has collapsed") == 1
    assert "representation health: token spread" in result.stderr  # the progress output


def test_fine_tuning_names_the_collapse_before_training_and_acts_on_the_choice(collapsed_run, tmp_path):
    output, _ = collapsed_run
    common = ["--init-from", output, "--train", TASK / "train.jsonl", "--eval", TASK / "test.jsonl",
              "--epochs", 1, "--min-steps", 10]
    failed = run(*common, "--output", tmp_path / "fail", "--on-collapse", "fail", script=FINETUNE)
    assert failed.returncode == 3, failed.stderr[-3000:]
    assert "has collapsed" in failed.stderr and "--on-collapse random-init" in failed.stderr
    assert not (tmp_path / "fail" / "export").exists() and not (tmp_path / "fail" / "metrics.json").exists()

    fresh = run(*common, "--output", tmp_path / "fresh", "--on-collapse", "random-init", script=FINETUNE)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "has collapsed" in fresh.stderr
    health = json.loads((tmp_path / "fresh" / "metrics.json").read_text())["encoder_health"]
    assert health["collapsed"] is True and health["action"] == "random-init"
    assert health["token_spread_ratio"] < COLLAPSE_RATIO


def test_exporting_a_collapsed_discriminator_warns_with_the_numbers(collapsed_run, tmp_path):
    output, _ = collapsed_run
    result = run("--run", output, "--base", tmp_path / "hf", "--format", "huggingface", script=EXPORT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "has collapsed" in result.stderr and "spread" in result.stderr
    assert (tmp_path / "hf" / "discriminator" / "config.json").exists()
