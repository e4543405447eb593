"""Multi-worker training: two real processes on localhost joined by TF_CONFIG."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import FAST
from conftest import PRETRAIN as SCRIPT

from electra_keras.runs import RunFolder

# Starts processes or trains for real: the slow tier.
pytestmark = pytest.mark.slow


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_in_step_and_end_with_identical_weights(small_corpus, tmp_path):
    output = tmp_path / "run"
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        environment = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        }
        workers.append(subprocess.Popen(
            [sys.executable, str(SCRIPT), "--corpus", *map(str, small_corpus), "--output", str(output),
             "--steps", "12", *FAST, "--set", "training.steps_per_eval=6", "--strategy", "multi_worker"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
        ))
    outcomes = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outcomes):
        assert worker.returncode == 0, stderr[-3000:]
    assert "worker-1: done, 12 steps" in outcomes[1][0]

    # Worker 0 is the chief: it alone writes the run; worker 1 its weights.
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["steps"] == 12 and [e["step"] for e in metrics["evaluations"]] == [6, 12]
    assert json.loads((output / "run_state.json").read_text())["status"] == "complete"
    assert sorted(p.name for p in (output / "workers").iterdir()) == ["worker-1.weights.h5"]
    chief = RunFolder(output).load_pretrainer()
    other = RunFolder(output).load_pretrainer(output / "workers" / "worker-1.weights.h5")
    chief_weights, other_weights = chief.get_weights(), other.get_weights()
    assert len(chief_weights) == len(other_weights)
    for a, b in zip(chief_weights, other_weights):
        np.testing.assert_array_equal(a, b)
    # And they trained: the chief's weights moved from the first checkpoint's.
    early = RunFolder(output).load_pretrainer("ckpt-000000010")
    assert any(np.abs(a - b).max() > 0 for a, b in zip(chief_weights, early.get_weights()))
