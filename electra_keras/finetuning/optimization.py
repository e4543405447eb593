"""Layer-wise learning-rate decay, the paper's fine-tuning optimizer.

The paper fine-tunes with layer-wise learning-rate decay: the task head
learns at the full rate, the top Transformer layer at `decay` times it, the
next at `decay**2`, down to the embeddings at `decay**(num_layers + 1)`,
following the official code's depths (embeddings 0, layer `i` at `i + 1`,
the task head at `num_layers + 2`, each scaled by
`decay**(num_layers + 2 - depth)`).
"""

import re

import keras

_LAYER = re.compile(r"(?:^|/)transformer_layer_(\d+)/")
# Embedding layers by name: electra_keras's ElectraEncoder and keras-hub's ElectraBackbone.
_EMBEDDINGS = ("embedding", "embeddings_projection", "token_embedding", "position_embedding",
               "segment_embedding", "embeddings_layer_norm")


def layer_depth(variable_path, num_layers):
    """The official depth of a variable: embeddings 0, layer i at i + 1, head num_layers + 2."""
    if variable_path.split("/")[0] in _EMBEDDINGS or "/embedding/" in variable_path:
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
