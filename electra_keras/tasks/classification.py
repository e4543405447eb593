"""Sequence classification, regression and multi-label classification of labelled rows.

Files are labelled rows (`formats.labelled_rows`: CSV, TSV, JSONL, with a
second text for pair tasks). The model is an `ElectraTextClassifier` fed raw
strings (its preprocessor trims pairs "waterfall", as the serving export
does). The best epoch is the one with the best dev accuracy (classification),
Pearson correlation (regression) or macro-F1 at thresholds tuned on the dev
rows (multi-label). It serves as `classify` / `regress` and `serving_default`
(`export.classifier`) and is written as an `ElectraForSequenceClassification`
folder.
"""

import dataclasses
import math

import numpy as np

from electra_keras.data.tokenizer import tokenizer_kwargs
from electra_keras.export.classifier import export_classifier
from electra_keras.finetuning import metrics as scoring
from electra_keras.finetuning.health import SAMPLE_ROWS
from electra_keras.finetuning.health import PriorOnlyGuard
from electra_keras.finetuning.health import prior_entropy
from electra_keras.interop.huggingface_tasks import save_classifier_huggingface
from electra_keras.models.preprocessors import ElectraTextClassifierPreprocessor
from electra_keras.models.text_classifier import ElectraTextClassifier
from electra_keras.tasks.base import Prepared
from electra_keras.tasks.base import Task
from electra_keras.tasks.base import softmax_cross_entropy
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.labelled_rows import read_labelled

# The dev score that picks the best epoch. Multi-label: macro-F1, what tuning
# each label's threshold maximises.
SELECTION_METRIC = {"classification": "accuracy", "regression": "pearson", "multi_label": "macro_f1"}


@dataclasses.dataclass
class PreparedRows(Prepared):
    """Labelled rows as strings (the classifier's preprocessor tokenizes them), and the dev rows."""

    preprocessor: object = None
    pair: bool = False
    eval_x: object = None
    eval_targets: object = None
    warmup_texts: list = None


class ClassificationTask(Task):
    """`classification`, `regression` or `multi_label` on labelled rows (see the module doc).

    Example:
    ```python
    task = ClassificationTask("regression")
    prepared = task.prepare(settings, 128, make_tokenizer(vocabulary))
    ```
    """

    export_name = "classifier"

    def __init__(self, name):
        self.name = name
        self.selection_metric = SELECTION_METRIC[name]

    def prepare(self, settings, sequence_length, tokenizer):
        fields = (settings.text_field, settings.label_field, settings.pair_field)
        train, held_out = read_labelled(settings.train, *fields), read_labelled(settings.eval, *fields)
        labels, train_targets, eval_targets = _targets(settings, train[2], held_out[2])
        # Waterfall trimming: the serving export's, so both see the same tokens.
        preprocessor = ElectraTextClassifierPreprocessor(tokenizer, sequence_length=sequence_length,
                                                         truncate="waterfall")
        return PreparedRows(
            _inputs(train), train_targets, len(train_targets), preprocessor(_inputs(_first_rows(train, SAMPLE_ROWS))),
            labels, preprocessor=preprocessor, pair=settings.pair_field is not None, eval_x=_inputs(held_out),
            eval_targets=eval_targets, warmup_texts=train[0][:32],
        )

    def build(self, encoder, prepared, settings):
        labels = prepared.labels
        return ElectraTextClassifier(encoder, num_classes=len(labels) if labels else 1,
                                     preprocessor=prepared.preprocessor, multi_label=self.name == "multi_label")

    def compile_kwargs(self, prepared):
        return {}  # ElectraTextClassifier.compile picks the loss: cross-entropy, MSE or sigmoid

    def guards(self, best, prepared, health, settings, min_epochs):
        # Only a checkpoint's weights: random weights are a baseline the user asked for.
        if self.name != "classification" or health.get("action") not in ("none", "warned"):
            return []
        steps_per_epoch = math.ceil(prepared.train_rows / settings.batch_size)
        return [PriorOnlyGuard(best, prior_entropy(prepared.train_y), min_epochs, steps_per_epoch)]

    def evaluate(self, model, prepared, settings):
        return _evaluate(model, self.name, prepared.eval_x, prepared.eval_targets)

    def finish(self, model, best, prepared, settings):
        if self.name != "multi_label":
            return best.best
        probabilities = _probabilities(model, prepared.eval_x, "multi_label")
        model.thresholds = scoring.tune_thresholds(prepared.eval_targets, probabilities)
        return {**scoring.multi_label_metrics(prepared.eval_targets, probabilities, model.thresholds),
                "thresholds": model.thresholds}

    def save_preset(self, model, folder, tokenizer, prepared):
        model.save_to_preset(str(folder))

    def save_huggingface(self, model, folder, tokenizer, prepared):
        save_classifier_huggingface(model, tokenizer.get_vocabulary(), folder, labels=prepared.labels,
                                    **tokenizer_kwargs(tokenizer))

    def export(self, model, export_dir, tokenizer, prepared, settings):
        return export_classifier(
            model, export_dir, tokenizer.get_vocabulary(), prepared.preprocessor.sequence_length,
            labels=prepared.labels, pair=prepared.pair, warmup_texts=prepared.warmup_texts,
            **tokenizer_kwargs(tokenizer),
        )

    def summary(self, prepared, final):
        return {"labels": prepared.labels, "eval": final, "train_rows": prepared.train_rows,
                "eval_rows": len(prepared.eval_targets)}


def _targets(settings, train_labels, eval_labels):
    """`(label names or None, train targets, eval targets)`; errors name the file."""
    if settings.task == "regression":
        return None, _as_floats(train_labels, settings.train), _as_floats(eval_labels, settings.eval)
    if settings.task == "multi_label":
        train_sets = [_label_set(label, settings.label_separator) for label in train_labels]
        eval_sets = [_label_set(label, settings.label_separator) for label in eval_labels]
        names = sorted(set().union(*train_sets))
        _check_known(settings, set().union(*eval_sets), names)
        _check_two_classes(settings, names, train_labels)
        index = {name: i for i, name in enumerate(names)}

        def multi_hot(sets):
            targets = np.zeros((len(sets), len(names)), dtype="float32")
            for row, labels in enumerate(sets):
                targets[row, [index[label] for label in labels]] = 1.0
            return targets

        return names, multi_hot(train_sets), multi_hot(eval_sets)
    names = sorted({str(label) for label in train_labels})
    _check_known(settings, {str(label) for label in eval_labels}, names)
    _check_two_classes(settings, names, train_labels)
    index = {name: i for i, name in enumerate(names)}
    return (
        names,
        np.array([index[str(label)] for label in train_labels], dtype="int32"),
        np.array([index[str(label)] for label in eval_labels], dtype="int32"),
    )


def _label_set(value, separator):
    if isinstance(value, list):
        return {str(label) for label in value}
    return {label.strip() for label in str(value).split(separator) if label.strip()}


def _check_known(settings, found, names):
    unknown = sorted(found - set(names))
    if unknown:
        raise LabelledDataError(
            f"{settings.eval}: labels {unknown} do not occur in {settings.train} ({settings.label_field!r})"
        )


def _check_two_classes(settings, names, labels):
    if len(names) < 2:
        raise LabelledDataError(
            f"{settings.train}: the label field {settings.label_field!r} has one class ({names[0]!r}) in "
            f"{len(labels)} rows; a classifier needs two or more (use --task regression for numbers)"
        )


def _as_floats(values, path):
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except (TypeError, ValueError):
            raise LabelledDataError(f"{path}: label {value!r} is not a number (use --task classification)") from None
    return np.array(numbers, dtype="float32")


def _first_rows(rows, count):
    texts, pairs, labels = rows
    return texts[:count], pairs[:count], labels[:count]


def _inputs(rows):
    texts, pairs, _ = rows
    return (texts, [pair or "" for pair in pairs]) if pairs[0] is not None else texts


def _probabilities(classifier, x, task):
    logits = classifier.predict(x, batch_size=128, verbose=0)
    if task == "multi_label":
        return 1.0 / (1.0 + np.exp(-logits))
    return logits


def _evaluate(classifier, task, x, targets):
    outputs = _probabilities(classifier, x, task)
    if task == "regression":
        return {**scoring.regression_metrics(targets, outputs[:, 0]), "loss": _dev_loss(task, targets, outputs)}
    if task == "multi_label":
        # Scored at the thresholds tuned on these rows, as the kept model will be.
        scores = scoring.multi_label_metrics(targets, outputs, scoring.tune_thresholds(targets, outputs))
    else:
        scores = scoring.classification_metrics(targets, outputs.argmax(-1), outputs.shape[-1])
        # How much the logits vary between dev rows: about 0 when the model predicts the prior only.
        scores["logit_spread"] = float(outputs.std(axis=0).mean())
    return {**scores, "loss": _dev_loss(task, targets, outputs)}


def _dev_loss(task, targets, outputs):
    """The training loss on the dev rows (cross-entropy, or squared error for regression)."""
    if task == "regression":
        return float(np.mean((outputs[:, 0] - targets) ** 2))
    if task == "multi_label":
        probabilities = np.clip(outputs, 1e-7, 1 - 1e-7)
        return float(-np.mean(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities)))
    return softmax_cross_entropy(outputs, targets)


def task(name):
    """The registry's entry point (`tasks.registry`): `classification`, `regression` or `multi_label`.

    Example:
    ```python
    task("regression").selection_metric  # "pearson"
    ```
    """
    return ClassificationTask(name)
