"""Serving under load: every kind of export, loaded as TF Serving loads it, driven by concurrent clients with hostile requests.

Each export (the **small** config with random weights, the bundled
vocabulary, sequence length 128: load does not depend on the weights) runs
in its own process, loaded with `serving/graph_mode_check.ServedModel` (a
graph-mode `tf.compat.v1.Session`, `loader.load` with the `serve` tag,
request arrays fed to `Session::Run` unchecked, as the model server feeds
them), after its warmup file, as the server runs it at load:

- `discriminator`: `serving_default` (text);
- `classifier_pairs`: a 3-class pair classifier, `serving_default` (text, text_pair);
- `multi_label`: a 4-class multi-label classifier, `serving_default`;
- `tagger`: `tag`;
- `answerer`: `answer` (question, context).

For each `--threads` count, that many client threads send requests for
`--seconds`, each drawn from one mix (`REQUEST_KINDS`): realistic requests
(held-out English and Korean lines, 1, 8, 32 and 64 texts), one fixed
request whose answer must stay byte-equal to the one it got before the load
(`canary`), and hostile ones: empty, whitespace-only, control characters and
NUL, invalid UTF-8, floods of emoji or combining marks, a 1 MB text, 10,000
texts, unequal pair batches, unequal pair lengths, wrong dtypes, shapes and
input names, ids outside the vocabulary. Every kind states whether it should
be answered or refused with INVALID_ARGUMENT; any other error, and any
answer that differs from what the kind expects, is counted. Resident memory
(VmRSS) is read after warmup and at the start and end of each run. The
largest requests the default limits accept (64 texts that fill the
sequence length, and 10,000-character texts up to the request's
character limit) are timed once. `--soak-seconds` adds one long run (`--soak-export`
at `--soak-threads`) with memory read every 10 s.

Prints Markdown tables and writes `benchmarks/results/serving_load.json`.

Example:
    ```
    nice python benchmarks/serving_load.py --threads 1 4 16 --seconds 20 --soak-seconds 300
    python benchmarks/serving_load.py --exports discriminator --threads 4 --seconds 5 --soak-seconds 0
    ```
"""

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import threading
import time

import harness

ROOT = harness.ROOT
EXPORTS = ("discriminator", "classifier_pairs", "multi_label", "tagger", "answerer")
SIGNATURES = {"discriminator": "serving_default", "classifier_pairs": "serving_default",
              "multi_label": "serving_default", "tagger": "tag", "answerer": "answer"}
INPUTS = {"classifier_pairs": ("text", "text_pair"), "answerer": ("question", "context")}
SEQUENCE_LENGTH = 128
# Growth allowed over the soak once the first minute has filled the allocator's caches: a leak of
# 1 KB per request would pass 150 MB in the soak's requests at 16 threads.
SOAK_GROWTH_BOUND_MB = 64


def memory_mb():
    """VmRSS and VmHWM (peak) of this process, in MB."""
    fields = {}
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":")
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


# --- Building the exports -------------------------------------------------


def build_export(name, export_dir, config_path):
    """Writes export `name` (the config's sizes, random weights) to `export_dir`."""
    import keras

    from electra_keras import data
    from electra_keras import export
    from electra_keras.config import ElectraConfig
    from electra_keras.data.tokenizer import load_vocabulary
    from electra_keras.data.tokenizer import make_tokenizer
    from electra_keras.models import ElectraClassifier
    from electra_keras.models import ElectraQuestionAnswerer
    from electra_keras.models import ElectraTextClassifier
    from electra_keras.models import ElectraTokenClassifier
    from electra_keras.pretraining.trainer import build_pretrainer

    vocabulary = load_vocabulary(data.DEFAULT_VOCABULARY)
    keras.utils.set_random_seed(0)
    pretrainer = build_pretrainer(ElectraConfig.from_yaml(config_path), make_tokenizer(vocabulary))
    encoder = pretrainer.discriminator
    if name == "discriminator":
        export.export_discriminator(pretrainer, export_dir, vocabulary, SEQUENCE_LENGTH,
                                    warmup_texts=export.DEFAULT_WARMUP_TEXTS)
    elif name == "classifier_pairs":
        export.export_classifier(ElectraClassifier(encoder, 3), export_dir, vocabulary, SEQUENCE_LENGTH,
                                 labels=["entailment", "neutral", "contradiction"], pair=True)
    elif name == "multi_label":
        classifier = ElectraTextClassifier(encoder, 4, multi_label=True, thresholds=[0.3, 0.4, 0.5, 0.6])
        export.export_classifier(classifier, export_dir, vocabulary, SEQUENCE_LENGTH, labels=["w", "x", "y", "z"])
    elif name == "tagger":
        labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
        export.export_tagger(ElectraTokenClassifier(encoder, len(labels)), export_dir, vocabulary, SEQUENCE_LENGTH,
                             labels)
    else:
        export.export_answerer(ElectraQuestionAnswerer(encoder), export_dir, vocabulary, SEQUENCE_LENGTH,
                               null_threshold=0.0)


# --- The request mix -------------------------------------------------------


def strings(texts):
    import numpy as np

    return np.array([t.encode("utf-8") if isinstance(t, str) else t for t in texts], dtype=object)


def realistic_texts():
    from serving_latency import held_out_texts

    return held_out_texts()


def request_kinds(name, texts):
    """{kind: (weight, inputs, expected)} for export `name`; expected is "answered" or "refused"."""
    import numpy as np

    inputs = INPUTS.get(name, ("text",))
    rng = random.Random(0)

    def same(values):
        """The same texts in every input (a pair's second text, the answerer's context)."""
        return {input_name: strings(values) for input_name in inputs}

    def realistic(rows):
        if len(inputs) == 1:
            return same(rng.sample(texts, rows))
        if name == "answerer":  # a short question, a context of a few lines
            lines = 4 if rows <= 8 else 1  # 32 contexts of 4 lines would come near the request's character limit
            return {"question": strings([" ".join(t.split()[:6]) for t in rng.sample(texts, rows)]),
                    "context": strings([" ".join(rng.sample(texts, lines)) for _ in range(rows)])}
        return {"text": strings(rng.sample(texts, rows)), "text_pair": strings(rng.sample(texts, rows))}

    kinds = {
        "realistic_1": (24, realistic(1), "answered"),
        "realistic_8": (6, realistic(8), "answered"),
        "realistic_32": (2, realistic(32), "answered"),
        "realistic_64": (1, realistic(64), "answered"),
        "canary": (6, realistic(4), "answered"),
        "empty": (1, same([""]), "answered"),
        "whitespace": (1, same([" \t\n\u3000\u00a0 "]), "answered"),
        "control_and_nul": (1, same(["a\x00b\x01c \x1b[31mred\x7f \u200bzero\u2028line"]), "answered"),
        "invalid_utf8": (1, same([b"caf\xe9 \xff\xfe broken \xc3", b"\x80" * 100]), "answered"),
        "emoji_flood": (1, same(["\U0001f600" * 9_000]), "answered"),
        "combining_flood": (1, same(["e" + "\u0301" * 9_000]), "answered"),
        "text_1mb": (1, same(["word " * 200_000]), "refused"),
        "texts_100_of_2000": (1, same(["word " * 400] * 100), "refused"),
        "texts_10000": (1, same(["hello"] * 10_000), "refused"),
        "wrong_dtype": (1, {input_name: np.array([1.5, 2.5], np.float32) for input_name in inputs}, "refused"),
        "wrong_shape": (1, {input_name: strings(["a", "b"]).reshape(1, 2) for input_name in inputs}, "refused"),
        "wrong_input_name": (1, {"txt": strings(["a"])}, "refused"),
    }
    if len(inputs) == 2:
        first, second = inputs
        kinds["pair_batches_unequal"] = (1, {first: strings(["a", "b"]), second: strings(["c"])}, "refused")
        kinds["pair_lengths_unequal"] = (2, {first: strings(["Who?"]), second: strings([" ".join(texts[:200])[:9_000]])},
                                         "answered")
        kinds["pair_lengths_unequal_reversed"] = (
            1, {first: strings([" ".join(texts[:200])[:9_000]]), second: strings(["Who?"])}, "answered")
    return kinds


def largest_accepted(name, texts):
    """The largest requests the default limits accept, in every input: {label: inputs}.

    64 texts sharing the request's characters (1,562 each, 312 for the
    answerer: a text fills the sequence length), and 10,000-character texts
    up to the request's character limit.
    """
    from electra_keras.export.request_limits import ANSWERER_MAX_REQUEST_CHARACTERS
    from electra_keras.export.request_limits import RequestLimits

    limits = RequestLimits()
    total = ANSWERER_MAX_REQUEST_CHARACTERS if name == "answerer" else limits.max_request_characters
    long_text = (" ".join(texts[:400]) * 2)[: limits.max_text_characters]
    requests = {}
    for rows in (limits.max_texts, total // limits.max_text_characters):
        characters = min(limits.max_text_characters, total // rows)
        inputs = {input_name: strings([long_text[:characters]] * rows) for input_name in INPUTS.get(name, ("text",))}
        requests[f"{rows} x {characters:,}"] = inputs
    return requests


# --- Running the load -------------------------------------------------------


def percentile(values, fraction):
    values = sorted(values)
    return values[min(len(values) - 1, int(fraction * len(values)))] if values else None


def drive(served, signature, kinds, reference, threads, seconds, seed, every_kind=False):
    """`threads` clients sending requests drawn from `kinds` for `seconds`; returns the counts and latencies.

    With `every_kind`, one client sends each kind once instead.
    """
    import tensorflow as tf
    from graph_mode_check import answer_digest

    names = list(kinds)
    weights = [kinds[kind][0] for kind in names]
    lock = threading.Lock()
    by_kind = {kind: {"sent": 0, "answered": 0, "invalid_argument": 0, "other_errors": {}, "unexpected": 0}
               for kind in names}
    latencies, canary_mismatches, messages = [], [0], {}
    deadline = time.monotonic() + seconds

    def client(index):
        rng = random.Random(seed * 1000 + index)
        queue = list(names) if every_kind else None
        while queue if every_kind else time.monotonic() < deadline:
            kind = queue.pop() if every_kind else rng.choices(names, weights)[0]
            _, inputs, expected = kinds[kind]
            start = time.perf_counter()
            error = None
            try:
                outputs = served(signature, inputs)
            except tf.errors.InvalidArgumentError as caught:
                error, outcome = caught, "invalid_argument"
            except Exception as caught:  # noqa: BLE001  (every other failure is what the benchmark counts)
                error, outcome = caught, type(caught).__name__
            else:
                outcome = "answered"
            elapsed = time.perf_counter() - start
            with lock:
                counts = by_kind[kind]
                counts["sent"] += 1
                if outcome in ("answered", "invalid_argument"):
                    counts[outcome] += 1
                else:
                    counts["other_errors"][outcome] = counts["other_errors"].get(outcome, 0) + 1
                if (outcome == "answered") != (expected == "answered"):
                    counts["unexpected"] += 1
                if error is not None and kind not in messages:
                    messages[kind] = first_line(error)
                if kind.startswith("realistic") or kind == "canary":
                    latencies.append(elapsed)
            if kind == "canary" and outcome == "answered" and answer_digest(outputs) != reference:
                with lock:
                    canary_mismatches[0] += 1

    pool = [threading.Thread(target=client, args=(index,)) for index in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started
    sent = sum(counts["sent"] for counts in by_kind.values())
    return {
        "threads": threads, "seconds": wall, "sent": sent,
        "answered": sum(counts["answered"] for counts in by_kind.values()),
        "invalid_argument": sum(counts["invalid_argument"] for counts in by_kind.values()),
        "other_errors": sum(sum(counts["other_errors"].values()) for counts in by_kind.values()),
        "unexpected": sum(counts["unexpected"] for counts in by_kind.values()),
        "canary_answers": by_kind["canary"]["answered"], "canary_mismatches": canary_mismatches[0],
        "requests_per_second": sent / wall,
        "p50_ms": 1000 * percentile(latencies, 0.5), "p99_ms": 1000 * percentile(latencies, 0.99),
        "by_kind": by_kind, "messages": messages,
    }


def first_line(error):
    """The error's message without TensorFlow's traceback lines, as the server's answer would show it."""
    lines = [line.strip() for line in getattr(error, "message", str(error)).splitlines()]
    lines = [line for line in lines if line and line != "Graph execution error:" and not line.startswith("[[")]
    return (lines[0] if lines else type(error).__name__)[:300]


def run_worker(name, args):
    from graph_mode_check import ServedModel
    from graph_mode_check import answer_digest

    export_dir = pathlib.Path(args.models) / name / "1"
    rss_before_load, _ = memory_mb()
    start = time.perf_counter()
    served = ServedModel(export_dir)
    warmup_requests = served.warm_up()
    load_seconds = time.perf_counter() - start
    rss_after_warmup, _ = memory_mb()
    texts = realistic_texts()
    kinds = request_kinds(name, texts)
    signature = SIGNATURES[name]
    reference = answer_digest(served(signature, kinds["canary"][1]))
    drive(served, signature, {kind: (1, *rest) for kind, (_, *rest) in kinds.items()}, reference, 1,
          seconds=0, seed=0, every_kind=True)  # one of each before the clocks start
    result = {"export": name, "load_seconds": load_seconds,
              "warmup_requests": warmup_requests, "rss_mb_before_load": rss_before_load,
              "rss_mb_after_warmup": rss_after_warmup,
              "expected": {kind: expected for kind, (_, _, expected) in kinds.items()}, "runs": []}
    if args.soak:
        result["soak"] = soak(served, signature, kinds, reference, args)
        return result
    for threads in args.threads:
        rss_start, _ = memory_mb()
        run = drive(served, signature, kinds, reference, threads, args.seconds, seed=threads)
        rss_end, peak = memory_mb()
        result["runs"].append({**run, "rss_mb_start": rss_start, "rss_mb_end": rss_end, "rss_mb_peak": peak})
    if args.largest:
        result["largest_accepted"] = {}
        for label, inputs in largest_accepted(name, texts).items():
            rss_start, _ = memory_mb()
            start = time.perf_counter()
            served(signature, inputs)
            result["largest_accepted"][label] = {"seconds": time.perf_counter() - start, "rss_mb_before": rss_start,
                                                 "rss_mb_peak": memory_mb()[1]}
    return result


def soak(served, signature, kinds, reference, args):
    """One long run at `--soak-threads`, memory read every 10 s; the growth after the first minute is bounded."""
    samples = [(0.0, memory_mb()[0])]
    done = threading.Event()
    started = time.monotonic()

    def sample():
        while not done.wait(10):
            samples.append((time.monotonic() - started, memory_mb()[0]))

    sampler = threading.Thread(target=sample)
    sampler.start()
    run = drive(served, signature, kinds, reference, args.soak_threads, args.soak_seconds, seed=99)
    done.set()
    sampler.join()
    samples.append((time.monotonic() - started, memory_mb()[0]))
    settled = [rss for at, rss in samples if at >= min(60.0, args.soak_seconds / 5)]
    growth = samples[-1][1] - settled[0]
    return {**run, "rss_mb_start": samples[0][1], "rss_mb_end": samples[-1][1], "rss_mb_peak": memory_mb()[1],
            "rss_mb_samples": samples, "growth_after_first_minute_mb": growth,
            "growth_bound_mb": SOAK_GROWTH_BOUND_MB, "within_bound": growth <= SOAK_GROWTH_BOUND_MB}


# --- The parent: one process per export --------------------------------------


def run_export(name, args, soak_run=False):
    """Runs export `name`'s worker (after building it in a process of its own); a dead worker is a result too."""
    base = [sys.executable, __file__, *sys.argv[1:], "--worker", name, "--models", args.models]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not (pathlib.Path(args.models) / name / "1" / "saved_model.pb").is_file():
        built = subprocess.run([*base, "--build"], capture_output=True, text=True, check=False, env=environment)
        if built.returncode:
            sys.exit(f"building {name} failed:\n{built.stderr[-3000:]}")
    completed = subprocess.run([*base, *(["--soak"] if soak_run else [])], capture_output=True, text=True,
                               check=False, env=environment)
    if completed.returncode:
        # A request that kills the server is the failure this benchmark looks for: record it, go on.
        return {"export": name, "died": completed.returncode, "stderr": completed.stderr[-3000:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def print_tables(results, soak_result):
    print("| export | threads | requests | answered | refused (InvalidArgument) | other errors | unexpected "
          "| canary answers (mismatched) | p50 / p99 ms | RSS start / end MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        if "died" in result:
            print(f"| {result['export']} | | process died (exit {result['died']}) | | | | | | | |")
            continue
        for run in result["runs"]:
            print(f"| {result['export']} | {run['threads']} | {run['sent']} | {run['answered']} "
                  f"| {run['invalid_argument']} | {run['other_errors']} | {run['unexpected']} "
                  f"| {run['canary_answers']} ({run['canary_mismatches']}) "
                  f"| {run['p50_ms']:.0f} / {run['p99_ms']:.0f} | {run['rss_mb_start']:.0f} / {run['rss_mb_end']:.0f} |")
    print()
    print("| export | largest accepted requests: seconds, RSS before / peak MB |")
    print("|---|---|")
    for result in results:
        if "largest_accepted" in result:
            cells = [f"{label}: {run['seconds']:.1f} s, {run['rss_mb_before']:.0f} / {run['rss_mb_peak']:.0f}"
                     for label, run in result["largest_accepted"].items()]
            print(f"| {result['export']} | {'; '.join(cells)} |")
    kinds = {}
    for result in results:
        for run in result.get("runs", []):
            for kind, counts in run["by_kind"].items():
                merged = kinds.setdefault(kind, {"expected": result["expected"][kind], "sent": 0, "answered": 0,
                                                 "invalid_argument": 0, "other": 0, "unexpected": 0, "message": ""})
                merged["sent"] += counts["sent"]
                merged["answered"] += counts["answered"]
                merged["invalid_argument"] += counts["invalid_argument"]
                merged["other"] += sum(counts["other_errors"].values())
                merged["unexpected"] += counts["unexpected"]
                merged["message"] = merged["message"] or run["messages"].get(kind, "")
    print()
    print("| request kind | expected | sent | answered | InvalidArgument | other | unexpected | first refusal message |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, merged in kinds.items():
        message = merged["message"].replace("|", "\\|")
        print(f"| {kind} | {merged['expected']} | {merged['sent']} | {merged['answered']} "
              f"| {merged['invalid_argument']} | {merged['other']} | {merged['unexpected']} | {message} |")
    if soak_result and "soak" in soak_result:
        run = soak_result["soak"]
        print()
        print(f"soak: {soak_result['export']} at {run['threads']} threads for {run['seconds']:.0f} s: {run['sent']} "
              f"requests, {run['other_errors']} other errors, {run['unexpected']} unexpected, "
              f"{run['canary_mismatches']} canary mismatches of {run['canary_answers']}; p50 / p99 "
              f"{run['p50_ms']:.0f} / {run['p99_ms']:.0f} ms; RSS {run['rss_mb_start']:.0f} MB at the start, "
              f"{run['rss_mb_end']:.0f} MB at the end (peak {run['rss_mb_peak']:.0f}); growth after the first "
              f"minute {run['growth_after_first_minute_mb']:+.0f} MB (bound {run['growth_bound_mb']} MB: "
              f"{'within' if run['within_bound'] else 'EXCEEDED'})")
    elif soak_result:
        print(f"soak: process died (exit {soak_result['died']})")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", nargs="+", choices=EXPORTS, default=list(EXPORTS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 4, 16], help="client threads, one run each")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="the soak run's length (0: none)")
    parser.add_argument("--soak-export", choices=EXPORTS, default="discriminator")
    parser.add_argument("--soak-threads", type=int, default=16)
    parser.add_argument("--no-largest", dest="largest", action="store_false",
                        help="skip timing the largest request the limits accept")
    parser.add_argument("--config", default=str(ROOT / "configs" / "small.yaml"), help="the model's sizes")
    parser.add_argument("--models", help="folder for the exports (NAME/1), reused when there; default a temporary one")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "serving_load.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--soak", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main():
    args = parse_args()
    sys.path.insert(0, str(ROOT / "serving"))
    if args.worker and args.build:
        build_export(args.worker, pathlib.Path(args.models) / args.worker / "1", args.config)
        return
    if args.worker:
        print(json.dumps(run_worker(args.worker, args)))
        return
    with tempfile.TemporaryDirectory() as folder:
        args.models = args.models or folder
        results = []
        for name in args.exports:
            results.append(run_export(name, args))
            print(f"{name}: done", file=sys.stderr, flush=True)
        soak_result = run_export(args.soak_export, args, soak_run=True) if args.soak_seconds > 0 else None
    print(f"{pathlib.Path(args.config).stem} config, random weights, sequence length 128, cpus={os.cpu_count()}, "
          f"{args.seconds:.0f} s per run")
    print_tables(results, soak_result)
    harness.write_json(args.output, {"arguments": vars(args), "results": results, "soak": soak_result})
    if any("died" in result for result in [*results, soak_result or {}]):
        sys.exit("a serving process died")


if __name__ == "__main__":
    main()
