"""benchmarks/serving_load.py at toy size: the tiny discriminator under load, its JSON and its tables."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

# Builds an export and runs it under load for real: the slow tier.
pytestmark = pytest.mark.slow


def test_load_benchmark_counts_refusals_keeps_answers_identical_and_reports_memory(tmp_path):
    output = tmp_path / "load.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "serving_load.py"), "--exports", "discriminator",
         "--config", str(ROOT / "configs" / "tiny.yaml"), "--threads", "1", "3", "--seconds", "4",
         "--soak-seconds", "12", "--soak-threads", "3", "--no-largest", "--models", str(tmp_path / "models"),
         "--output", str(output)],
        capture_output=True, text=True, timeout=1200, check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(output.read_text())
    (discriminator,) = result["results"]
    assert discriminator["warmup_requests"] > 2
    assert [run["threads"] for run in discriminator["runs"]] == [1, 3]
    for run in [*discriminator["runs"], result["soak"]["soak"]]:
        assert run["sent"] == run["answered"] + run["invalid_argument"] + run["other_errors"]
        assert run["other_errors"] == 0 and run["unexpected"] == 0
        assert run["canary_mismatches"] == 0
        assert run["rss_mb_end"] > 0 and run["p50_ms"] > 0
    # Every kind was sent in one run or the other; refusals say which limit.
    sent = {kind: sum(run["by_kind"][kind]["sent"] for run in discriminator["runs"])
            for kind in discriminator["expected"]}
    refused = [kind for kind, expected in discriminator["expected"].items() if expected == "refused"]
    assert {"texts_10000", "text_1mb", "wrong_dtype", "wrong_shape"} <= set(refused)
    messages = {}
    for run in discriminator["runs"]:
        messages.update(run["messages"])
    for kind in refused:
        if sent[kind]:
            assert kind in messages
    if sent["texts_10000"]:
        assert "10000 texts in one request; the limit is 64 (export option max_texts)" in messages["texts_10000"]
    soak = result["soak"]["soak"]
    assert soak["threads"] == 3 and len(soak["rss_mb_samples"]) >= 2 and "within_bound" in soak
    assert "| discriminator | 3 |" in completed.stdout
    assert "| texts_10000 | refused |" in completed.stdout
