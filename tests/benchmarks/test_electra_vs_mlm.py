"""benchmarks/electra_vs_mlm.py end to end at toy size: units, reuse, the summary."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from conftest import write_task

# Starts processes or trains for real: the slow tier.
pytestmark = pytest.mark.slow

TOY = [
    "--set", "data.vocabulary_size=1000", "--set", "data.sequence_length=32",
    "--set", "training.batch_size=8", "--set", "training.eval_batches=1",
    "--steps", "6", "--snapshots", "2", "--seeds", "2", "--tasks", "toy",
    "--finetune-epochs", "1", "--finetune-sequence-length", "16", "--finetune-batch-size", "16",
]


def benchmark(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "electra_vs_mlm.py"), *map(str, args)],
        capture_output=True, text=True, timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_benchmark_pretrains_fine_tunes_and_summarises_then_reuses_units(small_corpus, tmp_path):
    write_task(tmp_path / "labelled" / "toy")
    arguments = [*TOY, "--corpus", *small_corpus, "--data", tmp_path / "labelled",
                 "--work", tmp_path / "units", "--output", tmp_path / "result.json"]
    first = benchmark(*arguments)
    assert first.returncode == 0, first.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    rows = {(row["objective"], row["step"]): row for row in result["summary"]}
    assert sorted(rows) == [("electra", 3), ("electra", 6), ("mlm", 3), ("mlm", 6), ("none", 0)]
    for row in rows.values():
        accuracy = row["tasks"]["toy"]["accuracy"]
        assert row["seeds"] == 2 and len(accuracy["values"]) == 2
        assert 0.0 <= accuracy["mean"] <= 1.0 and accuracy["sd"] is not None
    # FLOPs grow with steps; ELECTRA's step also runs the generator.
    assert rows[("electra", 6)]["pretraining_flops"] == 2 * rows[("electra", 3)]["pretraining_flops"]
    assert rows[("electra", 6)]["pretraining_flops"] > rows[("mlm", 6)]["pretraining_flops"] > 0
    assert rows[("mlm", 6)]["held_out_mlm_loss"] > 0 and rows[("none", 0)]["held_out_mlm_loss"] is None
    assert "| electra | 6 |" in first.stdout
    assert rows[("electra", 6)]["held_out_disc_auc"] is not None and rows[("mlm", 6)]["held_out_disc_auc"] is None

    again = benchmark(*arguments)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("reusing") == 6
    assert json.loads((tmp_path / "result.json").read_text())["summary"] == result["summary"]

    missing = benchmark(*[a if a != "toy" else "absent" for a in arguments])
    assert missing.returncode != 0
    assert "absent/train.jsonl is missing; run python scripts/fetch_labelled_data.py" in missing.stderr
