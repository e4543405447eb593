"""Tagging and question answering on the real tasks: a pretrained encoder, the untrained one, and lexical baselines.

For each task (`scripts/fetch_labelled_data.py --task ...` fetches them) and
seed, the arms:

- `pretrained`: `scripts/finetune.py`'s job with its defaults (`--task
  tagging` or `--task qa`), from `--init-from`;
- `untrained`: the same sizes and vocabulary from random weights;
- tagging, `memorise`: the CoNLL baseline, each word's most frequent
  training tag (unknown words `O`);
- QA, `no_answer`: "" for every question (what v2.0's unanswerable share
  scores), and `align`: a string matcher that looks for the text around the
  blank of a cloze question in the context and answers what lies between
  (an upper bound on what the cloze construction asks).

The neural arms train on a fixed random subset (`--train-sentences`,
`--train-pages`) with 10% of it held out as the dev file that picks the
epoch, and are scored once on the task's test/dev split (`--test-rows`
sentences or pages). Every (task, arm, seed) runs in its own process and
writes its result to `--work`; a finished unit is reused. Prints a table
(entity F1 for tagging; the official EM/F1 for QA; mean and standard
deviation over seeds) and writes `benchmarks/results/tagging_and_qa.json`.

Example:
    ```
    python scripts/fetch_labelled_data.py --task libreoffice_ko_ui --task brown_names \\
        --task libreoffice_ko_qa --output data/labelled
    python benchmarks/tagging_and_qa.py --init-from runs/default
    ```
"""

import argparse
import collections
import json
import pathlib
import random
import statistics
import sys
import time

from harness import run_units

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TAGGING_TASKS = ("libreoffice_ko_ui", "brown_names")
QA_TASKS = ("libreoffice_ko_qa", "libreoffice_zh_qa")
ARMS = {"tagging": ("pretrained", "untrained", "memorise"), "qa": ("pretrained", "untrained", "no_answer", "align")}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init-from", nargs="+", required=True, help="the pretrained encoder (any --init-from)")
    parser.add_argument("--tasks", nargs="+", default=["libreoffice_ko_ui", "brown_names", "libreoffice_ko_qa"],
                        choices=TAGGING_TASKS + QA_TASKS)
    parser.add_argument("--data", default=str(ROOT / "data" / "labelled"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-sentences", type=int, default=2000)
    parser.add_argument("--train-pages", type=int, default=120)
    parser.add_argument("--test-rows", type=int, default=1000, help="test sentences, or QA dev pages / 5")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--work", default=str(ROOT / "runs" / "tagging_and_qa"))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "tagging_and_qa.json"))
    parser.add_argument("--unit", nargs=3, metavar=("TASK", "ARM", "SEED"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def kind_of(task):
    return "qa" if task in QA_TASKS else "tagging"


def unit_settings(args, task, arm, seed):
    return {"init_from": args.init_from, "task": task, "arm": arm, "seed": seed, "epochs": args.epochs,
            "train_sentences": args.train_sentences, "train_pages": args.train_pages, "test_rows": args.test_rows,
            "sequence_length": args.sequence_length}


def _sample(items, size, seed=0):
    items = list(items)
    random.Random(seed).shuffle(items)
    return items[:size]


def prepare_tagging(args, task, work):
    """train/dev/test CoNLL files of the unit (the same subset for every seed)."""
    from electra_keras.tasks.formats.tagging import read_tagged

    folder = pathlib.Path(args.data) / task
    rows = _sample(read_tagged(folder / "train.conll"), args.train_sentences)
    cut = len(rows) // 10
    test = _sample(read_tagged(folder / "test.conll"), args.test_rows)
    for name, split in (("train", rows[cut:]), ("dev", rows[:cut]), ("test", test)):
        with open(work / f"{name}.conll", "w", encoding="utf-8") as out:
            for sentence in split:
                out.write("".join(f"{w} {t}\n" for w, t in zip(sentence.words, sentence.tags)) + "\n")
    return rows[cut:], test


def prepare_qa(args, task, work):
    """train/dev/test SQuAD v2.0 files of the unit (pages sampled; the same for every seed)."""
    folder = pathlib.Path(args.data) / task
    train = json.loads((folder / "train.json").read_text(encoding="utf-8"))
    pages = _sample(train["data"], args.train_pages)
    cut = max(1, len(pages) // 10)
    test = json.loads((folder / "dev.json").read_text(encoding="utf-8"))
    splits = {"train": pages[cut:], "dev": pages[:cut], "test": _sample(test["data"], max(1, args.test_rows // 5))}
    for name, data in splits.items():
        (work / f"{name}.json").write_text(json.dumps({"version": "v2.0", "data": data}, ensure_ascii=False),
                                           encoding="utf-8")


def run_unit(args, task, arm, seed):
    """One (task, arm, seed): fine-tune or apply the baseline, score on the test split."""
    work = pathlib.Path(args.work) / f"{task}-{arm}-{seed}"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if kind_of(task) == "tagging":
        result = _tagging_unit(args, task, arm, seed, work)
    else:
        result = _qa_unit(args, task, arm, seed, work)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _tagging_unit(args, task, arm, seed, work):
    from electra_keras.tasks.formats.tagging import entity_metrics
    from electra_keras.tasks.formats.tagging import read_tagged
    from electra_keras.tasks.formats.tagging import repair_tags

    train, _ = prepare_tagging(args, task, work)
    test = read_tagged(work / "test.conll")
    gold = [sentence.tags for sentence in test]
    if arm == "memorise":
        counts = collections.defaultdict(collections.Counter)
        for sentence in train:
            for word, tag in zip(sentence.words, sentence.tags):
                counts[word][tag] += 1
        guesses = [repair_tags([counts[w].most_common(1)[0][0] if w in counts else "O" for w in s.words])
                   for s in test]
        scores = entity_metrics(gold, guesses)
        return {key: scores[key] for key in ("precision", "recall", "f1")}
    from electra_keras.finetuning.job import FinetuningSettings
    from electra_keras.finetuning.job import run_finetuning
    from electra_keras.finetuning.predict import predict_file

    settings = FinetuningSettings(str(work / "train.conll"), str(work / "dev.conll"), str(work / "model"),
                                  task="tagging", seed=seed, epochs=args.epochs, random_init=arm == "untrained",
                                  sequence_length=args.sequence_length)
    summary = run_finetuning(args.init_from, settings, verbose=0)
    predict_file(work / "model", work / "test.conll", work / "predicted.jsonl")
    predicted = [json.loads(line)["tags"] for line in open(work / "predicted.jsonl", encoding="utf-8")]
    scores = entity_metrics(gold, predicted)
    return {**{key: scores[key] for key in ("precision", "recall", "f1")}, "dev_f1": summary["eval"]["f1"],
            "best_epoch": summary["best_epoch"], "learning_rate": summary["learning_rate"]}


def _qa_unit(args, task, arm, seed, work):
    from electra_keras.tasks.formats.qa_tasks import BLANK
    from electra_keras.tasks.formats.squad import read_squad
    from electra_keras.tasks.formats.squad import squad_metrics

    prepare_qa(args, task, work)
    test = read_squad(work / "test.json")
    if arm == "no_answer":
        texts = [""] * len(test)
    elif arm == "align":
        texts = [_aligned_answer(example, BLANK) for example in test]
    else:
        from electra_keras.finetuning.job import FinetuningSettings
        from electra_keras.finetuning.job import run_finetuning
        from electra_keras.finetuning.predict import predict_file

        settings = FinetuningSettings(str(work / "train.json"), str(work / "dev.json"), str(work / "model"),
                                      task="qa", seed=seed, epochs=args.epochs, random_init=arm == "untrained",
                                      sequence_length=args.sequence_length)
        summary = run_finetuning(args.init_from, settings, verbose=0)
        predict_file(work / "model", work / "test.json", work / "answers.jsonl")
        answers = {row["id"]: row["answer"] for row in map(json.loads, open(work / "answers.jsonl", encoding="utf-8"))}
        texts = [answers[example.id] for example in test]
        scores = squad_metrics(test, texts)
        return {"exact": scores["exact"], "f1": scores["f1"], "dev_f1": summary["f1"],
                "best_epoch": summary["best_epoch"], "learning_rate": summary["learning_rate"]}
    scores = squad_metrics(test, texts)
    return {"exact": scores["exact"], "f1": scores["f1"]}


def _aligned_answer(example, blank):
    """What stands in the context between the question's text left and right of its blank ("" if not found)."""
    left, _, right = example.question.partition(blank)
    left, right = left[-20:], right[:20]
    start = example.context.find(left) if left else 0
    while start != -1:
        begin = start + len(left)
        end = example.context.find(right, begin) if right else min(len(example.context), begin + 20)
        if end != -1 and 0 < end - begin <= 40:
            return example.context[begin:end].strip()
        start = example.context.find(left, start + 1) if left else -1
    return ""


def summarise(args, units):
    table = {}
    for task in args.tasks:
        metrics = ("exact", "f1") if kind_of(task) == "qa" else ("precision", "recall", "f1")
        for arm in ARMS[kind_of(task)]:
            runs = [units[f"{task}-{arm}-{seed}"] for seed in range(args.seeds)]
            entry = {}
            for metric in metrics:
                values = [run[metric] for run in runs]
                entry[metric] = round(statistics.mean(values), 4)
                entry[f"{metric}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
            entry["seconds"] = round(statistics.mean(run["seconds"] for run in runs), 1)
            table.setdefault(task, {})[arm] = entry
    return table


def print_table(table):
    print("| task | arm | metric (test) | mean ± sd over seeds | seconds per run |")
    print("|---|---|---|---|---|")
    for task, arms in table.items():
        for arm, entry in arms.items():
            for metric in ("exact", "f1") if "exact" in entry else ("f1",):
                print(f"| {task} | {arm} | {metric} | {entry[metric]:.3f} ± {entry[metric + '_sd']:.3f} | "
                      f"{entry['seconds']:.0f} |")


def main(argv=None):
    args = parse_args(argv)
    if args.unit:
        task, arm, seed = args.unit
        print(json.dumps(run_unit(args, task, arm, int(seed))))
        return 0
    started = time.perf_counter()
    planned = {f"{task}-{arm}-{seed}": unit_settings(args, task, arm, seed)
               for task in args.tasks for arm in ARMS[kind_of(task)] for seed in range(args.seeds)}

    def command_for(name):
        task, arm, seed = name.rsplit("-", 2)
        return [sys.executable, __file__, "--unit", task, arm, seed, "--init-from", *args.init_from,
                "--data", args.data, "--epochs", str(args.epochs), "--work", args.work,
                "--train-sentences", str(args.train_sentences), "--train-pages", str(args.train_pages),
                "--test-rows", str(args.test_rows), "--sequence-length", str(args.sequence_length)]

    units = run_units(args.work, planned, command_for)
    table = summarise(args, units)
    print_table(table)
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "command": "python benchmarks/tagging_and_qa.py " + " ".join(sys.argv[1:]),
        "table": table, "units": units, "wall_seconds_this_invocation": round(time.perf_counter() - started, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
