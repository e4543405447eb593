"""Pretraining study: which tiny recipe takes the discriminator off its plateau, per wall-clock minute?

Issue 19: the default job (`python scripts/pretrain.py`, configs/tiny.yaml on
the bundled corpus) ends with held-out disc AUC 0.60, disc accuracy barely
above calling every token original. This script runs named *arms* (a config
plus `--set` overrides, and optionally another corpus or vocabulary), each as
its own `scripts/pretrain.py` process, one after another, and tabulates the
held-out metrics of every evaluation against the wall-clock minutes since the
process started (startup, data preparation and evaluation included: that is
what a user waits for).

The held-out metrics are the pretrainer's own (`metrics.json`, `evaluations`):
`disc_auc` over all real tokens of the evaluated held-out batches, disc
accuracy, the all-original baseline `1 - replaced_fraction`, generator
accuracy, and `probe_accuracy` when `--probe DIR` is given. Nothing here
recomputes them, so a gain is the model's, not the metric's.

An arm whose folder under `--work` holds a complete run with the same
resolved config and inputs is reused (its timings come from the
`<arm>.study.json` written when it ran); an unfinished one is started again
from scratch (`--overwrite`), since a resumed run's minutes would mean
nothing. Results of earlier invocations are merged into the JSON, so arms
can be run a few at a time.

Example:
    ```
    python benchmarks/pretraining_study.py --list
    python benchmarks/pretraining_study.py --arms baseline,lr3e-3 --work runs/study
    python benchmarks/pretraining_study.py --arms recommended --probe data/labelled/rotten_tomatoes
    python benchmarks/pretraining_study.py --table   # print the stored results only
    python benchmarks/pretraining_study.py --arms baseline --set training.num_steps=20 \
        --work /tmp/study --output /tmp/study.json   # a smoke test
    ```

Ported from branch study-19 (commit ae9650d, the flat layout before the
package split); the notes are `benchmarks/pretraining_study.md`.
"""

import argparse
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CONFIG = "configs/tiny.yaml"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "pretraining_study.json"
# The English half of the bundled corpus (`electra_keras.data.DEFAULT_CORPUS[0]`),
# resolved when an arm runs: importing electra_keras loads Keras, too slow for --help.
BROWN = ["<bundled:brown_en>"]

# Every arm evaluates often enough for a curve; 10 held-out batches is what
# the default job evaluates (and costs a few seconds).
COMMON = ["training.steps_per_eval=250", "training.eval_batches=10"]

# name -> settings. `set`: config overrides on top of COMMON; `corpus`: text
# files (default: the bundled corpus with its bundled vocab.txt); `vocab`: a
# vocab.txt path, or {"size", "lowercase", "corpus"} to learn one first
# (outside the timed run: a shipped recipe ships its vocab.txt).
ARMS = {
    # The default job, with evaluations every 250 steps.
    "baseline": {},
    # Learning rate and schedule: tiny models usually take a higher rate.
    "lr3e-4": {"set": ["optimizer.learning_rate=3e-4"]},
    "lr1e-4": {"set": ["optimizer.learning_rate=1e-4"]},
    "lr3e-3": {"set": ["optimizer.learning_rate=3e-3"]},
    "lr5e-3": {"set": ["optimizer.learning_rate=5e-3"]},
    # A long warmup (the official 10k steps is 5x this whole run).
    "warm1000": {"set": ["optimizer.warmup_steps=1000"]},
    "lr3e-4-warm1000": {"set": ["optimizer.learning_rate=3e-4", "optimizer.warmup_steps=1000"]},
    # Masking more gives the discriminator more positives per sequence.
    "mask0.3": {"set": ["objective.mask_probability=0.3"]},
    # A weaker generator gives easier replacements.
    "gen1/8": {"set": ["model.generator_size_fraction=0.125"]},
    "gen1/4-1layer": {"set": ["model.generator_size_fraction=0.25", "model.generator_layers_fraction=0.5"]},
    # Longer, fuller sequences at the same tokens per batch.
    "seq128-b16": {"set": ["data.sequence_length=128", "training.batch_size=16"]},
    "nodropout": {"set": ["model.dropout=0.0"]},
    "discw20": {"set": ["objective.discriminator_weight=20.0"]},
    # The MLM, not the (collapsing) discriminator, shapes the shared embeddings.
    "discw5": {"set": ["objective.discriminator_weight=5.0"]},
    # Initialisation scale. The official 0.02 is about 0.55/sqrt(768) for Base;
    # for a 128-wide model it is 0.23/sqrt(128), so attention logits start
    # near 0 and attention stays uniform (a saddle) for thousands of steps.
    "init0.05": {"set": ["model.initializer_range=0.05"]},
    "init0.088": {"set": ["model.initializer_range=0.088"]},
    # Bigger batches: Adam's step follows the sign of the averaged gradient, so
    # a weak but consistent signal (neighbours) needs a better signal-to-noise
    # ratio, not a bigger learning rate. 1000 steps of 128 = 2x the baseline's tokens.
    "b128-lr2e-3": {"set": ["training.batch_size=128", "optimizer.learning_rate=2e-3",
                            "training.num_steps=1000", "training.steps_per_checkpoint=250"]},
    "init0.05-seq32-b64-mask0.3": {"set": ["model.initializer_range=0.05", "data.sequence_length=32",
                                           "training.batch_size=64", "objective.mask_probability=0.3"]},
    # The best short-run arm, given about 30 minutes.
    "init0.05-seq32-b64-6000": {"set": ["model.initializer_range=0.05", "data.sequence_length=32",
                                        "training.batch_size=64", "training.num_steps=6000",
                                        "training.steps_per_eval=500", "training.steps_per_checkpoint=1000"]},
    # A much weaker generator (1/4 width, 1 layer): easier replacements for longer.
    "init0.05-weakgen": {"set": ["model.initializer_range=0.05", "model.generator_size_fraction=0.25",
                                 "model.generator_layers_fraction=0.5"]},
    # Short sequences: uniform attention over 32 tokens is nearly local.
    "init0.05-seq32-b64": {"set": ["model.initializer_range=0.05", "data.sequence_length=32",
                                   "training.batch_size=64"]},
    # English only, lowercase 4k vocabulary learned on it.
    "en-lower4k": {
        "corpus": BROWN, "set": ["data.lowercase=true"],
        "vocab": {"size": 4000, "lowercase": True, "corpus": BROWN},
    },
}

# Not runnable here: arms of study-19 that needed model options added on that
# branch only (`model.discriminator_bias_init`, `model.position_embedding_init`,
# `model.tie_generator_to_discriminator`), which main does not have. They were
# bias-2, bias-2-lr3e-3, mask0.3-bias-1, init0.05-lr3e-3-bias-2, sinpos,
# init0.05-sinpos, tied, tied-init0.05, tied-init0.05-discw5 and
# tied-init0.05-discw1. The finished ones (bias-2, init0.05-sinpos) stay in
# benchmarks/results/pretraining_study.json, measured on study-19 at ae9650d;
# the stopped tied-init0.05 and tied-init0.05-discw5 are only in the notes'
# table (benchmarks/pretraining_study.md). `--table` still prints the stored ones.


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", help="comma-separated arm names (see --list); default: all")
    parser.add_argument("--list", action="store_true", help="print the arms and exit")
    parser.add_argument("--table", action="store_true", help="print the stored results and exit")
    parser.add_argument("--work", default=str(ROOT / "runs" / "study"), help="one folder per arm")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="JSON results (merged)")
    parser.add_argument("--probe", help="labelled task folder (train/test.jsonl): probe accuracy per evaluation")
    parser.add_argument("--seed", type=int, help="training.seed for every arm (arm name gets a -seedN suffix)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="an extra config override for every arm, after the arm's own (repeatable); for a smoke test "
        "such as --set training.num_steps=20, with --work and --output elsewhere",
    )
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="the summary's wall-clock budget")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--no-nice", action="store_true", help="do not lower the training processes' priority")
    return parser.parse_args(argv)


def resolve_path(path):
    if path == "<bundled:brown_en>":
        from electra_keras.data.corpus import DEFAULT_CORPUS

        return DEFAULT_CORPUS[0]
    path = pathlib.Path(path)
    return path if path.is_absolute() else ROOT / path


def arm_settings(name, arm, args):
    """The command-line pieces of an arm: config, overrides, corpus, vocab."""
    overrides = [*COMMON, *arm.get("set", []), *args.set]
    if args.seed is not None:
        overrides.append(f"training.seed={args.seed}")
    return {
        "config": str(resolve_path(arm.get("config", DEFAULT_CONFIG))),
        "set": overrides,
        "corpus": [str(resolve_path(p)) for p in arm["corpus"]] if arm.get("corpus") else None,
        "data": str(resolve_path(arm["data"])) if arm.get("data") else None,
        "vocab": arm.get("vocab"),
        "probe": str(resolve_path(args.probe)) if args.probe else None,
    }


def ensure_vocab(spec, work, python, nice):
    """A vocab.txt path: as given, or learned once into `work/vocabs/`."""
    if spec is None or isinstance(spec, str):
        return str(resolve_path(spec)) if spec else None
    corpus = [str(resolve_path(p)) for p in spec["corpus"]]
    key = hashlib.sha256(json.dumps([corpus, spec["size"], spec["lowercase"]]).encode()).hexdigest()[:12]
    path = pathlib.Path(work) / "vocabs" / f"vocab-{spec['size']}-{'lower' if spec['lowercase'] else 'cased'}-{key}.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        command = [python, str(ROOT / "scripts" / "build_vocab.py"), *corpus, "--output", str(path),
                   "--size", str(spec["size"])] + (["--lowercase"] if spec["lowercase"] else [])
        print(f"learning vocabulary {path.name}", flush=True)
        subprocess.run(command, check=True, env=child_env(), preexec_fn=(lambda: os.nice(19)) if nice else None)
    return str(path)


def child_env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def expected_config(settings):
    from electra_keras.config import ElectraConfig

    overrides = list(settings["set"])
    if settings["probe"]:
        overrides.append(f"training.probe_data={settings['probe']}")
    return ElectraConfig.from_yaml(settings["config"], overrides).to_dict()


def reusable(run_dir, study_file, settings, vocab):
    """True if `run_dir` holds a complete run of exactly these settings."""
    from electra_keras.config import ElectraConfig

    state_path = run_dir / "run_state.json"
    if not (state_path.exists() and study_file.exists() and (run_dir / "metrics.json").exists()):
        return False
    if json.loads(state_path.read_text()).get("status") != "complete":
        return False
    saved = ElectraConfig.from_yaml(run_dir / "config.yaml").to_dict()
    if saved != expected_config(settings):
        return False
    study = json.loads(study_file.read_text())
    return study.get("command") == command_for(settings, vocab, run_dir, "")[1:]


def command_for(settings, vocab, run_dir, python):
    command = [python, str(ROOT / "scripts" / "pretrain.py"), "--config", settings["config"]]
    for override in settings["set"]:
        command += ["--set", override]
    if settings["corpus"]:
        command += ["--corpus", *settings["corpus"]]
    if settings["data"]:
        command += ["--data", settings["data"]]
    if vocab:
        command += ["--vocab", vocab]
    if settings["probe"]:
        command += ["--probe", settings["probe"]]
    return command + ["--output", str(run_dir)]


# Keras' end-of-epoch line at verbose=2: "250/250 - 66s - 265ms/step - ... val_disc_auc: 0.6233 ...".
EPOCH_LINE = re.compile(r"^\s*\d+/\d+ - .*val_")


def cpu_seconds(pid):
    """User + system CPU seconds of a running process (Linux /proc)."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_arm(name, settings, vocab, work, python, nice):
    """Runs one arm to completion; returns its study record (timings, command)."""
    run_dir = pathlib.Path(work) / name
    command = command_for(settings, vocab, run_dir, python) + ["--overwrite"]
    log_path = pathlib.Path(work) / f"{name}.log"
    print(f"[{name}] {' '.join(command[1:])}", flush=True)
    started = time.time()
    marks = []
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env(),
            preexec_fn=(lambda: os.nice(19)) if nice else None,
        )
        for line in process.stdout:
            log.write(line)
            log.flush()
            if EPOCH_LINE.match(line):
                # One mark per evaluation, in order: the i-th mark is the i-th evaluation.
                marks.append({
                    "seconds": time.time() - started,
                    "cpu_seconds": cpu_seconds(process.pid),
                    "load": os.getloadavg()[0],
                    "ms_per_step": _ms_per_step(line),
                })
                print(f"[{name}] {time.time() - started:6.0f}s {_short(line)}", flush=True)
        code = process.wait()
    if code:
        raise RuntimeError(f"arm {name} failed (exit {code}); see {log_path}")
    return {
        "command": command[1:-1],
        "seconds": time.time() - started,
        "marks": marks,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _ms_per_step(line):
    match = re.search(r"(\d+)ms/step", line)
    return int(match.group(1)) if match else None


def _short(line):
    keep = ("val_disc_auc", "val_disc_accuracy", "val_replaced_fraction", "val_gen_accuracy", "val_probe_accuracy")
    found = dict(re.findall(r"(\w+): ([\d.]+)", line))
    return " ".join(f"{k[4:]} {found[k]}" for k in keep if k in found)


def arm_result(name, settings, study, run_dir):
    """Per-evaluation rows joined with their wall-clock marks."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    marks = study["marks"]
    rows = []
    for i, evaluation in enumerate(metrics["evaluations"]):
        mark = marks[i] if i < len(marks) else {}
        rows.append({
            "step": evaluation["step"],
            "minutes": round(mark["seconds"] / 60, 2) if "seconds" in mark else None,
            "cpu_minutes": round(mark["cpu_seconds"] / 60, 2) if mark.get("cpu_seconds") else None,
            "load": round(mark["load"], 2) if "load" in mark else None,
            "disc_auc": evaluation.get("disc_auc"),
            "disc_accuracy": evaluation.get("disc_accuracy"),
            "all_original_accuracy": 1.0 - evaluation["replaced_fraction"],
            "gen_accuracy": evaluation.get("gen_accuracy"),
            "mlm_loss": evaluation.get("mlm_loss"),
            "probe_accuracy": evaluation.get("probe_accuracy"),
        })
    return {
        "settings": {k: v for k, v in settings.items() if v},
        "total_minutes": round(study["seconds"] / 60, 2),
        "ms_per_step": [m.get("ms_per_step") for m in marks],
        "data": metrics.get("data"),
        "finished": study.get("finished"),
        "evaluations": rows,
    }


def within_budget(result, minutes):
    rows = [r for r in result["evaluations"] if r["minutes"] is not None and r["minutes"] <= minutes]
    return rows[-1] if rows else None


def print_tables(results, budget):
    print("\n## Summary\n")
    print(f"| arm | steps | total min | final AUC | disc acc / all-original | gen acc | AUC at <= {budget:g} min | first min with AUC >= 0.85 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        rows = result["evaluations"]
        if not rows:
            continue
        last = rows[-1]
        budget_row = within_budget(result, budget)
        first = next((r for r in rows if r["disc_auc"] >= 0.85), None)
        print(
            f"| {name} | {last['step']} | {result['total_minutes']:.1f} | {last['disc_auc']:.3f} | "
            f"{last['disc_accuracy']:.3f} / {last['all_original_accuracy']:.3f} | {last['gen_accuracy']:.3f} | "
            + (f"{budget_row['disc_auc']:.3f} (step {budget_row['step']})" if budget_row else "-") + " | "
            + (f"{first['minutes']:.1f} (step {first['step']})" if first else "-") + " |"
        )
    print("\n## Per evaluation\n")
    print("| arm | step | minutes | disc AUC | disc acc | all-original | gen acc | probe |")
    print("|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        for row in result["evaluations"]:
            probe = f"{row['probe_accuracy']:.3f}" if row.get("probe_accuracy") is not None else "-"
            minutes = f"{row['minutes']:.1f}" if row["minutes"] is not None else "-"
            print(
                f"| {name} | {row['step']} | {minutes} | {row['disc_auc']:.3f} | {row['disc_accuracy']:.3f} | "
                f"{row['all_original_accuracy']:.3f} | {row['gen_accuracy']:.3f} | {probe} |"
            )


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for name, arm in ARMS.items():
            print(f"{name}: {json.dumps(arm)}")
        return 0
    output = pathlib.Path(args.output)
    stored = json.loads(output.read_text()) if output.exists() else {"arms": {}}
    if args.table:
        print_tables(stored["arms"], args.budget_minutes)
        return 0
    if args.set and output.resolve() == DEFAULT_OUTPUT.resolve():
        sys.exit("--set changes the arms: pass --output elsewhere so the stored results stay the study's")
    names = args.arms.split(",") if args.arms else list(ARMS)
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        sys.exit(f"unknown arms {unknown}; see --list")
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for name in names:
        settings = arm_settings(name, ARMS[name], args)
        label = name if args.seed is None else f"{name}-seed{args.seed}"
        vocab = ensure_vocab(settings["vocab"], work, args.python, not args.no_nice)
        settings["vocab"] = vocab
        run_dir, study_file = work / label, work / f"{label}.study.json"
        if reusable(run_dir, study_file, settings, vocab):
            print(f"[{label}] reusing {run_dir}")
            study = json.loads(study_file.read_text())
        else:
            try:
                study = run_arm(label, settings, vocab, work, args.python, not args.no_nice)
            except RuntimeError as error:  # a failed or stopped arm: go on with the others
                print(f"[{label}] {error}", flush=True)
                continue
            study_file.write_text(json.dumps(study, indent=2))
        stored["arms"][label] = arm_result(label, settings, study, run_dir)
        stored["machine"] = {"cpus": os.cpu_count(), "note": "2 CPU cores shared with other work; see load"}
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(stored, indent=2))
    print_tables({k: stored["arms"][k] for k in stored["arms"]}, args.budget_minutes)
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
