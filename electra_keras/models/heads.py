"""The pretraining heads: replaced-token detection and the tied masked-LM head."""

import keras
import keras_hub
from keras import ops

from electra_keras.models.layer_settings import activation_by_name
from electra_keras.models.layer_settings import truncated_normal


def tied_masked_lm_head(token_embedding, activation, initializer_range, dtype=None, name="mlm_head"):
    """The generator's head: Dense(embedding, gelu), LayerNorm, then the
    shared token embedding as output matrix plus a bias of its own
    (keras-hub's `MaskedLMHead`), computed only at the masked positions.

    Example:
    ```python
    head = tied_masked_lm_head(embedding.token_embedding, "gelu_approximate", 0.02)
    logits = head(sequence_output, mask_positions=positions)  # [batch, P, vocabulary]
    ```
    """
    head = keras_hub.layers.MaskedLMHead(
        token_embedding=token_embedding,
        intermediate_activation=activation_by_name(activation),
        layer_norm_epsilon=1e-12,
        kernel_initializer=truncated_normal(initializer_range),
        dtype=dtype,
        name=name,
    )
    return head


@keras.saving.register_keras_serializable(package="electra_keras")
class ReplacedTokenDetectionHead(keras.layers.Layer):
    """The discriminator head: Dense(hidden, gelu) then Dense(1) per token.

    Args:
        hidden_dim: int, width of the intermediate Dense.
        activation: "gelu_approximate" or "gelu".
        initializer_range: float, stddev of the truncated-normal initializer.

    Example:
    ```python
    head = electra_keras.models.ReplacedTokenDetectionHead(hidden_dim=64)
    logits = head(sequence_output)  # [batch, length]
    ```
    """

    def __init__(self, hidden_dim, activation="gelu_approximate", initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(
            hidden_dim,
            activation=activation_by_name(activation),
            kernel_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )
        self.logits_dense = keras.layers.Dense(
            1,
            kernel_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="logits",
        )
        self.hidden_dim = hidden_dim
        self.activation = activation
        self.initializer_range = initializer_range

    def build(self, inputs_shape):
        self.dense.build(inputs_shape)
        self.logits_dense.build(tuple(inputs_shape[:-1]) + (self.hidden_dim,))
        self.built = True

    def call(self, inputs):
        return ops.squeeze(self.logits_dense(self.dense(inputs)), axis=-1)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "activation": self.activation,
                "initializer_range": self.initializer_range,
            }
        )
        return config
