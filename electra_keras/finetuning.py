"""Fine-tuning the discriminator: classifier heads and layer-wise learning rates.

The paper fine-tunes with layer-wise learning-rate decay: the task head
learns at the full rate, the top Transformer layer at `decay` times it, the
next at `decay**2`, down to the embeddings at `decay**(num_layers + 1)`,
following the official code's depths (embeddings 0, layer `i` at `i + 1`,
the task head at `num_layers + 2`, each scaled by
`decay**(num_layers + 2 - depth)`).
"""

import re

import keras

from electra_keras.modeling import activation_by_name


def _encoder_inputs():
    return {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input(shape=(None,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input(shape=(None,), dtype="int32", name="padding_mask"),
    }


class ElectraClassifier(keras.Model):
    """Sequence classification (or regression) on the discriminator's [CLS].

    The head is dropout, dense (hidden, the encoder's gelu), dropout, dense
    (`num_classes` logits), on the final hidden state of the first token, as
    Hugging Face's `ElectraForSequenceClassification`; the unpretrained
    pooler is not used. `num_classes=1` gives one score, for regression.

    Args:
        encoder: an `ElectraEncoder` (e.g. `pretrainer.discriminator`).
        num_classes: int.
        dropout: float.

    Example:
    ```python
    classifier = ElectraClassifier(pretrainer.discriminator, num_classes=2)
    classifier.compile(
        optimizer=layerwise_decay_adamw(classifier, 1e-4, num_layers=12),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    classifier.fit(dataset)  # ({token_ids, segment_ids, padding_mask}, label) batches
    ```
    """

    def __init__(self, encoder, num_classes, dropout=0.1, **kwargs):
        inputs = _encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        first_token = keras.layers.Lambda(lambda x: x[:, 0, :], name="first_token")(sequence)
        x = keras.layers.Dropout(dropout, name="head_dropout")(first_token)
        x = keras.layers.Dense(
            encoder.hidden_dim, activation=activation_by_name(encoder.activation), name="head_dense"
        )(x)
        x = keras.layers.Dropout(dropout, name="head_output_dropout")(x)
        logits = keras.layers.Dense(num_classes, name="head_logits", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes = num_classes


class ElectraTokenClassifier(keras.Model):
    """A label for every token (tagging), on the discriminator's sequence output.

    Example:
    ```python
    tagger = ElectraTokenClassifier(pretrainer.discriminator, num_classes=9)
    tagger.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ```
    """

    def __init__(self, encoder, num_classes, dropout=0.1, **kwargs):
        inputs = _encoder_inputs()
        sequence = encoder(inputs)["sequence_output"]
        x = keras.layers.Dropout(dropout, name="head_dropout")(sequence)
        logits = keras.layers.Dense(num_classes, name="head_logits", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes = num_classes


_LAYER = re.compile(r"(?:^|/)transformer_layer_(\d+)/")


def layer_depth(variable_path, num_layers):
    """The official depth of a variable: embeddings 0, layer i at i + 1, head num_layers + 2."""
    if variable_path.startswith(("embedding/", "embeddings_projection/")) or "/embedding/" in variable_path:
        return 0
    match = _LAYER.search(variable_path)
    if match:
        return int(match.group(1)) + 1
    return num_layers + 2


def layerwise_multipliers(model, num_layers, decay=0.8):
    """`{variable.path: learning-rate multiplier}` for the trainable variables."""
    return {
        v.path: decay ** (num_layers + 2 - layer_depth(v.path, num_layers)) for v in model.trainable_variables
    }


class LayerwiseDecayAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is scaled per variable (layer-wise decay).

    `multipliers` maps `variable.path` to a factor; others get 1. The
    schedule (warmup, decay) applies on top. Keras applies weight decay
    outside `update_step`, at the unscaled rate (the official code decays
    at each layer's rate: a small difference at weight decay 0.01).

    Example:
    ```python
    optimizer = LayerwiseDecayAdamW(layerwise_multipliers(classifier, 12, 0.8), learning_rate=1e-4)
    ```
    """

    def __init__(self, multipliers, **kwargs):
        super().__init__(**kwargs)
        self.multipliers = dict(multipliers)

    def build(self, variables):
        super().build(variables)
        # update_step may see the backend's variable, not the Keras one:
        # look factors up by the optimizer's own variable index.
        self._factors = [self.multipliers.get(v.path, 1.0) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factors[self._get_variable_index(variable)]
        return super().update_step(gradient, variable, learning_rate * factor)


def layerwise_decay_adamw(model, learning_rate, num_layers, decay=0.8, weight_decay=0.01, **kwargs):
    """The paper's fine-tuning optimizer for `model` (LayerNorm and biases not decayed).

    Example:
    ```python
    optimizer = layerwise_decay_adamw(classifier, 1e-4, num_layers=12, decay=0.8)
    ```
    """
    optimizer = LayerwiseDecayAdamW(
        layerwise_multipliers(model, num_layers, decay),
        learning_rate=learning_rate, weight_decay=weight_decay, beta_2=0.999, epsilon=1e-6, **kwargs,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


# --- Labelled data ---------------------------------------------------------


class LabelledDataError(ValueError):
    """A labelled file that cannot be read; the message names file and line."""


def read_labelled(path, text_field="text", label_field="label", pair_field=None):
    """Rows of a `.csv`, `.tsv` or `.jsonl` file (optionally `.gz`).

    Returns:
        `(texts, pairs, labels)`: lists of str, of str or None (without
        `pair_field`), and the raw label values (str for CSV/TSV).

    Example:
    ```python
    texts, pairs, labels = read_labelled("train.tsv", text_field="sentence")
    ```
    """
    import csv
    import gzip
    import io
    import json
    import pathlib

    path = pathlib.Path(path)
    if not path.exists():
        raise LabelledDataError(f"{path}: file not found")
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    kind = name.rsplit(".", 1)[-1].lower()
    if kind not in ("csv", "tsv", "jsonl"):
        raise LabelledDataError(f"{path}: expected .csv, .tsv or .jsonl (optionally .gz)")
    opener = gzip.open if path.name.endswith(".gz") else open
    wanted = [f for f in (text_field, label_field, pair_field) if f]
    texts, pairs, labels = [], [], []
    with opener(path, "rb") as binary:
        stream = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        if kind == "jsonl":
            rows = ((number, _json_row(path, number, line)) for number, line in enumerate(stream, 1) if line.strip())
        else:
            reader = csv.DictReader(stream, delimiter="\t" if kind == "tsv" else ",")
            missing = [f for f in wanted if f not in (reader.fieldnames or [])]
            if missing:
                raise LabelledDataError(f"{path}:1: no column {missing[0]!r} in the header {reader.fieldnames}")
            rows = ((reader.line_num, row) for row in reader)
        for number, row in rows:
            for field in wanted:
                if row.get(field) in (None, ""):
                    raise LabelledDataError(f"{path}:{number}: empty or missing {field!r}")
            texts.append(str(row[text_field]))
            pairs.append(str(row[pair_field]) if pair_field else None)
            labels.append(row[label_field])
    if not texts:
        raise LabelledDataError(f"{path}: no rows")
    return texts, pairs, labels


def _json_row(path, number, line):
    import json

    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise LabelledDataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    if not isinstance(row, dict):
        raise LabelledDataError(f"{path}:{number}: expected a JSON object")
    return row


def encode_pairs(tokenizer, texts, pairs, sequence_length):
    """`{token_ids, segment_ids, padding_mask}` int32 arrays: [CLS] a [SEP] (b [SEP]).

    Over-long inputs are trimmed longest-first, as the serving export does.

    Example:
    ```python
    inputs = encode_pairs(tokenizer, ["a film"], [None], 128)
    ```
    """
    import numpy as np

    first = [list(map(int, keras.ops.convert_to_numpy(ids))) for ids in tokenizer(texts)]
    second = (
        [list(map(int, keras.ops.convert_to_numpy(ids))) for ids in tokenizer([p or "" for p in pairs])]
        if any(p is not None for p in pairs) else [None] * len(texts)
    )
    token_ids = np.full((len(texts), sequence_length), tokenizer.pad_token_id, dtype="int32")
    segment_ids = np.zeros_like(token_ids)
    for row, (a, b) in enumerate(zip(first, second)):
        if pairs[row] is None:
            b = None
        budget = sequence_length - (3 if b is not None else 2)
        a, b = list(a), (list(b) if b is not None else None)
        while len(a) + (len(b) if b else 0) > budget:
            (a if b is None or len(a) >= len(b) else b).pop()
        ids = [tokenizer.cls_token_id, *a, tokenizer.sep_token_id]
        segments = [0] * len(ids)
        if b is not None:
            ids += [*b, tokenizer.sep_token_id]
            segments += [1] * (len(b) + 1)
        token_ids[row, : len(ids)] = ids
        segment_ids[row, : len(ids)] = segments
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": (token_ids != tokenizer.pad_token_id).astype("int32"),
    }


# --- Metrics -----------------------------------------------------------------


def classification_metrics(labels, predictions, num_classes):
    """Accuracy, macro F1 and, for two classes, the F1 of class 1.

    Example:
    ```python
    classification_metrics([0, 1, 1], [0, 1, 0], num_classes=2)
    ```
    """
    import numpy as np

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
    import numpy as np

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
