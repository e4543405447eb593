"""TensorBoard logging keyed by the optimizer step, and the human-readable sample.

Keras' own `TensorBoard` callback counts batches from the start of each `fit`
call and logs the learning rate per epoch only; a resumed run would restart
its x-axis at 0. `TrainingLog` writes every metric and the learning rate
against `optimizer.iterations`, and shows what the generator guessed and
what the discriminator decided on one fixed sentence, so a person can see
the model learn.
"""

import json
import pathlib

import keras
import numpy as np
import tensorflow as tf

from electra_keras.checkpointing import optimizer_step


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
    noise = pretrainer._noise_for(inputs, tf.constant([seed, 3], dtype=tf.int64))
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


def scalar(value):
    """A logged value as a float (multi-worker runs log one-element vectors)."""
    return float(np.reshape(np.asarray(value), -1)[0])


def current_learning_rate(optimizer):
    """The learning rate the optimizer uses at its current step, as a float."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class TrainingLog(keras.callbacks.Callback):
    """TensorBoard scalars and text keyed by `optimizer.iterations`.

    Every `steps_per_log` steps: the running training metrics and the
    learning rate under `logs/train`; at each evaluation the held-out metrics
    under `logs/validation`; every `steps_per_sample` steps, when
    `sample_inputs` is given, the rendered `sample_predictions` as text
    (`generator_and_discriminator`), also appended to `samples_path` as JSON
    lines. With `write=False` (a non-chief worker) it writes nothing.

    Example:
    ```python
    log = TrainingLog("runs/demo/logs", steps_per_log=100, steps_per_sample=1000,
                      sample_inputs=batch_of_one, vocabulary=vocabulary)
    pretrainer.fit(dataset, steps_per_epoch=1000, callbacks=[log])
    ```
    """

    def __init__(
        self,
        log_dir,
        steps_per_log,
        steps_per_sample=None,
        sample_inputs=None,
        vocabulary=None,
        samples_path=None,
        write=True,
    ):
        super().__init__()
        self.log_dir = pathlib.Path(log_dir)
        self.steps_per_log = steps_per_log
        self.steps_per_sample = steps_per_sample
        self.sample_inputs = sample_inputs
        self.vocabulary = vocabulary
        self.samples_path = pathlib.Path(samples_path) if samples_path else None
        self.write = write
        self._writers = None

    def _writer(self, name):
        if self._writers is None:
            self._writers = {
                split: tf.summary.create_file_writer(str(self.log_dir / split))
                for split in ("train", "validation")
            }
        return self._writers[name]

    def on_train_batch_end(self, batch, logs=None):
        if not self.write:
            return
        step = optimizer_step(self.model)
        if step % self.steps_per_log == 0:
            with self._writer("train").as_default(step=step):
                for key, value in (logs or {}).items():
                    tf.summary.scalar(key, scalar(value))
                tf.summary.scalar("learning_rate", current_learning_rate(self.model.optimizer))
        if self.sample_inputs is not None and self.steps_per_sample and step % self.steps_per_sample == 0:
            self.log_sample(step)

    def log_sample(self, step):
        rows = sample_predictions(self.model, self.sample_inputs, self.vocabulary)
        with self._writer("train").as_default(step=step):
            tf.summary.text("generator_and_discriminator", render_sample(rows, step))
        if self.samples_path is not None:
            with open(self.samples_path, "a", encoding="utf-8") as file:
                file.write(json.dumps({"step": step, "tokens": rows}, ensure_ascii=False) + "\n")

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        held_out = {k[4:]: v for k, v in (logs or {}).items() if k.startswith("val_")}
        if held_out:
            step = optimizer_step(self.model)
            with self._writer("validation").as_default(step=step):
                for key, value in held_out.items():
                    tf.summary.scalar(key, scalar(value))

    def on_train_end(self, logs=None):
        for writer in (self._writers or {}).values():
            writer.flush()
