"""When does the discriminator collapse? Representation health along a run, ours beside transformers'.

Trains the ELECTRA objective on the bundled corpus's packed examples (the
default job's data and recipe: optimizer, warmup, schedule, batch, length)
and measures `pretraining.health.representation_health` of the
discriminator on 32 held-out examples at steps 0, 10, 30, 100, 300 and 1000:
the spread of the final token states relative to a freshly initialised
encoder's. Beside it, transformers' `ElectraForPreTraining` +
`ElectraForMaskedLM` (shared embeddings, the same masking, Gumbel sampling,
loss weights, AdamW, warmup and linear decay, clipping) trained on the same
batches, measured the same way against a fresh transformers model. If both
collapse at the same steps, the collapse is ELECTRA's behaviour under that
recipe, not this project's code.

Arms: `tiny` (configs/tiny.yaml as the default job runs it), `tiny_lr2e-4`
(the same, learning rate 2e-4), `small` (configs/small.yaml at the tiny
job's batch 32 and length 64, so it runs on 2 CPU cores; its 10k-step
warmup keeps the rate under 5e-5 for these steps). Prints a table and
writes `benchmarks/results/collapse_timeline.json` after every arm.

Example:
    ```
    python benchmarks/collapse_timeline.py                    # about 25 minutes on 2 cores
    python benchmarks/collapse_timeline.py --arms tiny --implementations electra_keras
    ```
"""

import argparse
import dataclasses
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STEPS = (0, 10, 30, 100, 300, 1000)
HEALTH_EXAMPLES = 32
ARMS = {
    "tiny": ("tiny.yaml", {}),
    "tiny_lr2e-4": ("tiny.yaml", {"learning_rate": 2e-4}),
    "small": ("small.yaml", {"batch_size": 32, "sequence_length": 64}),
    # `--steps 30` of the default job: before the fix its warmup was squeezed into
    # the 30 steps (peak rate at step 30); now it keeps the configured ramp.
    "tiny_steps30_squeezed_warmup": ("tiny.yaml", {"num_steps": 30, "warmup_steps": 30}),
    "tiny_steps30": ("tiny.yaml", {"num_steps": 30}),
}


def arm_config(name):
    from electra_keras.config import ElectraConfig

    file, changes = ARMS[name]
    config = ElectraConfig.from_yaml(ROOT / "configs" / file)
    optimizer = dataclasses.replace(
        config.optimizer, learning_rate=changes.get("learning_rate", config.optimizer.learning_rate),
        warmup_steps=changes.get("warmup_steps", config.optimizer.warmup_steps),
    )
    data = dataclasses.replace(config.data, sequence_length=changes.get("sequence_length", config.data.sequence_length))
    training = dataclasses.replace(
        config.training, batch_size=changes.get("batch_size", config.training.batch_size),
        num_steps=changes.get("num_steps", config.training.num_steps),
    )
    # The schedule decays over the config's own num_steps, as the default job's does.
    return dataclasses.replace(config, optimizer=optimizer, data=data, training=training)


LAST_STEP = {"value": STEPS[-1]}  # --last-step: a shorter timeline when time is short


def measured_steps(config):
    """The steps of `STEPS` a run reaches (a 30-step run stops at 30)."""
    return [step for step in STEPS if step <= min(config.training.num_steps, LAST_STEP["value"])]


def prepared_data(config):
    from electra_keras import data
    from electra_keras.data.prepared import prepare_corpus

    return prepare_corpus(config, [str(path) for path in data.DEFAULT_CORPUS], str(data.DEFAULT_VOCABULARY))


def held_out_inputs(prepared):
    batch = next(iter(prepared.eval_dataset))
    return {key: batch[key].numpy()[:HEALTH_EXAMPLES] for key in ("token_ids", "segment_ids", "padding_mask")}


def run_electra_keras(config, prepared, inputs):
    import keras

    from electra_keras.pretraining.health import fresh_encoder_like
    from electra_keras.pretraining.health import representation_health
    from electra_keras.pretraining.optimization import build_optimizer
    from electra_keras.pretraining.trainer import build_pretrainer

    keras.utils.set_random_seed(config.training.seed)
    pretrainer = build_pretrainer(config, prepared.tokenizer)
    pretrainer.compile(optimizer=build_optimizer(config.optimizer, config.training.num_steps))
    reference = fresh_encoder_like(pretrainer.discriminator)
    dataset = prepared.make_train_dataset()
    rows, done = [], 0
    for step in measured_steps(config):
        if step > done:
            # The data order is fixed by the seed: skipping what was trained on continues it.
            pretrainer.fit(dataset.skip(done), steps_per_epoch=step - done, epochs=1, verbose=0, shuffle=False)
            done = step
        health = representation_health(pretrainer.discriminator, inputs, reference)
        rows.append({"step": step, **{k: float(v) for k, v in health.items()}})
        print(f"  electra_keras step {step}: spread {100 * health['token_spread_ratio']:.1f}% of fresh, "
              f"cosine {health['token_cosine']:.4f}", flush=True)
    return rows


def _torch_health(discriminator, reference, inputs):
    import numpy as np
    import torch

    def statistics(model):
        with torch.no_grad():
            states = model.electra(
                input_ids=torch.from_numpy(inputs["token_ids"]).long(),
                attention_mask=torch.from_numpy(inputs["padding_mask"]).long(),
                token_type_ids=torch.from_numpy(inputs["segment_ids"]).long(),
            ).last_hidden_state.double().numpy()
        tokens = states[inputs["padding_mask"] > 0]
        unit = tokens / np.maximum(np.linalg.norm(tokens, axis=1, keepdims=True), 1e-12)
        summed = unit.sum(0)
        count = len(unit)
        return float(tokens.std(0).mean()), float((summed @ summed - count) / (count * (count - 1)))

    discriminator.eval()
    spread, cosine = statistics(discriminator)
    fresh_spread, fresh_cosine = statistics(reference)
    discriminator.train()
    return {"token_spread": spread, "token_cosine": cosine, "fresh_token_spread": fresh_spread,
            "fresh_token_cosine": fresh_cosine, "token_spread_ratio": spread / fresh_spread}


def run_hf_pytorch(config, prepared, inputs):
    import numpy as np
    import torch
    import transformers

    torch.manual_seed(config.training.seed)
    torch.set_num_threads(2)
    m = config.model
    vocabulary_size = prepared.tokenizer.vocabulary_size()
    common = dict(vocab_size=vocabulary_size, embedding_size=m.embedding_size, num_hidden_layers=m.num_layers,
                  max_position_embeddings=m.max_position_embeddings, hidden_act="gelu_new",
                  hidden_dropout_prob=m.dropout, attention_probs_dropout_prob=m.dropout,
                  initializer_range=m.initializer_range)
    generator_hidden = int(m.hidden_size * m.generator_size_fraction)
    generator = transformers.ElectraForMaskedLM(transformers.ElectraConfig(
        hidden_size=generator_hidden, num_attention_heads=max(1, int(m.num_heads * m.generator_size_fraction)),
        intermediate_size=int(m.intermediate_size * m.generator_size_fraction), **common))
    discriminator_config = transformers.ElectraConfig(
        hidden_size=m.hidden_size, num_attention_heads=m.num_heads, intermediate_size=m.intermediate_size, **common)
    discriminator = transformers.ElectraForPreTraining(discriminator_config)
    reference = transformers.ElectraForPreTraining(discriminator_config).eval()
    generator.electra.embeddings = discriminator.electra.embeddings
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    parameters = list({id(p): p for p in list(generator.parameters()) + list(discriminator.parameters())}.values())
    decay = [p for p in parameters if p.ndim > 1]
    no_decay = [p for p in parameters if p.ndim <= 1]  # LayerNorm and biases, as the official code
    o = config.optimizer
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=o.learning_rate, betas=(o.beta_1, o.beta_2), eps=o.epsilon)
    total = config.training.num_steps
    # The paper's schedule: linear warmup, then linear decay to zero at num_steps.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / o.warmup_steps, max(0.0, (total - step) / max(1, total - o.warmup_steps))))
    mask_id = prepared.tokenizer.mask_token_id
    special = np.array(sorted({prepared.tokenizer.pad_token_id, prepared.tokenizer.cls_token_id,
                               prepared.tokenizer.sep_token_id, mask_id}))
    objective = config.objective

    def step(batch):
        token_ids = torch.from_numpy(batch["token_ids"].numpy()).long()
        segment_ids = torch.from_numpy(batch["segment_ids"].numpy()).long()
        attention_mask = torch.from_numpy(batch["padding_mask"].numpy()).long()
        candidates = (attention_mask > 0) & ~torch.from_numpy(np.isin(batch["token_ids"].numpy(), special))
        probability = candidates.float() * objective.mask_probability
        is_masked = torch.bernoulli(probability).bool()
        use_mask_token = torch.bernoulli(torch.full(token_ids.shape, objective.mask_token_rate)).bool() & is_masked
        generator_logits = generator(input_ids=token_ids.masked_fill(use_mask_token, mask_id),
                                     attention_mask=attention_mask, token_type_ids=segment_ids).logits
        masked_logits = generator_logits[is_masked]
        mlm_loss = torch.nn.functional.cross_entropy(masked_logits, token_ids[is_masked])
        with torch.no_grad():
            gumbel = -torch.log(-torch.log(torch.rand_like(masked_logits) + 1e-9) + 1e-9)
            sampled = (masked_logits + gumbel).argmax(dim=-1)
        corrupted = token_ids.clone()
        corrupted[is_masked] = sampled
        labels = (corrupted != token_ids).float()
        logits = discriminator(input_ids=corrupted, attention_mask=attention_mask, token_type_ids=segment_ids).logits
        active = attention_mask.bool()
        disc_loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[active], labels[active])
        loss = objective.generator_weight * mlm_loss + objective.discriminator_weight * disc_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, o.clip_norm)
        optimizer.step()
        scheduler.step()

    generator.train()
    discriminator.train()
    batches = iter(prepared.make_train_dataset())
    rows, done = [], 0
    for target in measured_steps(config):
        while done < target:
            step(next(batches))
            done += 1
        health = _torch_health(discriminator, reference, inputs)
        rows.append({"step": target, **health})
        print(f"  hf_pytorch step {target}: spread {100 * health['token_spread_ratio']:.1f}% of fresh, "
              f"cosine {health['token_cosine']:.4f}", flush=True)
    return rows


IMPLEMENTATIONS = {"electra_keras": run_electra_keras, "hf_pytorch": run_hf_pytorch}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--implementations", nargs="+", choices=list(IMPLEMENTATIONS), default=list(IMPLEMENTATIONS))
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "collapse_timeline.json"))
    parser.add_argument("--last-step", type=int, default=STEPS[-1], help="measure up to this step")
    args = parser.parse_args(argv)
    LAST_STEP["value"] = args.last_step
    output = pathlib.Path(args.output)
    results = json.loads(output.read_text()) if output.exists() else {}
    for arm in args.arms:
        config = arm_config(arm)
        prepared = prepared_data(config)
        inputs = held_out_inputs(prepared)
        for name in args.implementations:
            print(f"{arm} / {name}", flush=True)
            started = time.time()
            rows = IMPLEMENTATIONS[name](config, prepared, inputs)
            results.setdefault(arm, {})[name] = {"rows": rows, "seconds": time.time() - started}
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(results, indent=2))
    print("\ntoken-state spread, % of a freshly initialised encoder's (mean cosine between tokens)")
    print(markdown_table(results))


def markdown_table(results):
    """The timeline as a Markdown table: one row per arm and implementation, one column per step."""
    lines = ["| arm | implementation | " + " | ".join(f"step {s}" for s in STEPS) + " |",
             "|---|---|" + "---|" * len(STEPS)]
    for arm in ARMS:
        for name, result in results.get(arm, {}).items():
            by_step = {r["step"]: f"{100 * r['token_spread_ratio']:.1f}% ({r['token_cosine']:.3f})" for r in result["rows"]}
            lines.append(f"| {arm} | {name} | " + " | ".join(by_step.get(step, "") for step in STEPS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
