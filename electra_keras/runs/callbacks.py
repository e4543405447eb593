"""The callbacks of a pretraining run, each one concern.

- `TrainingLog`: TensorBoard scalars and the generator/discriminator sample,
  keyed by the optimizer step (Keras' `TensorBoard` restarts its x-axis at
  every `fit` and logs the learning rate per epoch only).
- `TrainingCheckpoint`: resumable checkpoints every N steps.
- `StopAtStep`, `StopOnNonFiniteLoss`, `StopOnSignal`: when to stop.
- `EvaluationLog`: the held-out metrics by step, for `metrics.json`.
- `DownstreamProbe`: a frozen linear probe at each evaluation.
- `PlateauWarning`: says when the discriminator is stuck calling every token original.
"""

import json
import logging
import math
import pathlib
import signal

import keras
import numpy as np
import tensorflow as tf

from electra_keras.pretraining.health import ADVICE
from electra_keras.pretraining.health import describe_collapse
from electra_keras.pretraining.health import encoder_statistics
from electra_keras.pretraining.health import representation_health
from electra_keras.runs.checkpoints import checkpoint_path
from electra_keras.runs.checkpoints import list_checkpoints
from electra_keras.runs.checkpoints import optimizer_step
from electra_keras.runs.checkpoints import quarantine_checkpoints
from electra_keras.runs.checkpoints import save_checkpoint
from electra_keras.runs.samples import render_sample
from electra_keras.runs.samples import sample_predictions

logger = logging.getLogger(__name__)


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


class StopAtStep(keras.callbacks.Callback):
    """Stops `fit` once the optimizer has taken `num_steps` steps."""

    def __init__(self, num_steps):
        super().__init__()
        self.num_steps = num_steps

    def on_train_batch_end(self, batch, logs=None):
        if optimizer_step(self.model) >= self.num_steps:
            self.model.stop_training = True


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` naming the step when the loss is not finite.

    The loss of step `k` is computed from the weights after step `k - 1`, so
    a checkpoint from step `k - 1` on holds weights that gave a non-finite
    loss: those are moved to `checkpoints/nonfinite/` (kept for debugging),
    and the newest checkpoint left is the last good one. It runs before
    `TrainingCheckpoint`, so the broken step itself is never saved. Only the
    process that writes the run (`write=True`) moves checkpoints.
    """

    def __init__(self, checkpoint_directory, write=True):
        super().__init__()
        self.checkpoint_directory = pathlib.Path(checkpoint_directory)
        self.write = write

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = scalar(loss)
        if math.isfinite(loss):
            return
        step = optimizer_step(self.model)
        if self.write:
            quarantine_checkpoints(self.checkpoint_directory, first_step=step - 1)
        good = [path for saved_step, path in list_checkpoints(self.checkpoint_directory) if saved_step < step - 1]
        raise NonFiniteLossError(
            f"the loss became {loss} at step {step}; stopped "
            f"(last good checkpoint: {good[-1] if good else 'none'}). "
            "Lower optimizer.learning_rate or check the data."
        )


class EvaluationLog(keras.callbacks.Callback):
    """Collects each epoch's held-out metrics with the step they were taken at."""

    def __init__(self):
        super().__init__()
        self.evaluations = []
        self.last_train = {}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        step = optimizer_step(self.model)
        self.last_train = {k: scalar(v) for k, v in logs.items() if not k.startswith("val_")}
        held_out = {k[4:]: scalar(v) for k, v in logs.items() if k.startswith("val_")}
        if held_out:
            self.evaluations.append({"step": step, **held_out})


class PlateauWarning(keras.callbacks.Callback):
    """Warns when the held-out discriminator stays on the "everything is original" plateau.

    After `warmup_steps`, an evaluation whose disc accuracy is within
    `margin` (half a point) of the accuracy of calling every token original
    (`1 - replaced_fraction`) counts as stuck; `evaluations` stuck in a row
    log a warning that names the plateau and what to try, once per stretch.

    Example:
    ```python
    pretrainer.fit(dataset, validation_data=held_out, callbacks=[PlateauWarning(warmup_steps=100)])
    ```
    """

    def __init__(self, warmup_steps, evaluations=2, margin=0.005):
        super().__init__()
        self.warmup_steps = warmup_steps
        self.evaluations = evaluations
        self.margin = margin
        self.stuck = 0
        self.warnings = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if "val_disc_accuracy" not in logs or "val_replaced_fraction" not in logs:
            return
        step = optimizer_step(self.model)
        if step <= self.warmup_steps:
            return
        accuracy = scalar(logs["val_disc_accuracy"])
        all_original = 1.0 - scalar(logs["val_replaced_fraction"])
        if accuracy - all_original >= self.margin:
            self.stuck = 0
            return
        self.stuck += 1
        if self.stuck == self.evaluations:
            message = (
                f"step {step}: the discriminator is on the 'everything is original' plateau: held-out disc "
                f"accuracy {accuracy:.4f} against {all_original:.4f} for calling every token original, "
                f"{self.evaluations} evaluations in a row. An encoder from here fine-tunes worse than random "
                "weights. Try more steps and more text (scripts/fetch_corpus.py), data.sequence_length=32 with "
                "training.batch_size=64, model.initializer_range=0.05; see benchmarks/pretraining_study.md"
            )
            self.warnings.append(message)
            logger.warning("%s", message)


class RepresentationHealth(keras.callbacks.Callback):
    """Measures the discriminator's representation health at every evaluation; warns once on collapse.

    Adds `val_token_spread`, `val_token_spread_ratio`, `val_cls_spread_ratio`
    and `val_token_cosine` to the logs of every epoch that evaluated (place it
    before the callbacks that write logs: TensorBoard and `metrics.json` then
    record them), logs one line with them, and the first time the token
    spread falls under `pretraining.health.COLLAPSE_RATIO` of the fresh
    encoder's, logs a warning in words with what to try.

    Args:
        inputs: a fixed sample of held-out examples (`token_ids`,
            `segment_ids`, `padding_mask`).
        reference: a freshly initialised encoder of the discriminator's sizes
            (measured once, here).

    Example:
    ```python
    health = RepresentationHealth(held_out_batch, fresh_encoder_like(pretrainer.discriminator))
    pretrainer.fit(dataset, validation_data=held_out, callbacks=[health])
    ```
    """

    def __init__(self, inputs, reference):
        super().__init__()
        self.inputs = {key: inputs[key] for key in ("token_ids", "segment_ids", "padding_mask")}
        # The fresh encoder's figures on this fixed sample never change.
        self.fresh = encoder_statistics(reference, self.inputs)
        self.warnings = []

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not any(key.startswith("val_") for key in logs):
            return
        step = optimizer_step(self.model)
        health = representation_health(self.model.discriminator, self.inputs, fresh=self.fresh)
        for key in ("token_spread", "token_spread_ratio", "cls_spread_ratio", "token_cosine"):
            logs[f"val_{key}"] = health[key]
        logger.info(
            "step %d: representation health: token spread %.4f (%.1f%% of a fresh encoder's), [CLS] spread "
            "%.1f%% of fresh, mean cosine %.4f", step, health["token_spread"], 100 * health["token_spread_ratio"],
            100 * health["cls_spread_ratio"], health["token_cosine"],
        )
        if health["collapsed"] and not self.warnings:
            message = f"step {step}: {describe_collapse(health, 'the discriminator')}. Try {ADVICE}"
            self.warnings.append(message)
            logger.warning("%s", message)


class TrainingInterrupted(RuntimeError):
    """SIGTERM or SIGINT stopped training after a checkpoint was saved."""

    def __init__(self, signal_number, step, checkpoint):
        self.signal_number = signal_number
        self.step = step
        self.checkpoint = checkpoint
        super().__init__(
            f"{signal.Signals(signal_number).name} at step {step}: saved {checkpoint}; "
            "run the same command again to resume"
        )


class StopOnSignal(keras.callbacks.Callback):
    """Turns SIGTERM/SIGINT into a checkpoint and a clean stop.

    The handler only records the signal; after the step that is running, the
    callback saves a checkpoint and raises `TrainingInterrupted` (raising
    rather than `stop_training` skips the epoch's evaluation, which could
    outlast a scheduler's grace period). A second SIGINT interrupts at once.
    """

    def __init__(self, checkpoint):
        super().__init__()
        self.checkpoint = checkpoint
        self.received = None
        self._previous = {}

    def _handle(self, signal_number, frame):
        if self.received == signal.SIGINT and signal_number == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal_number
        logger.warning("%s received: saving after this step", signal.Signals(signal_number).name)

    def on_train_begin(self, logs=None):
        for number in (signal.SIGTERM, signal.SIGINT):
            self._previous[number] = signal.signal(number, self._handle)

    def on_train_end(self, logs=None):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def on_train_batch_end(self, batch, logs=None):
        if self.received is None:
            return
        step = optimizer_step(self.model)
        self.checkpoint.save(step)
        self.on_train_end()
        raise TrainingInterrupted(self.received, step, checkpoint_path(self.checkpoint.directory, step))


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves a resumable checkpoint every `every` optimizer steps.

    `state_fn(step)` adds to `state.json` (for example the input position).
    Only the chief of a multi-worker run writes (`write=False` elsewhere).

    Example:
    ```python
    pretrainer.fit(dataset, callbacks=[TrainingCheckpoint("runs/demo/checkpoints", every=500)])
    ```
    """

    def __init__(self, directory, every, keep=3, state_fn=None, write=True):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.every = every
        self.keep = keep
        self.state_fn = state_fn
        self.write = write
        self.last_saved = None

    def on_train_batch_end(self, batch, logs=None):
        step = optimizer_step(self.model)
        if step % self.every == 0:
            self.save(step)

    def save(self, step):
        if self.last_saved == step:
            return
        self.last_saved = step
        if self.write:
            state = self.state_fn(step) if self.state_fn else None
            save_checkpoint(self.model, self.directory, step, self.keep, state)


class DownstreamProbe(keras.callbacks.Callback):
    """Adds `val_probe_accuracy` to the logs of every epoch that evaluated.

    Place it before the callbacks that write the logs (TensorBoard,
    `metrics.json`), which then record it with the other held-out metrics.

    Example:
    ```python
    probe = DownstreamProbe(ProbeTask("data/labelled/rotten_tomatoes", tokenizer, 64))
    pretrainer.fit(dataset, validation_data=held_out, callbacks=[probe, ...])
    ```
    """

    def __init__(self, task):
        super().__init__()
        self.task = task

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and any(key.startswith("val_") for key in logs):
            logs["val_probe_accuracy"] = self.task.accuracy(self.model.discriminator)
