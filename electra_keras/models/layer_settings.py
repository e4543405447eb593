"""The activation and initializer every ELECTRA layer is built with."""

import keras
import keras_hub


def activation_by_name(name):
    """Returns the gelu variant named in `ModelConfig.hidden_activation`.

    Example:
    ```python
    gelu = electra_keras.models.activation_by_name("gelu_approximate")
    ```
    """
    if name == "gelu_approximate":
        return keras_hub.src.utils.keras_utils.gelu_approximate
    if name == "gelu":
        return keras.activations.gelu
    raise ValueError(f"hidden_activation must be 'gelu_approximate' or 'gelu', got {name!r}")


def truncated_normal(initializer_range):
    """BERT's weight initializer: a truncated normal of stddev `initializer_range`.

    Example:
    ```python
    dense = keras.layers.Dense(64, kernel_initializer=truncated_normal(0.02))
    ```
    """
    return keras.initializers.TruncatedNormal(stddev=initializer_range)
