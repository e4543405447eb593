"""Pretraining: the objective, the pretrainer model and its training loops.

- `objective`: the ELECTRA objective as pure tensor functions (masking,
  Gumbel sampling, labels, losses), in the paper's order.
- `objectives`: `ElectraObjective` and `MaskedLMObjective`, small layers
  that share one masking function and return named statistics;
  `objective.kind` in the config picks one.
- `trainer`: `ElectraPretrainer`, the `keras.Model` users `fit`.
- `tf_step` / `jax_step`: the TensorFlow and JAX training steps.
- `distribution`: `tf.distribute` strategies and the Keras 3 workarounds
  they need.
- `noise`, `metrics`, `optimization`, `flops`: seeds, the held-out AUC,
  AdamW and its schedules, model FLOPs.

Example:
```python
from electra_keras.pretraining import ElectraPretrainer, build_optimizer

pretrainer = ElectraPretrainer(model_config, objective_config, mask_token_id=4,
                               special_token_ids=[0, 2, 3, 4])
pretrainer.compile(optimizer=build_optimizer(optimizer_config, num_steps=10000))
```
"""

from electra_keras.pretraining.metrics import BatchPairAUC
from electra_keras.pretraining.objectives import ElectraObjective
from electra_keras.pretraining.objectives import MaskedLMObjective
from electra_keras.pretraining.objectives import build_objective
from electra_keras.pretraining.optimization import WarmupLinearDecay
from electra_keras.pretraining.optimization import build_optimizer
from electra_keras.pretraining.trainer import ElectraPretrainer
from electra_keras.pretraining.trainer import MaskedLMPretrainer
from electra_keras.pretraining.trainer import build_pretrainer

__all__ = [
    "BatchPairAUC",
    "ElectraObjective",
    "ElectraPretrainer",
    "MaskedLMObjective",
    "MaskedLMPretrainer",
    "WarmupLinearDecay",
    "build_objective",
    "build_optimizer",
    "build_pretrainer",
]
