"""A human-readable sample of what the generator and the discriminator do.

One fixed sentence, fixed masks and fixed noise: the differences between two
samples come from the weights, so a person can watch the model learn.
"""

import keras
import numpy as np
import tensorflow as tf

from electra_keras.pretraining.tf_step import SAMPLE_SALT


def sample_predictions(pretrainer, inputs, vocabulary, seed=0):
    """Runs the objective on one example with fixed masks and noise.

    The masked positions and the Gumbel noise depend on `seed` only, so the
    same tokens are masked at every call and the differences between calls
    come from the weights.

    Args:
        pretrainer: an `ElectraPretrainer`.
        inputs: dict batch of one example (`token_ids`, `segment_ids`,
            `padding_mask`, shape `[1, length]`).
        vocabulary: list of tokens, indexed by id.

    Returns:
        list of per-token dicts: `token`, `input` (what the generator saw),
        `sample` (what the discriminator saw), `top_guess` (the generator's
        most likely token at a masked position, else None), `replaced` (the
        label), `probability` (the discriminator's p(replaced)).

    Example:
    ```python
    rows = sample_predictions(pretrainer, tokenizer_batch, vocabulary)
    print(render_sample(rows, step=1000))
    ```
    """
    inputs = {k: tf.convert_to_tensor(v) for k, v in inputs.items()}
    noise = pretrainer.noise_for(inputs, tf.constant([seed, SAMPLE_SALT], dtype=tf.int64))
    results = pretrainer.compute_objective(inputs, noise, training=False)
    length = int(np.sum(keras.ops.convert_to_numpy(inputs["padding_mask"])[0]))
    token_ids = keras.ops.convert_to_numpy(inputs["token_ids"])[0]
    masked_ids = keras.ops.convert_to_numpy(results["masked_ids"])[0]
    corrupted_ids = keras.ops.convert_to_numpy(results["corrupted_ids"])[0]
    labels = keras.ops.convert_to_numpy(results["labels"])[0]
    logits = keras.ops.convert_to_numpy(keras.ops.cast(results["discriminator_logits"], "float32"))
    probabilities = 1.0 / (1.0 + np.exp(-logits[0].reshape(-1)))
    positions = keras.ops.convert_to_numpy(results["positions"])[0]
    weights = keras.ops.convert_to_numpy(results["weights"])[0]
    guesses = np.argmax(keras.ops.convert_to_numpy(results["generator_logits"])[0], axis=-1)
    top_guess = {int(p): int(g) for p, g, w in zip(positions, guesses, weights) if w > 0}

    def name(token_id):
        return vocabulary[token_id] if 0 <= token_id < len(vocabulary) else f"<{token_id}>"

    return [
        {
            "token": name(int(token_ids[i])),
            "input": name(int(masked_ids[i])),
            "sample": name(int(corrupted_ids[i])),
            "top_guess": name(top_guess[i]) if i in top_guess else None,
            "replaced": bool(labels[i] > 0),
            "probability": round(float(probabilities[i]), 4),
        }
        for i in range(length)
    ]


def render_sample(rows, step):
    """Markdown for TensorBoard's text tab: one line each view, then a table.

    Example:
    ```python
    markdown = render_sample(sample_predictions(pretrainer, batch, vocabulary), step=500)
    ```
    """
    masked = [r for r in rows if r["top_guess"] is not None]
    replaced = sum(r["replaced"] for r in rows)
    judged_right = sum((r["probability"] > 0.5) == r["replaced"] for r in rows)
    caught = sum(r["replaced"] and r["probability"] > 0.5 for r in rows)
    lines = [
        f"**step {step}**: {len(masked)} masked, {replaced} replaced by the generator; "
        f"the discriminator judged {judged_right}/{len(rows)} tokens right and caught "
        f"{caught}/{replaced} replacements.",
        "",
        "original: " + " ".join(r["token"] for r in rows),
        "",
        "generator input: " + " ".join(r["input"] for r in rows),
        "",
        "discriminator input (replaced tokens in bold): "
        + " ".join(f"**{r['sample']}**" if r["replaced"] else r["sample"] for r in rows),
        "",
        "| original | input | top guess | sample | replaced | p(replaced) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        guess = r["top_guess"] if r["top_guess"] is not None else ""
        flag = "yes" if r["replaced"] else ""
        lines.append(
            f"| {r['token']} | {r['input']} | {guess} | {r['sample']} | {flag} | {r['probability']:.2f} |"
        )
    return "\n".join(lines)
