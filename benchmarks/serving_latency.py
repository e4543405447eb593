"""Serving latency on realistic requests: the exported SavedModel beside Hugging Face PyTorch.

Both sides take raw text and return per-token replaced-token probabilities,
tokenization included, for the **small** discriminator (random weights:
latency does not depend on them) on the CPU.

Workloads:
- `realistic`: each request is texts drawn at random from held-out real
  text, the last 5% of the lines of the bundled English (Brown) and Korean
  (LibreOffice help) corpora, half of each, with their natural lengths
  (median about 28 and 9 WordPiece tokens). The export runs at its length
  buckets; PyTorch pads to the longest text of the request (dynamic
  padding), as it would in practice.
- `padded128`: the same requests with both sides padded to 128 tokens (the
  export with `--length-buckets 128`, PyTorch with `padding="max_length"`).

Implementations (each in its own process, alternating rounds):
- `savedmodel`: the default export (the fused serving graph of
  `export.FusedEncoder`, buckets 8/16/24/32/48/64/96/128, each text at its
  own bucket's width), TensorFlow's default thread pools; variants change
  one thing each: `_keras` (the model through its Keras layers, the export
  before the fused graph), `_longest` (the batch at its longest text's bucket),
  `_intra{N}_inter{M}` (thread pools, as TF Serving's
  `--tensorflow_intra_op_parallelism` / `--tensorflow_inter_op_parallelism`),
  `_doubling` (the widths before the finer default: 16/32/64/128),
  `_xla` (the model compiled with XLA), `_bf16` (bfloat16 compute),
  `_fixed128` (the `padded128` row).
- `hf_pytorch_t{N}`: `ElectraForPreTraining` + `BertTokenizerFast` over the
  same vocabulary under `torch.inference_mode()` with N threads (1 and all
  CPUs: the table compares against the better one).
- `onnxruntime_t{N}`: the same model exported to ONNX and run by ONNX
  Runtime's CPU provider with N intra-op threads, tokenized and padded as
  PyTorch's.

Both sides get trained-like weights (every weight moved off its initial
value): a fresh model's zero biases are folded out of TensorFlow's graph.
For each export the output also counts the ops one batch-1 request runs,
loaded as TF Serving loads it, split into tokenization, bucketing and
outputs, and the model.

The table gives p50 / p99 latency per request and texts per second at batch
sizes 1, 8 and 32 (the round with the best p50), and the ratio of the
default export to the best PyTorch and ONNX Runtime settings. Needs `pip install -e .[benchmarks]`.

Example:
    ```
    python benchmarks/serving_latency.py --rounds 2
    python benchmarks/serving_latency.py --only savedmodel hf_pytorch_t2 --requests 50
    ```
"""

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import tempfile
import time

import harness

ROOT = harness.ROOT
BATCH_SIZES = (1, 8, 32)
CPUS = os.cpu_count()
TORCH_THREADS = sorted({1, CPUS})


def tf_variant(workload="realistic", **settings):
    return {"kind": "savedmodel", "workload": workload, **settings}


IMPLEMENTATIONS = {
    "savedmodel": tf_variant(),
    "savedmodel_keras": tf_variant(fused=False),
    "savedmodel_longest": tf_variant(group_by_length=False),
    "savedmodel_doubling": tf_variant(widths=[16, 32, 64, 128]),
    **{f"savedmodel_intra{intra}_inter{inter}": tf_variant(intra=intra, inter=inter)
       for intra, inter in sorted({(CPUS, 1), (1, 1), (CPUS, CPUS)})},
    "savedmodel_xla": tf_variant(jit_compile=True),
    "savedmodel_bf16": tf_variant(precision="mixed_bfloat16"),
    "savedmodel_fixed128": tf_variant("padded128", widths=[128]),
    **{f"hf_pytorch_t{threads}": {"kind": "hf_pytorch", "workload": "realistic", "threads": threads}
       for threads in TORCH_THREADS},
    **{f"hf_pytorch_t{threads}_fixed128": {"kind": "hf_pytorch", "workload": "padded128", "threads": threads}
       for threads in TORCH_THREADS},
    **{f"onnxruntime_t{threads}": {"kind": "onnxruntime", "workload": "realistic", "threads": threads}
       for threads in TORCH_THREADS},
}
REFERENCES = ("hf_pytorch", "onnxruntime")


def held_out_texts():
    """The last 5% of the non-empty lines of each bundled corpus, English and Korean interleaved."""
    from electra_keras import data

    per_corpus = []
    for path in data.DEFAULT_CORPUS:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            lines = [line.strip() for line in file if line.strip()]
        per_corpus.append(lines[int(0.95 * len(lines)):])
    count = min(len(lines) for lines in per_corpus)
    return [text for row in zip(*(lines[:count] for lines in per_corpus)) for text in row]


def requests(texts, batch_size, count, seed):
    """`count` requests of `batch_size` texts drawn at random; the same for every implementation."""
    rng = random.Random(seed * 1000 + batch_size)
    return [rng.sample(texts, batch_size) for _ in range(count)]


def measure(call, args, warmup=()):
    """p50, p99 and texts/s per batch size; `warmup` requests run first, as TF Serving runs the warmup file."""
    texts = held_out_texts()
    for request in warmup:
        call(request)
    results = {}
    for batch_size in BATCH_SIZES:
        count = max(10, args.requests // batch_size * 2) if batch_size > 1 else args.requests
        for batch in requests(texts, batch_size, 10, seed=1):  # warm up every bucket shape
            call(batch)
        latencies = []
        for batch in requests(texts, batch_size, count, seed=2):
            start = time.perf_counter()
            call(batch)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        results[str(batch_size)] = {
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "texts_per_second": batch_size * len(latencies) / sum(latencies),
        }
    return results


def small_config(precision="float32"):
    import dataclasses

    from electra_keras.config import ElectraConfig

    config = ElectraConfig.from_yaml(ROOT / "configs" / "small.yaml")
    return dataclasses.replace(config, training=dataclasses.replace(config.training, precision=precision))


def run_savedmodel(settings, args):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(settings.get("intra", 0))
    tf.config.threading.set_inter_op_parallelism_threads(settings.get("inter", 0))
    import keras

    from electra_keras import data
    from electra_keras.data.tokenizer import load_vocabulary
    from electra_keras.data.tokenizer import make_tokenizer
    from electra_keras.export import LengthBuckets
    from electra_keras.export import export_discriminator
    from electra_keras.pretraining.trainer import build_pretrainer

    vocabulary = load_vocabulary(data.DEFAULT_VOCABULARY)
    tokenizer = make_tokenizer(vocabulary)
    keras.utils.set_random_seed(0)
    pretrainer = build_pretrainer(small_config(), tokenizer)
    trained_like(pretrainer)
    extra = {}
    if settings.get("precision", "float32") != "float32":
        pretrainer, extra = bfloat16_copy(pretrainer, tokenizer, settings["precision"])
    buckets = LengthBuckets(
        args.sequence_length, settings.get("widths"), settings.get("group_by_length", True),
        settings.get("jit_compile", False),
    )
    with tempfile.TemporaryDirectory() as folder:
        export_discriminator(pretrainer, f"{folder}/electra/1", vocabulary, args.sequence_length,
                             length_buckets=buckets, fused=settings.get("fused", True))
        extra["ops_batch1"] = count_ops(f"{folder}/electra/1")
        serve = tf.saved_model.load(f"{folder}/electra/1").signatures["serving_default"]
        results = measure(lambda batch: serve(text=tf.constant(batch))["replaced_probability"].numpy(), args,
                          warmup=[request["text"] for request in buckets.warmup_requests(vocabulary)])
    return {**results, **extra}


def count_ops(export_dir):
    """The ops a batch-1 request runs in the export loaded as TF Serving loads it, by part and op type."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "serving"))
    from graph_mode_check import ServedModel
    from graph_mode_check import ops_by_part

    served = ServedModel(export_dir)
    served.warm_up()
    text = np.array([held_out_texts()[0].encode()], dtype=object)
    return ops_by_part(served.executed_ops("serving_default", {"text": text}))


def trained_like(pretrainer):
    """Every weight moved off its initial value (biases start at zero, and a zero bias is folded out of the graph
    at load: a fresh model would serve faster than a trained one)."""
    import numpy as np

    rng = np.random.default_rng(0)
    for weight in pretrainer.weights:
        weight.assign(np.asarray(weight) + rng.normal(0.0, 0.02, weight.shape).astype(weight.dtype))


def bfloat16_copy(pretrainer, tokenizer, precision):
    """The pretrainer in `precision` with the same weights, and how far its logits move on real text."""
    import keras
    import numpy as np

    from electra_keras.export.text_encoding import ServingTextEncoder
    from electra_keras.pretraining.trainer import build_pretrainer

    copy = build_pretrainer(small_config(precision), tokenizer)
    copy.set_weights(pretrainer.get_weights())
    inputs = ServingTextEncoder(tokenizer.vocabulary, 128).encode(held_out_texts()[:64])

    def logits(model):
        outputs = model.discriminator(inputs, training=False)
        return keras.ops.convert_to_numpy(keras.ops.cast(model.discriminator_head(outputs["sequence_output"]),
                                                         "float32"))

    mask = keras.ops.convert_to_numpy(inputs["padding_mask"]) > 0
    difference = np.abs(logits(copy) - logits(pretrainer))[mask]
    return copy, {"max_logit_difference": float(difference.max()), "mean_logit_difference": float(difference.mean())}


def hf_discriminator():
    """`ElectraForPreTraining` of the small config with trained-like weights, and `BertTokenizerFast` over the
    same vocabulary."""
    import torch
    import transformers

    from electra_keras import data

    torch.manual_seed(0)
    m = small_config().model
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
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)
    return model, tokenizer


def run_onnxruntime(settings, args):
    """The Hugging Face discriminator exported to ONNX (TorchScript exporter, dynamic batch and length) and run
    by ONNX Runtime's CPU provider with `threads` intra-op threads, padded to each request's longest text."""
    import numpy as np
    import onnxruntime
    import torch

    model, tokenizer = hf_discriminator()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/electra.onnx"
        example = torch.ones((2, 16), dtype=torch.long)
        torch.onnx.export(
            model, (example, example, torch.zeros_like(example)), path, input_names=names, output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "length"} for name in [*names, "logits"]},
            dynamo=False, opset_version=17,
        )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = settings["threads"]
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def call(batch):
        encoded = tokenizer(batch, padding="longest", truncation=True, max_length=args.sequence_length,
                            return_tensors="np")
        logits = session.run(["logits"], {name: encoded[name].astype(np.int64) for name in names})[0]
        return 1.0 / (1.0 + np.exp(-logits))

    return measure(call, args)


def run_hf_pytorch(settings, args):
    import torch

    torch.set_num_threads(settings["threads"])
    model, tokenizer = hf_discriminator()
    padding = "max_length" if settings["workload"] == "padded128" else "longest"

    def call(batch):
        encoded = tokenizer(batch, padding=padding, truncation=True, max_length=args.sequence_length,
                            return_tensors="pt")
        with torch.inference_mode():
            logits = model(**encoded).logits
        return torch.sigmoid(logits).numpy()

    return measure(call, args)


RUNNERS = {"savedmodel": run_savedmodel, "hf_pytorch": run_hf_pytorch, "onnxruntime": run_onnxruntime}


def best_rows(results):
    """Per implementation and batch size, the round with the best p50 (noise only slows a round down)."""
    rows = []
    for name, rounds in results.items():
        for batch_size in BATCH_SIZES:
            best = min((r[str(batch_size)] for r in rounds), key=lambda r: r["p50_ms"])
            extra = {k: v for k, v in rounds[0].items() if not k.isdigit()}
            rows.append({"implementation": name, "workload": IMPLEMENTATIONS[name]["workload"],
                         "batch_size": batch_size, **best, **extra})
    return rows


def comparisons(rows):
    """Our exports against the best thread setting of each reference (PyTorch, ONNX Runtime), per batch size."""
    by_key = {(r["implementation"], r["batch_size"]): r for r in rows}
    ours_by_workload = (("savedmodel", "realistic"), ("savedmodel_keras", "realistic"), ("savedmodel_xla", "realistic"),
                        ("savedmodel_fixed128", "padded128"))
    lines = []
    for ours, workload in ours_by_workload:
        for reference in REFERENCES:
            for batch_size in BATCH_SIZES:
                theirs = [r for r in rows if r["implementation"].startswith(reference)
                          and r["workload"] == workload and r["batch_size"] == batch_size]
                if (ours, batch_size) not in by_key or not theirs:
                    continue
                mine = by_key[(ours, batch_size)]
                fastest = min(theirs, key=lambda r: r["p50_ms"])
                busiest = max(theirs, key=lambda r: r["texts_per_second"])
                lines.append({
                    "workload": workload, "batch_size": batch_size, "ours": ours,
                    "p50_ratio": mine["p50_ms"] / fastest["p50_ms"], "reference_p50": fastest["implementation"],
                    "throughput_ratio": mine["texts_per_second"] / busiest["texts_per_second"],
                    "reference_throughput": busiest["implementation"],
                })
    return lines


def op_count_lines(rows):
    """Per export: the ops of a batch-1 request by part (tokenization, bucketing and outputs, model) and in all."""
    lines = []
    for row in rows:
        if row["batch_size"] == 1 and "ops_batch1" in row:
            parts = {part: sum(types.values()) for part, types in row["ops_batch1"].items()}
            lines.append({"implementation": row["implementation"], **parts, "total": sum(parts.values())})
    return lines


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests at batch 1 (batch B: 2/B as many)")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", nargs="+", choices=list(IMPLEMENTATIONS), help="run these implementations only")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "serving_latency.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        settings = IMPLEMENTATIONS[args.worker]
        print(json.dumps(RUNNERS[settings["kind"]](settings, args)))
        return
    results = harness.run_workers(__file__, args.only or list(IMPLEMENTATIONS), args.rounds)
    rows = best_rows(results)
    print(f"small discriminator, up to {args.sequence_length} tokens, cpus={CPUS}, rounds={args.rounds}")
    print(f"{'implementation':<28}{'workload':<11}{'batch':>6}{'p50 ms':>9}{'p99 ms':>9}{'texts/s':>9}")
    for row in rows:
        print(f"{row['implementation']:<28}{row['workload']:<11}{row['batch_size']:>6}{row['p50_ms']:>9.1f}"
              f"{row['p99_ms']:>9.1f}{row['texts_per_second']:>9.1f}")
    ratios = comparisons(rows)
    for line in ratios:
        print(f"{line['ours']} vs {line['reference_p50']} ({line['workload']}, batch {line['batch_size']}): "
              f"p50 x{line['p50_ratio']:.2f}; texts/s x{line['throughput_ratio']:.2f} "
              f"(vs {line['reference_throughput']})")
    op_counts = op_count_lines(rows)
    if op_counts:
        print(f"ops of a batch-1 request: {'implementation':<28}{'tokenization':>13}{'bucketing+out':>14}"
              f"{'model':>7}{'total':>7}")
        for line in op_counts:
            print(f"{'':<26}{line['implementation']:<28}{line['tokenization']:>13}"
                  f"{line['bucketing and outputs']:>14}{line['model']:>7}{line['total']:>7}")
    for row in rows:
        if "max_logit_difference" in row and row["batch_size"] == 1:
            print(f"{row['implementation']}: logits within {row['max_logit_difference']:.4f} of float32 "
                  f"(mean {row['mean_logit_difference']:.4f})")
    harness.write_json(args.output, {"arguments": vars(args), "results": rows, "ratios": ratios,
                                     "op_counts": op_counts, "rounds": results})


if __name__ == "__main__":
    main()
