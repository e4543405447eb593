"""Training throughput: electra_keras beside the Hugging Face PyTorch approach.

Measures tokens per second of one full ELECTRA training step (masking,
generator, sampling, discriminator, both losses, backward, clipping, AdamW)
at the same sizes on the same machine, in one command:

- `electra_keras`: `ElectraPretrainer.train_step` (TensorFlow backend), the
  generator's MLM head computed only at the masked positions.
- `hf_pytorch`: the wrapper the community uses today (as in
  richarddwang/electra_pytorch): Hugging Face `ElectraForMaskedLM` +
  `ElectraForPreTraining` with tied embeddings, the generator's logits over
  every position, Gumbel sampling at the masked ones, `torch.optim.AdamW`.

- `electra_keras_jax`: the same `ElectraPretrainer` on Keras' JAX backend
  (its stateless JAX `train_step`, jitted by `fit`), data-parallel over
  every local accelerator through `keras.distribution.DataParallel`.

`--backend jax,tensorflow,torch-reference` picks implementations by backend
(`tensorflow` is `electra_keras`, `torch-reference` is `hf_pytorch`).

Every row also gives sequences/s, the model FLOPs per token (the same count
for every implementation: `electra_keras.pretraining.flops`, the useful work of the
objective with the MLM head at the masked positions only, 3x forward for
training) and the model FLOPs utilisation (MFU) against the device's peak.
The peak assumed is printed and written with its source: NVIDIA's datasheet
figures (dense, no sparsity; float32 on TF32 tensor cores, which JAX uses by
default) for known GPUs; for a CPU, cores x clock x
FLOPs per cycle (64 fp32 with two AVX-512 FMA ports, 32 with AVX2; bf16
with AMX 1024, Intel's per-core figure). `--peak-tflops` overrides it.

`--matrix` adds electra_keras variants measured in the same command:
`bf16` (mixed_bfloat16), `xla` (jit_compile), `2_devices` (MirroredStrategy
over two logical CPU devices: the replication overhead, since they share the
same cores), `accumulate_4` (the same batch as 4 accumulated micro-batches).

Each variant runs in its own subprocess (thread pools would fight in one),
alternating for `--rounds` rounds; the table gives the median and the
process's peak resident memory. Needs `pip install -e .[benchmarks]` (torch,
transformers).

Example:
    ```
    python benchmarks/train_throughput.py --config small --batch-size 32 --steps 10
    python benchmarks/train_throughput.py --matrix --steps 6
    ```
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import harness

ROOT = harness.ROOT


def model_sizes(config_name):
    sys.path.insert(0, str(ROOT))
    from electra_keras.config import ElectraConfig

    config = ElectraConfig.from_yaml(ROOT / "configs" / f"{config_name}.yaml")
    return config


# electra_keras variants: overrides of the command's own settings.
VARIANTS = {
    "electra_keras": {},
    "bf16": {"precision": "mixed_bfloat16"},
    "xla": {"jit_compile": True},
    "2_devices": {"devices": 2},
    "accumulate_4": {"accumulation": 4},
}
MATRIX = ["electra_keras", "bf16", "xla", "2_devices", "accumulate_4", "hf_pytorch"]
BACKENDS = {"tensorflow": "electra_keras", "jax": "electra_keras_jax", "torch-reference": "hf_pytorch"}

# Dense (no sparsity) peak TFLOP/s from NVIDIA's datasheets: (float32 as JAX
# runs it by default, on TF32 tensor cores where the GPU has them; bfloat16
# tensor cores). V100 and T4 have neither TF32 nor bf16: fp32 and fp16.
# Matched in order, so the longer names come first (A100 before A10).
GPU_PEAK_TFLOPS = {
    "H100 PCIe": (378.0, 756.0),
    "H100": (494.7, 989.4),  # SXM ("NVIDIA H100 80GB HBM3")
    "A100": (156.0, 312.0),
    "L40S": (183.0, 362.0),
    "L4": (60.0, 121.0),
    "A10": (62.5, 125.0),
    "V100": (15.7, 125.0),
    "T4": (8.1, 65.0),
}


def device_peak(precision, device_kind=None):
    """(peak FLOP/s, description) of the device running a measurement."""
    low_precision = precision != "float32"
    if device_kind and device_kind != "cpu":
        for name, (fp32, bf16) in GPU_PEAK_TFLOPS.items():
            if name.lower() in device_kind.lower():
                value = bf16 if low_precision else fp32
                return value * 1e12, f"{device_kind}: {value} TFLOP/s ({'bf16' if low_precision else 'fp32/TF32'}), NVIDIA datasheet, dense"
        return None, f"{device_kind}: peak unknown (pass --peak-tflops)"
    cores = os.cpu_count()
    flags, megahertz = "", None
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags") and not flags:
                    flags = line
                if line.startswith("cpu MHz") and megahertz is None:
                    megahertz = float(line.split(":")[1])
    except OSError:
        pass
    if megahertz is None:
        return None, "CPU clock unknown (pass --peak-tflops)"
    if low_precision and "amx_bf16" in flags:
        per_cycle, unit = 1024, "bf16 AMX"
    elif "avx512f" in flags:
        per_cycle, unit = 64, "fp32 AVX-512, 2 FMA ports"
    else:
        per_cycle, unit = 32, "fp32 AVX2 FMA"
    peak = cores * megahertz * 1e6 * per_cycle
    return peak, f"CPU: {cores} cores x {megahertz:.0f} MHz x {per_cycle} FLOP/cycle ({unit}) = {peak / 1e12:.2f} TFLOP/s"


def run_electra_keras(args, variant="electra_keras"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    settings = {
        "precision": args.precision, "jit_compile": args.jit_compile, "devices": 1, "accumulation": 1,
        **VARIANTS[variant],
    }
    if settings["devices"] > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * settings["devices"]
        )
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(settings["devices"])])
    else:
        strategy = tf.distribute.get_strategy()

    from electra_keras.pretraining.optimization import build_optimizer
    from electra_keras.pretraining.trainer import ElectraPretrainer

    config = model_sizes(args.config)
    config.model.vocabulary_size = args.vocabulary_size
    with strategy.scope():
        pretrainer = ElectraPretrainer(
            config.model, config.objective, mask_token_id=4, special_token_ids=[0, 2, 3, 4],
            gradient_accumulation_steps=settings["accumulation"], dtype=settings["precision"],
        )
        pretrainer.compile(
            optimizer=build_optimizer(config.optimizer, 1000), jit_compile=settings["jit_compile"]
        )
        # As `fit` does first; a mirrored optimizer cannot create its slots
        # inside the traced step.
        pretrainer.optimizer.build(pretrainer.trainable_variables)
    batch = synthetic_batch(np, args.batch_size, args.sequence_length, args.vocabulary_size)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    pretrainer.make_train_function()
    train_function = pretrainer.train_function
    for _ in range(args.warmup):
        train_function(iterator)
    start = time.perf_counter()
    for _ in range(args.steps):
        logs = train_function(iterator)
    float(logs["loss"])
    return time.perf_counter() - start


def run_electra_keras_jax(args, variant=None):
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras
    import numpy as np

    from electra_keras.pretraining.optimization import build_optimizer
    from electra_keras.pretraining.trainer import ElectraPretrainer

    devices = jax.devices()
    if len(devices) > 1:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    config = model_sizes(args.config)
    config.model.vocabulary_size = args.vocabulary_size
    pretrainer = ElectraPretrainer(
        config.model, config.objective, mask_token_id=4, special_token_ids=[0, 2, 3, 4],
        dtype=args.precision,
    )
    pretrainer.compile(optimizer=build_optimizer(config.optimizer, 1000))
    batch = synthetic_batch(np, args.batch_size, args.sequence_length, args.vocabulary_size)

    def batches():
        while True:
            yield (batch,)

    # The first fit compiles; the timed one reuses the jitted step.
    pretrainer.fit(batches(), steps_per_epoch=max(args.warmup, 1), epochs=1, verbose=0)
    start = time.perf_counter()
    pretrainer.fit(batches(), steps_per_epoch=args.steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    device = devices[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    return {
        "seconds": seconds,
        "device_kind": "cpu" if device.platform == "cpu" else device.device_kind,
        "devices": len(devices),
        "device_peak_memory_mb": stats["peak_bytes_in_use"] / 2**20 if stats else None,
    }


def run_hf_pytorch(args, variant=None):
    import numpy as np
    import torch
    import transformers

    torch.set_num_threads(os.cpu_count())
    # The reference runs on the GPU when there is one, beside the JAX rows.
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = model_sizes(args.config)
    m = config.model
    common = dict(
        vocab_size=args.vocabulary_size,
        embedding_size=m.embedding_size,
        num_hidden_layers=m.num_layers,
        max_position_embeddings=m.max_position_embeddings,
        hidden_act="gelu_new",  # tanh-approximate, as electra_keras
        hidden_dropout_prob=m.dropout,
        attention_probs_dropout_prob=m.dropout,
    )
    generator = transformers.ElectraForMaskedLM(
        transformers.ElectraConfig(
            hidden_size=m.generator_hidden_size,
            num_attention_heads=m.generator_num_heads,
            intermediate_size=m.generator_intermediate_size,
            **common,
        )
    )
    discriminator = transformers.ElectraForPreTraining(
        transformers.ElectraConfig(
            hidden_size=m.hidden_size,
            num_attention_heads=m.num_heads,
            intermediate_size=m.intermediate_size,
            **common,
        )
    )
    # Tie the whole embedding block and the generator's output matrix.
    generator.electra.embeddings = discriminator.electra.embeddings
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    generator.to(device)
    discriminator.to(device)
    parameters = {id(p): p for p in list(generator.parameters()) + list(discriminator.parameters())}
    optimizer = torch.optim.AdamW(
        parameters.values(), lr=config.optimizer.learning_rate, betas=(0.9, 0.999),
        eps=1e-6, weight_decay=0.01,
    )
    batch = synthetic_batch(np, args.batch_size, args.sequence_length, args.vocabulary_size)
    token_ids = torch.from_numpy(batch["token_ids"]).long().to(device)
    segment_ids = torch.from_numpy(batch["segment_ids"]).long().to(device)
    attention_mask = torch.from_numpy(batch["padding_mask"]).long().to(device)
    special = (token_ids == 0) | (token_ids == 2) | (token_ids == 3) | (token_ids == 4)

    def step():
        # Masking: 15% of real tokens, 85% [MASK], 15% kept.
        probability = torch.full(token_ids.shape, config.objective.mask_probability, device=device)
        probability.masked_fill_(special | (attention_mask == 0), 0.0)
        is_masked = torch.bernoulli(probability).bool()
        use_mask_token = torch.bernoulli(torch.full(token_ids.shape, 0.85, device=device)).bool() & is_masked
        generator_input = token_ids.masked_fill(use_mask_token, 4)
        generator_logits = generator(
            input_ids=generator_input, attention_mask=attention_mask, token_type_ids=segment_ids
        ).logits  # every position: [batch, length, vocabulary]
        masked_logits = generator_logits[is_masked]
        mlm_loss = torch.nn.functional.cross_entropy(masked_logits, token_ids[is_masked])
        with torch.no_grad():
            uniform = torch.rand_like(masked_logits)
            gumbel = -torch.log(-torch.log(uniform + 1e-9) + 1e-9)
            sampled = (masked_logits + gumbel).argmax(dim=-1)
        corrupted = token_ids.clone()
        corrupted[is_masked] = sampled
        labels = (corrupted != token_ids).float()
        discriminator_logits = discriminator(
            input_ids=corrupted, attention_mask=attention_mask, token_type_ids=segment_ids
        ).logits
        active = attention_mask.bool()
        disc_loss = torch.nn.functional.binary_cross_entropy_with_logits(
            discriminator_logits[active], labels[active]
        )
        loss = mlm_loss + 50.0 * disc_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters.values(), 1.0)
        optimizer.step()
        return loss

    generator.train()
    discriminator.train()
    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    float(loss)  # waits for the device
    seconds = time.perf_counter() - start
    if device.type == "cpu":
        return seconds
    return {
        "seconds": seconds,
        "device_kind": torch.cuda.get_device_name(device),
        "device_peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20,
    }


def model_flops_per_token(args):
    from electra_keras.pretraining.flops import pretraining_flops_per_sequence

    config = model_sizes(args.config)
    config.model.vocabulary_size = args.vocabulary_size
    predictions = config.objective.resolved_max_predictions(args.sequence_length)
    flops = pretraining_flops_per_sequence(config.model, args.sequence_length, predictions)
    return flops.total / args.sequence_length


def synthetic_batch(np, batch_size, sequence_length, vocabulary_size):
    """Random tokens framed like packed data: [CLS] A [SEP] B [SEP]."""
    rng = np.random.default_rng(0)
    token_ids = rng.integers(5, vocabulary_size, (batch_size, sequence_length)).astype("int32")
    half = sequence_length // 2
    token_ids[:, 0] = 2
    token_ids[:, half] = 3
    token_ids[:, -1] = 3
    segment_ids = np.zeros_like(token_ids)
    segment_ids[:, half + 1 :] = 1
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": np.ones_like(token_ids),
    }


IMPLEMENTATIONS = {
    **{name: (lambda args, name=name: run_electra_keras(args, name)) for name in VARIANTS},
    "electra_keras_jax": run_electra_keras_jax,
    "hf_pytorch": run_hf_pytorch,
}


def peak_memory_mb():
    """This process's peak resident memory (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--vocabulary-size", type=int, default=30522)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument(
        "--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"],
        help="electra_keras only; the PyTorch reference stays float32",
    )
    parser.add_argument(
        "--implementations", default="electra_keras,hf_pytorch",
        help="comma-separated subset of " + ",".join(IMPLEMENTATIONS),
    )
    parser.add_argument(
        "--backend", help="comma-separated subset of " + ",".join(BACKENDS) + " (overrides --implementations)"
    )
    parser.add_argument("--peak-tflops", type=float, help="the device's peak, instead of the assumed one")
    parser.add_argument("--matrix", action="store_true", help="all of: " + ",".join(MATRIX))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "train_throughput.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main():
    args = parse_args()
    if args.worker:
        measured = IMPLEMENTATIONS[args.worker](args)
        if not isinstance(measured, dict):
            measured = {"seconds": measured}
        print(json.dumps({**measured, "peak_memory_mb": peak_memory_mb()}))
        return
    if args.backend:
        unknown = set(args.backend.split(",")) - set(BACKENDS)
        if unknown:
            sys.exit(f"unknown backends {sorted(unknown)}; choose from {','.join(BACKENDS)}")
        names = [BACKENDS[b] for b in args.backend.split(",")]
    else:
        names = MATRIX if args.matrix else args.implementations.split(",")
    unknown = set(names) - set(IMPLEMENTATIONS)
    if unknown:
        sys.exit(f"unknown implementations {sorted(unknown)}; choose from {','.join(IMPLEMENTATIONS)}")
    results = harness.run_workers(__file__, names, args.rounds)
    tokens = args.batch_size * args.sequence_length * args.steps
    flops_per_token = model_flops_per_token(args)
    rows = []
    for name in names:
        seconds = [r["seconds"] for r in results[name]]
        median = statistics.median(seconds)
        precision = VARIANTS.get(name, {}).get("precision", args.precision)
        if name == "hf_pytorch":
            precision = "float32"
        peak, peak_source = device_peak(precision, results[name][0].get("device_kind"))
        if args.peak_tflops:
            peak, peak_source = args.peak_tflops * 1e12, f"--peak-tflops {args.peak_tflops}"
        achieved = tokens / median * flops_per_token
        rows.append(
            {
                "implementation": name,
                "precision": precision,
                "tokens_per_second": tokens / median,
                "sequences_per_second": tokens / median / args.sequence_length,
                "step_seconds": median / args.steps,
                "model_flops_per_token": flops_per_token,
                "achieved_tflops": achieved / 1e12,
                "mfu": achieved / peak if peak else None,
                "peak_assumed": peak_source,
                "peak_memory_mb": max(r["peak_memory_mb"] for r in results[name]),
                "device_peak_memory_mb": results[name][0].get("device_peak_memory_mb"),
                "all_round_seconds": seconds,
            }
        )
    baseline = next((r for r in rows if r["implementation"] == "hf_pytorch"), None)
    keras_fp32 = next((r for r in rows if r["implementation"] == "electra_keras"), None)
    print(
        f"config={args.config} batch={args.batch_size} seq={args.sequence_length} "
        f"steps={args.steps} rounds={args.rounds} cpus={os.cpu_count()}"
    )
    print(f"model FLOPs per token (training): {flops_per_token / 1e6:.1f} MFLOP")
    for peak_source in dict.fromkeys(row["peak_assumed"] for row in rows):
        print(f"peak assumed: {peak_source}")
    print(
        f"{'implementation':<18}{'tokens/s':>10}{'seq/s':>8}{'s/step':>9}{'TFLOP/s':>9}{'MFU':>7}"
        f"{'peak MB':>9}{'vs electra_keras':>18}{'vs hf_pytorch':>15}"
    )
    for row in rows:
        ratio = row["tokens_per_second"] / baseline["tokens_per_second"] if baseline else float("nan")
        own = row["tokens_per_second"] / keras_fp32["tokens_per_second"] if keras_fp32 else float("nan")
        row["speedup_vs_hf_pytorch"] = ratio
        row["speedup_vs_electra_keras"] = own
        mfu = f"{100 * row['mfu']:.1f}%" if row["mfu"] is not None else "?"
        memory = row["device_peak_memory_mb"] or row["peak_memory_mb"]
        print(
            f"{row['implementation']:<18}{row['tokens_per_second']:>10.0f}{row['sequences_per_second']:>8.1f}"
            f"{row['step_seconds']:>9.3f}{row['achieved_tflops']:>9.3f}{mfu:>7}"
            f"{memory:>9.0f}{own:>17.2f}x{ratio:>14.2f}x"
        )
    harness.write_json(args.output, {"arguments": vars(args), "results": rows})


if __name__ == "__main__":
    main()
