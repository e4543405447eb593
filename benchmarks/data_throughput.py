"""Data throughput: vocabulary trainers, the dataset builder, the pipeline.

Measures, on `--copies` files each holding the bundled corpus `--repeats` times:

- vocabulary: keras-hub's `compute_word_piece_vocabulary` beside Hugging Face
  `tokenizers`' WordPiece trainer (seconds for the same lines and size);
- the dataset builder: tokens per second with 1 process and with all cores;
- the streaming pipeline (`make_tfrecord_dataset`): tokens per second
  delivered at batch 128, sequence 128;
- what one training step of the small config consumes (128 x 128 tokens per
  step at the step time of `benchmarks/train_throughput.py`, read from its
  JSON, or measured here with `--measure-training`).

It prints a table and writes JSON. The pipeline must deliver at least 10x
what training consumes.

Example:
    ```
    python benchmarks/data_throughput.py --copies 4
    ```
"""

import argparse
import gzip
import json
import os
import pathlib
import shutil
import tempfile
import time

import harness

ROOT = harness.ROOT


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="input files")
    parser.add_argument("--repeats", type=int, default=3, help="bundled corpus repeated in each file")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--pipeline-batches", type=int, default=300)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument(
        "--training-json", default=str(ROOT / "benchmarks" / "results" / "train_throughput.json"),
        help="train_throughput.py result giving the small config's tokens/s",
    )
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "data_throughput.json"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from electra_keras import data
    from electra_keras.data.builder import BuildSettings
    from electra_keras.data.builder import build_dataset
    from electra_keras.data.tokenizer import build_vocabulary

    rows = {}
    documents, _ = data.read_corpus(data.DEFAULT_CORPUS)
    lines = [line for document in documents for line in document]
    for trainer in ("tokenizers", "keras_hub"):
        start = time.perf_counter()
        build_vocabulary(lines, args.vocabulary_size, trainer=trainer)
        rows[f"vocabulary ({trainer})"] = {"seconds": time.perf_counter() - start, "lines": len(lines)}

    folder = pathlib.Path(tempfile.mkdtemp())
    try:
        text = b"".join(gzip.open(path, "rb").read() for path in data.DEFAULT_CORPUS)
        inputs = []
        for copy in range(args.copies):
            path = folder / f"corpus-{copy}.txt"
            path.write_bytes(text * args.repeats)
            inputs.append(path)
        settings = BuildSettings(sequence_length=args.sequence_length)
        for processes in (1, os.cpu_count()):
            start = time.perf_counter()
            manifest = build_dataset(inputs, folder / f"built-{processes}", data.DEFAULT_VOCABULARY, settings, processes)
            seconds = time.perf_counter() - start
            rows[f"builder, {processes} process(es)"] = {
                "seconds": seconds, "tokens": manifest["totals"]["tokens"],
                "tokens_per_second": manifest["totals"]["tokens"] / seconds,
            }
        dataset = data.make_tfrecord_dataset(folder / "built-1", args.batch_size)
        iterator = iter(dataset)
        for _ in range(20):
            next(iterator)
        start = time.perf_counter()
        tokens = 0
        for _ in range(args.pipeline_batches):
            tokens += int(next(iterator)["padding_mask"].numpy().sum())
        seconds = time.perf_counter() - start
        rows["pipeline (real tokens)"] = {"seconds": seconds, "tokens_per_second": tokens / seconds}
        slots = args.pipeline_batches * args.batch_size * args.sequence_length
        rows["pipeline (token slots)"] = {"seconds": seconds, "tokens_per_second": slots / seconds}
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    training = json.loads(pathlib.Path(args.training_json).read_text())
    consumed = next(r for r in training["results"] if r["implementation"] == "electra_keras")["tokens_per_second"]
    rows["training consumes (small, seq 128)"] = {"tokens_per_second": consumed}
    ratio = rows["pipeline (token slots)"]["tokens_per_second"] / consumed

    print(f"{args.copies} files x bundled corpus x{args.repeats}, sequence {args.sequence_length}, cpus={os.cpu_count()}")
    print(f"{'stage':<38}{'seconds':>10}{'tokens/s':>14}")
    for name, row in rows.items():
        seconds = f"{row['seconds']:.1f}" if "seconds" in row else ""
        rate = f"{row['tokens_per_second']:.0f}" if "tokens_per_second" in row else ""
        print(f"{name:<38}{seconds:>10}{rate:>14}")
    print(f"pipeline / training consumption: {ratio:.0f}x (floor 10x)")
    harness.write_json(args.output, {"arguments": vars(args), "rows": rows, "pipeline_over_training": ratio})


if __name__ == "__main__":
    main()
