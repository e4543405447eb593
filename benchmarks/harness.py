"""Shared by the benchmarks: run each implementation in its own process.

Frameworks' thread pools would fight inside one process, so every
implementation runs as `python BENCHMARK ... --worker NAME`, alternating for
several rounds; the worker prints one JSON line with its measurements.
"""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_workers(script, names, rounds):
    """Returns {name: [worker JSON result per round]}."""
    results = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            command = [sys.executable, str(script), *sys.argv[1:], "--worker", name]
            completed = subprocess.run(
                command, capture_output=True, text=True, check=False,
                env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            if completed.returncode:
                sys.exit(f"{name} failed:\n{completed.stderr[-3000:]}")
            results[name].append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return results


def write_json(path, value):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))
    print(f"wrote {path}")
