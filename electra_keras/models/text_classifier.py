"""`ElectraTextClassifier`: a keras-hub `TextClassifier` task on an ELECTRA backbone."""

import math

import keras
import keras_hub
import numpy as np

from electra_keras.models.layer_settings import activation_by_name
from electra_keras.models.layer_settings import truncated_normal
from electra_keras.models.preprocessors import ElectraTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="electra_keras")
class ElectraTextClassifier(keras_hub.models.TextClassifier):
    """Text classification (or regression) on an ELECTRA backbone, from raw strings.

    The head reads the final hidden state of [CLS]: dropout, Dense(hidden,
    gelu), dropout, Dense(`num_classes`), as Hugging Face's
    `ElectraForSequenceClassification` (ELECTRA's pooler is not pretrained,
    so it is not used). With a preprocessor, `fit`, `evaluate` and `predict`
    take raw strings (or pairs of them); `fit` on in-memory rows shuffles them
    every epoch, as Keras' `fit` does with arrays (keras-hub's task batches
    them in the order given, so a file sorted by label trained one class per
    batch); `save_to_preset` writes a keras-hub
    preset whose backbone `keras_hub.models.ElectraBackbone.from_preset`
    loads, and `from_preset` takes such a preset, from keras-hub or from
    `ElectraPretrainer.save_to_preset`.

    Args:
        backbone: a `keras_hub.models.ElectraBackbone`, or an
            `electra_keras.models.ElectraEncoder` (such as
            `pretrainer.discriminator`): one that keras-hub can represent
            (tanh-approximate gelu) is copied into an `ElectraBackbone`, so
            presets stay keras-hub's; one with exact gelu stays as it is.
        num_classes: int; 1 gives one score, for regression.
        multi_label: bool; each class is a yes/no decision of its own
            (sigmoid cross-entropy on multi-hot labels), with a decision
            threshold per class in `thresholds` (logit 0 by default;
            `electra_keras.finetuning.metrics.tune_thresholds` picks them on
            held-out rows).
        preprocessor: an `ElectraTextClassifierPreprocessor`, or None for
            inputs that are already token ids.
        head_activation: the head's hidden activation: "gelu" (exact, as
            Hugging Face's head, whatever the encoder's) or
            "gelu_approximate".
        dropout: float.

    Example:
    ```python
    classifier = ElectraTextClassifier.from_preset("my_electra", num_classes=2)
    classifier.fit(["a quiet triumph", "a tedious mess"], [1, 0], batch_size=2)
    classifier.predict(["what a film"])
    classifier.save_to_preset("my_classifier")
    ```
    """

    backbone_cls = keras_hub.models.ElectraBackbone
    preprocessor_cls = ElectraTextClassifierPreprocessor

    def __init__(self, backbone, num_classes, preprocessor=None, head_activation="gelu", dropout=0.1,
                 multi_label=False, thresholds=None, **kwargs):
        if getattr(backbone, "keras_hub_compatible", False):
            # keras-hub can hold it: its preset then loads without this package.
            backbone = backbone.to_keras_hub_backbone()
        hidden_dim = backbone.hidden_dim
        if preprocessor is not None and preprocessor.sequence_length > backbone.max_sequence_length:
            # keras-hub's default length (512) may exceed the position table.
            preprocessor.sequence_length = backbone.max_sequence_length
        # The head reads [CLS], not the pooler, which gets no gradient.
        if getattr(backbone, "pooled_dense", None) is not None:
            backbone.pooled_dense.trainable = False
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.head_dropout = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy, name="head_dropout")
        self.head_dense = keras.layers.Dense(
            hidden_dim, activation=activation_by_name(head_activation), kernel_initializer=truncated_normal(0.02),
            dtype=backbone.dtype_policy, name="head_dense",
        )
        self.head_output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="head_output_dropout"
        )
        self.head_logits = keras.layers.Dense(
            num_classes, kernel_initializer=truncated_normal(0.02), dtype="float32", name="head_logits"
        )

        # === Functional Model ===
        inputs = backbone.input
        first_token = backbone(inputs)["sequence_output"][:, 0, :]
        x = self.head_dense(self.head_dropout(first_token))
        outputs = self.head_logits(self.head_output_dropout(x))
        # The default compilation needs num_classes: compile once it is set.
        compile_now = kwargs.pop("compile", True)
        super().__init__(inputs=inputs, outputs=outputs, compile=False, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.head_activation = head_activation
        self.dropout = dropout
        self.multi_label = bool(multi_label)
        self.thresholds = [float(t) for t in thresholds] if thresholds is not None else None
        if compile_now:
            self.compile()

    def fit(self, x=None, y=None, batch_size=None, sample_weight=None, shuffle=True, validation_split=None,
            **kwargs):
        """Keras' `fit`; in-memory rows (strings, arrays, a tuple or dict of
        them) are shuffled every epoch unless `shuffle=False`, with the seed
        of `keras.utils.set_random_seed`. A `tf.data.Dataset` or generator is
        taken as it is."""
        try:  # Imported here: the package loads without TensorFlow (JAX).
            import tensorflow as tf

            from electra_keras.data.tf_pipeline import in_memory_batches
        except ImportError:
            tf = None
        in_memory = tf is not None and x is not None and not isinstance(x, tf.data.Dataset) and (
            isinstance(x, (list, tuple, dict)) or hasattr(x, "__array__") or tf.is_tensor(x)
        )
        if not (shuffle and in_memory):
            return super().fit(x, y, batch_size=batch_size, sample_weight=sample_weight, shuffle=shuffle,
                               validation_split=validation_split, **kwargs)
        rows = _as_arrays(keras.utils.pack_x_y_sample_weight(x, y, sample_weight))
        if validation_split:
            # As Keras does: the last rows, before shuffling, are held out.
            rows, validation = _split_tail(rows, validation_split)
            kwargs.setdefault("validation_data", validation)
        return super().fit(in_memory_batches(rows, batch_size or 32), shuffle=False, **kwargs)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """keras-hub's defaults (Adam 5e-5, cross-entropy on logits, accuracy);
        a regressor (`num_classes=1`) gets mean squared error, a multi-label
        classifier sigmoid cross-entropy and per-class binary accuracy."""
        if self.num_classes == 1:
            loss = keras.losses.MeanSquaredError() if loss == "auto" else loss
            metrics = [] if metrics == "auto" else metrics
        elif getattr(self, "multi_label", False):
            loss = keras.losses.BinaryCrossentropy(from_logits=True) if loss == "auto" else loss
            metrics = [keras.metrics.BinaryAccuracy(threshold=0.0)] if metrics == "auto" else metrics
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "head_activation": self.head_activation,
                "dropout": self.dropout,
                "multi_label": self.multi_label,
                "thresholds": self.thresholds,
            }
        )
        return config


def _as_arrays(value):
    """Lists (of strings, labels) become arrays; tuples and dicts keep their structure."""
    if isinstance(value, dict):
        return {key: _as_arrays(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_as_arrays(item) for item in value)
    return np.asarray(value) if isinstance(value, list) else value


def _split_tail(rows, fraction):
    """`(head, tail)` of every array in `rows`, the tail the last `fraction` of the rows."""
    count = len(keras.tree.flatten(rows)[0])
    cut = math.floor(count * (1.0 - fraction))  # Keras' own split point
    if not 0 < cut < count:
        raise ValueError(f"validation_split={fraction} leaves no training or no validation rows of {count}")
    return (keras.tree.map_structure(lambda value: value[:cut], rows),
            keras.tree.map_structure(lambda value: value[cut:], rows))
