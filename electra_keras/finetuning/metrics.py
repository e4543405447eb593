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
