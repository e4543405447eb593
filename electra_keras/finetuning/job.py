"""The fine-tuning job: a pretrained encoder and labelled files in, a classifier out.

`run_finetuning` is what `scripts/finetune.py` calls. The starting point is
anything `open_pretrained` reads (a run folder or one of its checkpoints, a
Hugging Face pair, a keras-hub preset, an official TF1 checkpoint); the
vocabulary and casing come with it. The output folder gets `metrics.json`,
`classifier.weights.h5` and `export/classifier/1/`, a SavedModel for TF
Serving.
"""

import dataclasses
import pathlib

import keras
import numpy as np

from electra_keras.data.labelled_rows import LabelledDataError
from electra_keras.data.labelled_rows import encode_pairs
from electra_keras.data.labelled_rows import read_labelled
from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.export.classifier import export_classifier
from electra_keras.files import atomic_path
from electra_keras.files import write_json_atomic
from electra_keras.finetuning.metrics import classification_metrics
from electra_keras.finetuning.metrics import regression_metrics
from electra_keras.finetuning.optimization import layerwise_decay_adamw
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.models.task_heads import ElectraClassifier
from electra_keras.pretraining.optimization import WarmupLinearDecay

TASKS = ("classification", "regression")


@dataclasses.dataclass
class FinetuningSettings:
    """What a fine-tuning run reads and how it trains.

    Example:
    ```python
    settings = FinetuningSettings(train="train.csv", eval="dev.csv", output="runs/task", epochs=3)
    ```
    """

    train: str
    eval: str
    output: str
    text_field: str = "text"
    pair_field: str = None
    label_field: str = "label"
    task: str = "classification"
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    layer_decay: float = 0.8
    warmup_fraction: float = 0.1
    # None: the length the checkpoint was trained at, else 128.
    sequence_length: int = None
    seed: int = 0


def run_finetuning(init_from, settings, checkpoint=None, verbose=2):
    """Fine-tunes the encoder of `init_from` on labelled files; returns the summary.

    Args:
        init_from: folder(s) `open_pretrained` reads.
        settings: `FinetuningSettings`.
        checkpoint: a run folder's `ckpt-<step>` instead of its final model.

    Example:
    ```python
    summary = run_finetuning(["runs/demo"], FinetuningSettings("train.csv", "dev.csv", "runs/sentiment"))
    summary["eval"]["accuracy"]
    ```
    """
    if settings.task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {settings.task!r}")
    source = open_pretrained(init_from, checkpoint=checkpoint)
    train = read_labelled(settings.train, settings.text_field, settings.label_field, settings.pair_field)
    held_out = read_labelled(settings.eval, settings.text_field, settings.label_field, settings.pair_field)
    classification = settings.task == "classification"
    if classification:
        names = sorted({str(label) for label in train[2]})
        index = {name: i for i, name in enumerate(names)}
        unknown = sorted({str(label) for label in held_out[2]} - set(index))
        if unknown:
            raise LabelledDataError(f"{settings.eval}: labels {unknown} do not occur in {settings.train}")
        train_labels = np.array([index[str(label)] for label in train[2]], dtype="int32")
        eval_labels = np.array([index[str(label)] for label in held_out[2]], dtype="int32")
    else:
        names = None
        train_labels = _as_floats(train[2], settings.train)
        eval_labels = _as_floats(held_out[2], settings.eval)

    keras.utils.set_random_seed(settings.seed)
    tokenizer = make_tokenizer(source.vocabulary, source.lowercase, source.strip_accents)
    length = settings.sequence_length or source.sequence_length or 128
    length = min(length, source.model_config.max_position_embeddings)
    train_inputs = encode_pairs(tokenizer, train[0], train[1], length)
    eval_inputs = encode_pairs(tokenizer, held_out[0], held_out[1], length)

    encoder = source.build_pretrainer().discriminator
    model = ElectraClassifier(encoder, num_classes=len(names) if classification else 1)
    steps = settings.epochs * max(1, len(train_labels) // settings.batch_size)
    schedule = WarmupLinearDecay(settings.learning_rate, int(settings.warmup_fraction * steps), steps)
    model.compile(
        optimizer=layerwise_decay_adamw(model, schedule, encoder.num_layers, settings.layer_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if classification else keras.losses.MeanSquaredError(),
    )
    model.fit(train_inputs, train_labels, batch_size=settings.batch_size, epochs=settings.epochs, verbose=verbose)
    outputs = model.predict(eval_inputs, batch_size=settings.batch_size, verbose=0)
    if classification:
        metrics = classification_metrics(eval_labels, outputs.argmax(-1), len(names))
    else:
        metrics = regression_metrics(eval_labels, outputs[:, 0])
    output = pathlib.Path(settings.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "classifier.weights.h5") as temporary:
        model.save_weights(temporary)
    export_dir = export_classifier(
        model, output / "export" / "classifier" / "1", source.vocabulary, length, labels=names,
        pair=settings.pair_field is not None, lowercase=source.lowercase, strip_accents=source.strip_accents,
        warmup_texts=train[0][:32],
    )
    summary = {
        "task": settings.task, "labels": names, "eval": metrics, "train_rows": len(train_labels),
        "eval_rows": len(eval_labels), "steps": steps, "init_from": source.describe(),
        "export": str(export_dir), "sequence_length": length,
    }
    write_json_atomic(output / "metrics.json", summary)
    return summary


def _as_floats(values, path):
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except (TypeError, ValueError):
            raise LabelledDataError(f"{path}: label {value!r} is not a number (use --task classification)") from None
    return np.array(numbers, dtype="float32")
