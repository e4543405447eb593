"""The JAX loop of `ElectraPretrainer`: stateless steps that Keras jits.

Keras' JAX trainer calls `train_step(state, data)` with every variable's
value and jits it; under a `keras.distribution.DataParallel` it shards the
batch over devices. Sums and counts are then global by construction, so
nothing is all-reduced by hand. Masks and Gumbel noise come from a
`keras.random.SeedGenerator` whose state travels with the step; with
gradient accumulation the micro-batches run one after another in a
`jax.lax.scan`, each loss divided by the whole batch's counts, as the
TensorFlow loop does.
"""

import jax
import jax.numpy as jnp
import keras
from keras import ops


def train_step(model, state, data):
    """One stateless optimizer step; returns `(logs, new_state)`."""
    trainable, non_trainable, optimizer_values, metric_values = state
    inputs = model.unpack(data)
    optimizer_mapping = [*zip(model.optimizer.variables, optimizer_values)]

    def scaled_loss(trainable_values, non_trainable_values, batch, denominators):
        mapping = [*zip(model.trainable_variables, trainable_values)]
        mapping += zip(model.non_trainable_variables, non_trainable_values)
        with keras.StatelessScope(state_mapping=mapping) as scope:
            noise = model.noise_for(batch, model.noise_seed_generator.next())
            results = model.compute_objective(batch, noise, training=True, denominators=denominators)
        updated = [scope.get_current_value(v) for v in model.non_trainable_variables]
        with keras.StatelessScope(state_mapping=optimizer_mapping):
            loss = model.optimizer.scale_loss(results["loss"])
        return loss, (results["statistics"], updated)

    gradient_of = jax.value_and_grad(scaled_loss, has_aux=True)
    steps = model.gradient_accumulation_steps
    _, max_predictions = model.noise_dimensions(inputs)
    denominators = model.objective.count_targets(inputs, max_predictions)
    if steps == 1:
        (_, (statistics, non_trainable)), gradients = gradient_of(trainable, non_trainable, inputs, denominators)
    else:
        batch_size = inputs["token_ids"].shape[0]
        if batch_size % steps:
            raise ValueError(
                f"gradient_accumulation_steps={steps} does not divide the batch of {batch_size} examples"
            )
        micro_batches = {k: ops.reshape(v, (steps, -1, *v.shape[1:])) for k, v in inputs.items()}

        def accumulate(carry, micro):
            gradient_sums, statistics, non_trainable_values = carry
            (_, (micro_statistics, non_trainable_values)), gradients = gradient_of(
                trainable, non_trainable_values, micro, denominators
            )
            gradient_sums = [s + g for s, g in zip(gradient_sums, gradients)]
            statistics = {name: statistics[name] + micro_statistics[name] for name in statistics}
            return (gradient_sums, statistics, non_trainable_values), None

        zeros = [ops.zeros(v.shape, v.dtype) for v in model.trainable_variables]
        no_statistics = {name: jnp.zeros([]) for name in model.objective.statistic_names}
        (gradients, statistics, non_trainable), _ = jax.lax.scan(
            accumulate, (zeros, no_statistics, non_trainable), micro_batches
        )
    if model.gradient_clip_norm:
        with keras.StatelessScope(state_mapping=optimizer_mapping):
            threshold = model.gradient_clip_norm * model.optimizer.scale_loss(1.0)
        gradients = clip_by_global_norm(gradients, threshold)
    trainable, optimizer_values = model.optimizer.stateless_apply(optimizer_values, gradients, trainable)
    logs, metric_values = _update_metrics(model, metric_values, model.objective.metrics_from_statistics(statistics))
    return logs, (trainable, non_trainable, optimizer_values, metric_values)


def test_step(model, state, data):
    """One stateless evaluation step; returns `(logs, new_state)`."""
    trainable, non_trainable, metric_values = state
    inputs = model.unpack(data)
    mapping = [*zip(model.trainable_variables, trainable), *zip(model.non_trainable_variables, non_trainable)]
    mapping += zip(model.metrics_variables, metric_values)
    with keras.StatelessScope(state_mapping=mapping) as scope:
        results = model.compute_objective(inputs, evaluation_noise(model, inputs), training=False)
        logs = model.evaluation_logs(inputs, results)
    metric_values = [scope.get_current_value(v) for v in model.metrics_variables]
    return logs, (trainable, non_trainable, metric_values)


def evaluation_noise(model, inputs):
    """Noise fixed by the batch's content, like TensorFlow's (not the same function).

    The content hash is uint32 (JAX has no int64 by default).
    """
    content = jnp.sum(inputs["token_ids"].astype(jnp.uint32) * jnp.uint32(7919))
    content = content + jnp.sum(inputs["padding_mask"].astype(jnp.uint32))
    key = jax.random.fold_in(jnp.array([model.seed, 2], dtype=jnp.uint32), content)
    return model.noise_for(inputs, key)


def clip_by_global_norm(gradients, threshold):
    """Scales the whole list of gradients down to a global norm of `threshold`.

    Example:
    ```python
    gradients = clip_by_global_norm(gradients, 1.0)
    ```
    """
    squares = [ops.sum(ops.square(ops.cast(g, "float32"))) for g in gradients]
    norm = ops.sqrt(ops.sum(ops.stack(squares)))
    scale = threshold / ops.maximum(norm, threshold)
    return [ops.cast(g * scale, g.dtype) for g in gradients]


def _update_metrics(model, metric_values, values):
    mapping = [*zip(model.metrics_variables, metric_values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model.update_metrics(values)
    return logs, [scope.get_current_value(v) for v in model.metrics_variables]
