"""The fine-tuning job: a pretrained encoder and labelled files in, a classifier out.

`run_finetuning` is what `scripts/finetune.py` calls. The starting point is
anything `open_pretrained` reads (a run folder or one of its checkpoints, a
Hugging Face discriminator or pair, a keras-hub preset, an official TF1
checkpoint); the vocabulary and casing come with it. The model is an
`ElectraTextClassifier` on the pretrained encoder, fed raw strings.

Defaults that work on a new task: the learning rate follows the model's
size (the paper's 3e-4 / 1e-4 / 5e-5 for small / base / large), training
runs up to `epochs` with an evaluation on the dev file after each, stops
when the dev score has not improved for `patience` epochs, and keeps the
best epoch's weights.

The output folder:

| path | what |
|---|---|
| `metrics.json` | the dev metrics of every epoch, the best epoch, the settings |
| `preset/` | the classifier as a keras-hub preset (`ElectraTextClassifier.from_preset`) |
| `export/classifier/1/` | a SavedModel for TF Serving (`classify` / `regress`, `serving_default`) |
"""

import json
import logging
import math
import pathlib
import sys

import numpy as np

from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.export.classifier import export_classifier
from electra_keras.files import atomic_directory
from electra_keras.files import write_json_atomic
from electra_keras.finetuning import metrics as scoring
from electra_keras.finetuning.health import SAMPLE_ROWS
from electra_keras.finetuning.health import CollapsedEncoderError
from electra_keras.finetuning.health import PriorOnlyGuard
from electra_keras.finetuning.health import checked_encoder
from electra_keras.finetuning.health import prior_entropy
from electra_keras.finetuning.qa_job import run_question_answering
from electra_keras.finetuning.settings import RATES_BY_SIZE  # noqa: F401  (re-exported)
from electra_keras.finetuning.settings import TASKS
from electra_keras.finetuning.settings import BestEpoch
from electra_keras.finetuning.settings import FinetuningSettings  # noqa: F401  (re-exported)
from electra_keras.finetuning.settings import compile_for_finetuning
from electra_keras.finetuning.settings import default_rates  # noqa: F401  (re-exported)
from electra_keras.finetuning.settings import plan_training
from electra_keras.finetuning.settings import run_summary
from electra_keras.finetuning.tagging_job import run_tagging
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.models.preprocessors import ElectraTextClassifierPreprocessor
from electra_keras.models.text_classifier import ElectraTextClassifier
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.labelled_rows import read_labelled

logger = logging.getLogger(__name__)

def run_finetuning(init_from, settings, checkpoint=None, verbose=None):
    """Fine-tunes the encoder of `init_from` on labelled files; returns the summary.

    Args:
        init_from: folder(s) `open_pretrained` reads.
        settings: `FinetuningSettings`.
        checkpoint: a run folder's `ckpt-<step>` instead of its final model.
        verbose: Keras' verbosity; default a progress bar on a terminal.

    Example:
    ```python
    summary = run_finetuning(["runs/demo"], FinetuningSettings("train.csv", "dev.csv", "runs/sentiment"))
    summary["best"]["accuracy"]
    ```
    """
    if settings.task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {settings.task!r}")
    if settings.task == "tagging":
        return run_tagging(init_from, settings, checkpoint, verbose)
    if settings.task == "qa":
        return run_question_answering(init_from, settings, checkpoint, verbose)
    source = open_pretrained(init_from, checkpoint=checkpoint)
    train = read_labelled(settings.train, settings.text_field, settings.label_field, settings.pair_field)
    held_out = read_labelled(settings.eval, settings.text_field, settings.label_field, settings.pair_field)
    labels, train_targets, eval_targets = _targets(settings, train[2], held_out[2])

    plan = plan_training(source, settings)
    length = plan.sequence_length
    tokenizer = make_tokenizer(source.vocabulary, **source.tokenizer_kwargs())
    # Waterfall trimming: the serving export's, so both see the same tokens.
    preprocessor = ElectraTextClassifierPreprocessor(tokenizer, sequence_length=length, truncate="waterfall")
    encoder, health = checked_encoder(source, settings, preprocessor(_inputs(_first_rows(train, SAMPLE_ROWS))))
    classifier = ElectraTextClassifier(
        encoder, num_classes=len(labels) if labels else 1, preprocessor=preprocessor,
        multi_label=settings.task == "multi_label",
    )
    epochs, min_epochs = compile_for_finetuning(classifier, encoder, plan, settings, len(train_targets))

    train_x, eval_x = _inputs(train), _inputs(held_out)
    best = BestEpoch(lambda: _evaluate(classifier, settings.task, eval_x, eval_targets), settings.task,
                     settings.patience, min_epochs)
    guards = []
    if settings.task == "classification" and health.get("action") in ("none", "warned"):
        # Only a checkpoint's weights: random weights are a baseline the user asked for.
        steps_per_epoch = math.ceil(len(train_targets) / settings.batch_size)
        guards.append(PriorOnlyGuard(best, prior_entropy(train_targets), min_epochs, steps_per_epoch))
    classifier.fit(
        train_x, train_targets, batch_size=settings.batch_size, epochs=epochs, callbacks=[best, *guards],
        verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
    )
    for guard in guards:
        if guard.message:
            raise CollapsedEncoderError(f"{settings.train}: {guard.message}")
    best.restore(classifier)
    final = best.best
    if settings.task == "multi_label":
        probabilities = _probabilities(classifier, eval_x, "multi_label")
        classifier.thresholds = scoring.tune_thresholds(eval_targets, probabilities)
        final = {**scoring.multi_label_metrics(eval_targets, probabilities, classifier.thresholds),
                 "thresholds": classifier.thresholds}
    output = pathlib.Path(settings.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_directory(output / "preset") as staging:
        classifier.save_to_preset(str(staging))
    export_dir = export_classifier(
        classifier, output / "export" / "classifier" / "1", source.vocabulary, length, labels=labels,
        pair=settings.pair_field is not None, warmup_texts=train[0][:32], **source.tokenizer_kwargs(),
    )
    summary = run_summary(source, settings, plan, best, export_dir, labels=labels, eval=final,
                          train_rows=len(train_targets), eval_rows=len(eval_targets), encoder_health=health)
    write_json_atomic(output / "metrics.json", summary)
    return summary


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
    shifted = outputs - outputs.max(-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(-np.mean(log_probabilities[np.arange(len(targets)), targets]))


def read_summary(folder):
    """The `metrics.json` of a fine-tuned folder."""
    path = pathlib.Path(folder) / "metrics.json"
    if not path.is_file():
        raise LabelledDataError(f"{folder}: no metrics.json; not a fine-tuned folder")
    return json.loads(path.read_text(encoding="utf-8"))
