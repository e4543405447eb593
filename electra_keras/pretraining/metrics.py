"""Held-out metrics of the pretrainer that Keras does not have."""

import keras
from keras import ops


class BatchPairAUC(keras.metrics.Metric):
    """ROC AUC over the (replaced, original) token pairs within each batch.

    For each batch the Mann-Whitney statistic is computed exactly from
    average ranks (ties count one half); the pair counts are pooled across
    batches and replicas. That is the AUC of a random replaced token against
    a random original one from the same batch: exact for one batch, and for
    i.i.d. batches an unbiased estimate of the global AUC. Keras' `AUC`
    thresholds probabilities on a fixed grid, which reads 0.5 for an early
    discriminator whose logits all lie within 0.01 of each other.

    Example:
    ```python
    auc = BatchPairAUC()
    auc.update_state(labels, logits, sample_weight=padding_mask)
    auc.result()
    ```
    """

    def __init__(self, name="pair_auc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ordered_pairs = self.add_variable((), initializer="zeros", name="ordered_pairs", aggregation="sum")
        self.pairs = self.add_variable((), initializer="zeros", name="pairs", aggregation="sum")

    def update_state(self, labels, logits, sample_weight=None):
        logits = ops.reshape(ops.cast(logits, "float32"), [-1])
        labels = ops.reshape(ops.cast(labels, "float32"), [-1])
        if sample_weight is not None:
            # Excluded tokens rank above every kept one, so they change no
            # kept token's rank (a fixed shape, unlike a boolean mask, which
            # jit needs).
            keep = ops.reshape(sample_weight, [-1]) > 0
            logits = ops.where(keep, logits, float("inf"))
            labels = labels * ops.cast(keep, "float32")
            count = ops.sum(ops.cast(keep, "float32"))
        else:
            count = ops.cast(ops.size(labels), "float32")
        ordered = ops.sort(logits)
        lower = ops.cast(ops.searchsorted(ordered, logits, side="left"), "float32")
        upper = ops.cast(ops.searchsorted(ordered, logits, side="right"), "float32")
        average_rank = (lower + upper + 1.0) / 2.0  # 1-based, ties averaged
        positives = ops.sum(labels)
        negatives = count - positives
        u_statistic = ops.sum(average_rank * labels) - positives * (positives + 1.0) / 2.0
        self.ordered_pairs.assign_add(u_statistic)
        self.pairs.assign_add(positives * negatives)

    def result(self):
        return ops.where(self.pairs > 0, self.ordered_pairs / ops.maximum(self.pairs, 1.0), 0.5)

    def reset_state(self):
        self.ordered_pairs.assign(0.0)
        self.pairs.assign(0.0)
