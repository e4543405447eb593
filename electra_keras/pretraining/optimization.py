"""AdamW and the learning-rate schedules of ELECTRA pretraining."""

import keras
from keras import ops

# Variables whose name contains one of these get no weight decay.
NO_WEIGHT_DECAY = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="electra_keras")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup and linear decay to zero, in one of two forms.

    - `"paper"`: rises linearly to `learning_rate` over `warmup_steps`, then
      falls linearly to 0 at `num_steps` (what the paper describes).
    - `"official"`: google-research/electra's `optimization.py`: a linear
      decay from step 0 to `num_steps`, *multiplied* by
      `min(1, step / warmup_steps)`, so warmup and decay overlap.

    Args:
        learning_rate: float, the peak rate.
        warmup_steps: int.
        num_steps: int, the step at which the rate reaches 0.
        form: "paper" or "official".

    Example:
    ```python
    schedule = electra_keras.pretraining.WarmupLinearDecay(5e-4, 10000, 1000000)
    float(schedule(10000))  # 5e-4
    ```
    """

    def __init__(self, learning_rate, warmup_steps, num_steps, form="paper"):
        if form not in ("paper", "official"):
            raise ValueError(f"form must be 'paper' or 'official', got {form!r}")
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.num_steps = int(num_steps)
        self.form = form

    def __call__(self, step):
        step = ops.cast(step, "float32")
        num_steps = float(max(self.num_steps, 1))
        warmup = ops.minimum(1.0, step / float(max(self.warmup_steps, 1)))
        if self.form == "official":
            decay = ops.maximum(0.0, 1.0 - step / num_steps)
        else:
            decay_span = max(self.num_steps - self.warmup_steps, 1)
            decay = ops.clip(
                1.0 - (step - float(self.warmup_steps)) / float(decay_span), 0.0, 1.0
            )
            decay = ops.where(step < self.warmup_steps, 1.0, decay)
        return self.learning_rate * warmup * decay

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "num_steps": self.num_steps,
            "form": self.form,
        }


def build_optimizer(optimizer_config, num_steps):
    """AdamW with ELECTRA's settings; no decay on LayerNorm weights or biases.

    Gradient clipping is done by `ElectraPretrainer` after the cross-replica
    sum, so the optimizer does none. Keras' AdamW applies Adam's bias
    correction; the official optimizer omits it, which matters only in the
    first few thousand steps, where warmup keeps the rate small.

    Example:
    ```python
    optimizer = electra_keras.pretraining.build_optimizer(config.optimizer, 1000)
    ```
    """
    # A run shorter than its warmup stays on the warmup ramp (as the official
    # schedule does): squeezing the warmup into a 30-step tiny run reached the
    # peak rate in 30 steps and collapsed its discriminator (docs/training.md).
    schedule = WarmupLinearDecay(
        optimizer_config.learning_rate,
        optimizer_config.warmup_steps,
        num_steps,
        form=optimizer_config.schedule,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=optimizer_config.weight_decay,
        beta_1=optimizer_config.beta_1,
        beta_2=optimizer_config.beta_2,
        epsilon=optimizer_config.epsilon,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
