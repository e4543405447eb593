"""Serving latency: the exported SavedModel (text in) beside Hugging Face PyTorch.

Both sides take raw text and return per-token replaced-token probabilities,
tokenization included, for the **small** discriminator at sequence length 128
on the CPU:

- `savedmodel`: the `serving_default` signature of an `electra_keras` export
  (WordPiece inside the graph), loaded with `tf.saved_model.load`.
- `hf_pytorch`: `ElectraForPreTraining` with `BertTokenizerFast` over the same
  vocabulary, padded to 128 like the export, under `torch.inference_mode()`.

Weights are random (latency does not depend on them); texts are paragraphs of
the bundled corpus. Each side runs in its own process, alternating rounds;
the table gives p50 / p99 latency per request and texts per second at batch
sizes 1 and 32. Needs `pip install -e .[benchmarks]`.

Example:
    ```
    python benchmarks/serving_latency.py --requests 200 --rounds 2
    ```
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import harness

ROOT = harness.ROOT


def sample_texts(count):
    import gzip

    from electra_keras import data

    texts = []
    for path in data.DEFAULT_CORPUS:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            texts.extend(line for line in file.read().splitlines() if len(line) > 40)
    step = max(1, len(texts) // count)
    return texts[::step][:count]


def time_requests(call, texts, batch_size, num_requests):
    latencies = []
    for i in range(num_requests):
        start_index = (i * batch_size) % (len(texts) - batch_size)
        batch = texts[start_index : start_index + batch_size]
        start = time.perf_counter()
        call(batch)
        latencies.append(time.perf_counter() - start)
    return latencies


def run_savedmodel(args):
    import tensorflow as tf

    from electra_keras import data
    from electra_keras.config import ElectraConfig
    from electra_keras.data.tokenizer import load_vocabulary
    from electra_keras.data.tokenizer import make_tokenizer
    from electra_keras.export import export_discriminator
    from electra_keras.pretraining.trainer import build_pretrainer

    config = ElectraConfig.from_yaml(ROOT / "configs" / "small.yaml")
    vocabulary = load_vocabulary(data.DEFAULT_VOCABULARY)
    pretrainer = build_pretrainer(config, make_tokenizer(vocabulary))
    with tempfile.TemporaryDirectory() as folder:
        export_discriminator(pretrainer, f"{folder}/electra/1", vocabulary, args.sequence_length)
        serve = tf.saved_model.load(f"{folder}/electra/1").signatures["serving_default"]
        texts = sample_texts(512)
        return measure(lambda batch: serve(text=tf.constant(batch))["replaced_probability"].numpy(), texts, args)


def run_hf_pytorch(args):
    import torch
    import transformers

    from electra_keras import data
    from electra_keras.config import ElectraConfig

    torch.set_num_threads(os.cpu_count())
    m = ElectraConfig.from_yaml(ROOT / "configs" / "small.yaml").model
    tokenizer = transformers.BertTokenizerFast(
        vocab_file=str(data.DEFAULT_VOCABULARY), do_lower_case=False, strip_accents=False
    )
    model = transformers.ElectraForPreTraining(
        transformers.ElectraConfig(
            vocab_size=len(tokenizer.vocab), embedding_size=m.embedding_size, hidden_size=m.hidden_size,
            num_hidden_layers=m.num_layers, num_attention_heads=m.num_heads,
            intermediate_size=m.intermediate_size, hidden_act="gelu_new",
        )
    ).eval()

    def call(batch):
        encoded = tokenizer(batch, padding="max_length", truncation=True,
                            max_length=args.sequence_length, return_tensors="pt")
        with torch.inference_mode():
            logits = model(**encoded).logits
        return torch.sigmoid(logits).numpy()

    return measure(call, sample_texts(512), args)


def measure(call, texts, args):
    results = {}
    for batch_size in (1, 32):
        time_requests(call, texts, batch_size, 5)  # warm up
        requests = args.requests if batch_size == 1 else max(10, args.requests // 8)
        latencies = time_requests(call, texts, batch_size, requests)
        latencies.sort()
        results[str(batch_size)] = {
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "texts_per_second": batch_size * len(latencies) / sum(latencies),
        }
    return results


IMPLEMENTATIONS = {"savedmodel": run_savedmodel, "hf_pytorch": run_hf_pytorch}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests at batch 1 (batch 32: 1/8)")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "serving_latency.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        print(json.dumps(IMPLEMENTATIONS[args.worker](args)))
        return
    results = harness.run_workers(__file__, list(IMPLEMENTATIONS), args.rounds)
    rows = []
    for name, rounds in results.items():
        for batch_size in ("1", "32"):
            # The round with the best median, as noise only slows a round down.
            best = min((r[batch_size] for r in rounds), key=lambda r: r["p50_ms"])
            rows.append({"implementation": name, "batch_size": int(batch_size), **best})
    print(f"small discriminator, sequence {args.sequence_length}, cpus={os.cpu_count()}, rounds={args.rounds}")
    print(f"{'implementation':<14}{'batch':>6}{'p50 ms':>10}{'p99 ms':>10}{'texts/s':>10}")
    for row in rows:
        print(
            f"{row['implementation']:<14}{row['batch_size']:>6}{row['p50_ms']:>10.1f}"
            f"{row['p99_ms']:>10.1f}{row['texts_per_second']:>10.1f}"
        )
    harness.write_json(args.output, {"arguments": vars(args), "results": rows, "rounds": results})


if __name__ == "__main__":
    main()
