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
