"""Fine-tuning's guards against a collapsed encoder: checked before training, and a prior-only model refused.

A discriminator whose token states collapsed to one vector early in
pretraining (`pretraining.health`) can fine-tune only to the label prior:
the training loss stays at the prior's entropy and every dev row gets the
same logits. `checked_encoder` measures the starting encoder on training inputs
before anything trains and acts on `--on-collapse` (warn, fail or start from
random weights); `PriorOnlyGuard` stops a classification run that is still
at the prior after its minimum epochs, so no majority-class model is saved.
"""

import logging
import math

import keras
import numpy as np

from electra_keras.pretraining.health import ADVICE
from electra_keras.pretraining.health import describe_collapse
from electra_keras.pretraining.health import health_summary
from electra_keras.pretraining.health import representation_health

logger = logging.getLogger(__name__)

ON_COLLAPSE = ("warn", "fail", "random-init")
SAMPLE_ROWS = 64  # training rows the starting encoder is measured on
# A run is "at the prior" when its training loss is within 1% of the label
# prior's entropy and its dev logits vary by less than this across rows.
PRIOR_LOSS_FRACTION = 0.99
STILL_LOGITS = 1e-3
# No verdict before this many optimizer steps: a fresh head's logits barely
# vary in the first few (a random encoder's spread was 2e-4 after 13 steps).
GUARD_MIN_STEPS = 100


class CollapsedEncoderError(RuntimeError):
    """The starting encoder has collapsed (`--on-collapse fail`), or training stayed at the label prior."""


def checked_encoder(source, settings, sample):
    """The encoder to fine-tune and its health record, after the representation-health check.

    Args:
        source: the `Pretrained` to start from.
        settings: `FinetuningSettings` (`random_init`, `on_collapse`).
        sample: model inputs of some training rows (`token_ids`,
            `segment_ids`, `padding_mask`; the first `SAMPLE_ROWS` are used).

    Returns:
        `(encoder, record)`: the record (the health figures, `on_collapse`
        and the action taken) goes to `metrics.json`.

    Raises:
        CollapsedEncoderError: collapsed and `on_collapse == "fail"`.

    Example:
    ```python
    encoder, record = checked_encoder(source, settings, preprocessor(texts[:64]))
    ```
    """
    if settings.on_collapse not in ON_COLLAPSE:
        raise ValueError(f"on_collapse must be one of {', '.join(ON_COLLAPSE)}, got {settings.on_collapse!r}")
    encoder = source.build_pretrainer(load_weights=not settings.random_init).discriminator
    if settings.random_init:
        return encoder, {"checked": False, "reason": "random weights"}
    sample = {key: np.asarray(sample[key])[:SAMPLE_ROWS] for key in ("token_ids", "segment_ids", "padding_mask")}
    health = representation_health(encoder, sample)
    record = {**health_summary(health), "on_collapse": settings.on_collapse, "action": "none"}
    logger.info(
        "starting encoder: token spread %.1f%% of a fresh encoder's, mean cosine %.4f",
        100 * health["token_spread_ratio"], health["token_cosine"],
    )
    if not health["collapsed"]:
        return encoder, record
    message = (
        f"{describe_collapse(health, f'the encoder of {source.describe()}')}. Fine-tuning it can give a "
        f"majority-class model. Choices: --on-collapse fail (stop here), --on-collapse random-init (start "
        f"from random weights of the same sizes), or pretrain longer / with a lower learning rate ({ADVICE})"
    )
    if settings.on_collapse == "fail":
        raise CollapsedEncoderError(message)
    if settings.on_collapse == "random-init":
        logger.warning("%s; --on-collapse random-init: starting from random weights", message)
        record["action"] = "random-init"
        return source.build_pretrainer(load_weights=False).discriminator, record
    logger.warning("%s; going on (--on-collapse warn)", message)
    record["action"] = "warned"
    return encoder, record


def prior_entropy(targets):
    """The cross-entropy of always predicting the training label frequencies (nats).

    Example:
    ```python
    prior_entropy(np.array([0, 0, 1, 2]))  # 1.04
    ```
    """
    counts = np.bincount(np.asarray(targets, dtype="int64"))
    frequencies = counts[counts > 0] / counts.sum()
    return float(-(frequencies * np.log(frequencies)).sum())


class PriorOnlyGuard(keras.callbacks.Callback):
    """Stops a classification run from a checkpoint that is still at the label prior after its minimum epochs.

    Place it after the `BestEpoch` callback whose history it reads (the dev
    `logit_spread` of each epoch). Once, at the first epoch that is at least
    `min_epochs` and `GUARD_MIN_STEPS` steps in: when the training loss is
    within 1% of the prior's entropy and the dev logits do not vary between
    rows, training stops and `message` says why; the job then raises
    `CollapsedEncoderError` instead of saving a majority-class model.

    Example:
    ```python
    guard = PriorOnlyGuard(best, prior_entropy(train_targets), min_epochs, steps_per_epoch=43)
    model.fit(x, y, callbacks=[best, guard])
    if guard.message:
        raise CollapsedEncoderError(guard.message)
    ```
    """

    def __init__(self, best_epoch, entropy, min_epochs, steps_per_epoch):
        super().__init__()
        self.best_epoch = best_epoch
        self.entropy = entropy
        self.judged_epoch = max(int(min_epochs), math.ceil(GUARD_MIN_STEPS / max(int(steps_per_epoch), 1)), 1)
        self.message = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 != self.judged_epoch or not self.best_epoch.history:
            return
        loss = float((logs or {}).get("loss", math.nan))
        spread = self.best_epoch.history[-1].get("logit_spread", math.inf)
        if loss >= PRIOR_LOSS_FRACTION * self.entropy and spread < STILL_LOGITS:
            self.message = (
                f"after {epoch + 1} epochs the training loss is {loss:.4f}, the label prior's entropy "
                f"{self.entropy:.4f}, and every dev row gets the same logits (spread {spread:.2e}): the model "
                "predicts the label prior only, so none is saved. The starting encoder has most likely collapsed; "
                f"fine-tune with --on-collapse random-init, or pretrain longer / with a lower learning rate ({ADVICE})"
            )
            logger.error("%s", self.message)
            self.model.stop_training = True
