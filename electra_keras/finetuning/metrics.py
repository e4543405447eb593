"""Evaluation metrics of fine-tuned models."""

import numpy as np


def classification_metrics(labels, predictions, num_classes):
    """Accuracy, macro F1 and, for two classes, the F1 of class 1.

    Example:
    ```python
    classification_metrics([0, 1, 1], [0, 1, 0], num_classes=2)
    ```
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    scores = []
    for label in range(num_classes):
        true_positive = np.sum((predictions == label) & (labels == label))
        predicted, actual = np.sum(predictions == label), np.sum(labels == label)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    metrics = {"accuracy": float(np.mean(labels == predictions)), "macro_f1": float(np.mean(scores))}
    if num_classes == 2:
        metrics["f1"] = float(scores[1])
    return metrics


def regression_metrics(targets, predictions):
    """Pearson and Spearman correlations (Spearman: Pearson of average ranks).

    Example:
    ```python
    regression_metrics([1.0, 2.0, 3.0], [1.1, 1.9, 3.5])
    ```
    """
    def pearson(x, y):
        x, y = x - x.mean(), y - y.mean()
        denominator = np.sqrt((x * x).sum() * (y * y).sum())
        return float((x * y).sum() / denominator) if denominator else 0.0

    def ranks(values):
        order = np.argsort(values, kind="mergesort")
        ranked = np.empty(len(values))
        ranked[order] = np.arange(len(values))
        for value in np.unique(values):  # ties share their average rank
            tied = values == value
            ranked[tied] = ranked[tied].mean()
        return ranked

    targets = np.asarray(targets, dtype="float64")
    predictions = np.asarray(predictions, dtype="float64")
    return {
        "pearson": pearson(targets, predictions),
        "spearman": pearson(ranks(targets), ranks(predictions)),
    }


def multi_label_metrics(targets, probabilities, thresholds=0.5):
    """Micro and macro F1 and exact-match accuracy of multi-label decisions.

    Args:
        targets: `[rows, classes]` 0/1.
        probabilities: `[rows, classes]` sigmoid outputs.
        thresholds: one float, or one per class.

    Example:
    ```python
    multi_label_metrics([[1, 0], [1, 1]], [[0.9, 0.2], [0.6, 0.4]], thresholds=[0.5, 0.3])
    ```
    """
    targets = np.asarray(targets, dtype=bool)
    predicted = np.asarray(probabilities) >= np.asarray(thresholds)
    true_positive = (predicted & targets).sum(0)
    predicted_count, actual_count = predicted.sum(0), targets.sum(0)
    per_class = np.where(predicted_count + actual_count > 0,
                         2 * true_positive / np.maximum(predicted_count + actual_count, 1), 0.0)
    micro = 2 * true_positive.sum() / max(predicted_count.sum() + actual_count.sum(), 1)
    return {
        "micro_f1": float(micro),
        "macro_f1": float(per_class.mean()),
        "exact_match": float((predicted == targets).all(1).mean()),
    }


def tune_thresholds(targets, probabilities):
    """The decision threshold of each class that maximises its F1 on these rows.

    Candidates are the midpoints between consecutive distinct probabilities
    (and 0.5 when a class never occurs), so the choice is exact for the rows
    given.

    Example:
    ```python
    thresholds = tune_thresholds(dev_targets, dev_probabilities)  # one per class
    ```
    """
    targets = np.asarray(targets, dtype=bool)
    probabilities = np.asarray(probabilities, dtype="float64")
    thresholds = []
    for label in range(targets.shape[1]):
        actual, scores = targets[:, label], probabilities[:, label]
        if not actual.any():
            thresholds.append(0.5)
            continue
        values = np.unique(scores)
        candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
        best, best_f1 = 0.5, -1.0
        for candidate in candidates:
            predicted = scores >= candidate
            f1 = 2 * (predicted & actual).sum() / max(predicted.sum() + actual.sum(), 1)
            if f1 > best_f1:
                best, best_f1 = float(candidate), f1
        thresholds.append(best)
    return thresholds
