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


def run_units(work, units, command_for):
    """Runs each unit in its own process, reusing a finished one; returns {name: result}.

    `units` maps a unit's name to its settings (a JSON-able dict); a unit
    whose `work/<name>.json` holds a result for the same settings is not run
    again. `command_for(name)` is the unit's command line; the unit prints
    its result as the last line of its output, a JSON object.
    """
    work = pathlib.Path(work)
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, settings in units.items():
        record = work / f"{name}.json"
        if record.is_file() and json.loads(record.read_text())["settings"] == settings:
            results[name] = json.loads(record.read_text())["result"]
            continue
        finished = subprocess.run(command_for(name), capture_output=True, text=True)
        if finished.returncode != 0:
            sys.exit(f"error: {name} failed:\n{finished.stderr[-3000:]}")
        results[name] = json.loads(finished.stdout.strip().splitlines()[-1])
        record.write_text(json.dumps({"settings": settings, "result": results[name]}, indent=2))
        print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    return results
