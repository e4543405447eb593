"""BatchPairAUC: the exact Mann-Whitney statistic, excluded tokens left out."""

import numpy as np


def test_auc_metric_matches_the_pairwise_definition_with_excluded_tokens():
    from electra_keras.pretraining.metrics import BatchPairAUC

    rng = np.random.default_rng(0)
    logits = np.round(rng.normal(size=(3, 10)), 1).astype("float32")  # ties included
    labels = (rng.random((3, 10)) < 0.3).astype("float32")
    keep = (rng.random((3, 10)) < 0.8).astype("float32")
    metric = BatchPairAUC()
    metric.update_state(labels, logits, sample_weight=keep)
    kept = keep.ravel() > 0
    positive, negative = logits.ravel()[kept & (labels.ravel() > 0)], logits.ravel()[kept & (labels.ravel() == 0)]
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    np.testing.assert_allclose(float(metric.result()), wins / (len(positive) * len(negative)), rtol=1e-6)
