"""Interrupted runs resume where they stopped: real signals, real processes."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import FAST
from conftest import PRETRAIN as SCRIPT
from conftest import run

import electra_keras  # noqa: F401  (registers classes for load_model)

# Starts processes or trains for real: the slow tier.
pytestmark = pytest.mark.slow

STEPS = 120
RESUMABLE = [
    "--steps", STEPS, *FAST,
    "--set", "training.steps_per_checkpoint=10",
    "--set", "training.steps_per_eval=50",
    "--set", "training.steps_per_sample=40",
]


def start(*args):
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def wait_for_checkpoint(process, checkpoints, step, timeout=300):
    """Waits until a checkpoint at `step` or later exists."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = [int(p.name[5:]) for p in checkpoints.glob("ckpt-*") if p.name[5:].isdigit()]
        if steps and max(steps) >= step:
            return max(steps)
        if process.poll() is not None:
            raise AssertionError(f"the run ended first:\n{process.stderr.read()[-3000:]}")
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint at step {step} within {timeout}s")


def test_sigterm_then_sigkill_then_resume_ends_like_an_uninterrupted_run(small_corpus, tmp_path):
    reference_dir, interrupted_dir = tmp_path / "reference", tmp_path / "interrupted"
    reference = start("--corpus", *small_corpus, "--output", reference_dir, *RESUMABLE)
    command = ["--corpus", *small_corpus, "--output", interrupted_dir, *RESUMABLE]

    # 1. SIGTERM: saves at the step it is on, exits 128 + 15, marks the run.
    first = start(*command)
    wait_for_checkpoint(first, interrupted_dir / "checkpoints", 20)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    state = json.loads((interrupted_dir / "run_state.json").read_text())
    assert state["status"] == "interrupted"
    stopped_at = state["step"]
    assert 20 <= stopped_at < STEPS
    assert f"SIGTERM at step {stopped_at}" in stderr and "Traceback" not in stderr
    assert (interrupted_dir / "checkpoints" / f"ckpt-{stopped_at:09d}" / "state.json").exists()

    # 2. Resumed by the same command, then SIGKILLed after a later checkpoint.
    second = start(*command)
    killed_after = wait_for_checkpoint(second, interrupted_dir / "checkpoints", 70)
    second.send_signal(signal.SIGKILL)
    second.communicate(timeout=60)
    assert second.returncode == -signal.SIGKILL
    assert json.loads((interrupted_dir / "run_state.json").read_text())["status"] == "running"

    # 3. The same command again finishes the run.
    third = run(*command)
    assert third.returncode == 0, third.stderr[-3000:]
    assert "resuming the unfinished run from ckpt-" in third.stderr
    _, reference_stderr = reference.communicate(timeout=600)
    assert reference.returncode == 0, reference_stderr[-3000:]

    resumed_metrics = json.loads((interrupted_dir / "metrics.json").read_text())
    reference_metrics = json.loads((reference_dir / "metrics.json").read_text())
    assert resumed_metrics["steps"] == reference_metrics["steps"] == STEPS
    assert resumed_metrics["resumed_from_step"] >= killed_after
    # Evaluations at the same steps, with the same values, across both restarts.
    assert [e["step"] for e in resumed_metrics["evaluations"]] == [50, 100, 120]
    for resumed, uninterrupted in zip(resumed_metrics["evaluations"], reference_metrics["evaluations"]):
        for key in ("loss", "mlm_loss", "disc_loss", "disc_accuracy"):
            np.testing.assert_allclose(resumed[key], uninterrupted[key], rtol=1e-4, atol=1e-5)
    resumed_weights = keras.models.load_model(interrupted_dir / "pretrainer.keras").get_weights()
    reference_weights = keras.models.load_model(reference_dir / "pretrainer.keras").get_weights()
    assert len(resumed_weights) == len(reference_weights)
    for resumed, uninterrupted in zip(resumed_weights, reference_weights):
        np.testing.assert_allclose(resumed, uninterrupted, rtol=1e-4, atol=1e-5)
    # The logged samples continue without a gap or a repeat.
    steps = [json.loads(line)["step"] for line in (interrupted_dir / "samples.jsonl").read_text().splitlines()]
    assert steps == [40, 80, 120]


def test_resuming_refuses_a_changed_model_or_corpus(small_corpus, tmp_path):
    output = tmp_path / "run"
    first = start("--corpus", *small_corpus, "--output", output, *RESUMABLE)
    wait_for_checkpoint(first, output / "checkpoints", 10)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)

    changed_model = run(
        "--corpus", *small_corpus, "--output", output, *RESUMABLE, "--set", "model.num_layers=3"
    )
    assert changed_model.returncode == 2
    assert "model.num_layers (2 before, 3 now)" in changed_model.stderr
    changed_corpus = run("--corpus", small_corpus[0], "--output", output, *RESUMABLE)
    assert changed_corpus.returncode == 2
    assert "the training data differs" in changed_corpus.stderr
    # Neither attempt touched the interrupted run.
    assert json.loads((output / "run_state.json").read_text())["status"] == "interrupted"
    assert list((output / "checkpoints").glob("ckpt-*"))
