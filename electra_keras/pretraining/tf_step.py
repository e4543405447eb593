"""The TensorFlow loop of `ElectraPretrainer`: GradientTape under `tf.distribute`.

One step: draw this replica's noise from a stateless seed folded from the
seed, the optimizer step and the replica id; compute the gradients of this
replica's share of the global loss (with gradient accumulation, one
micro-batch at a time in a `tf.while_loop`); sum them over the replicas,
clip by their global norm, apply once.
"""

import tensorflow as tf

from electra_keras.pretraining.distribution import sum_over_replicas

# Salts of the stateless seeds: training noise, evaluation noise, samples.
TRAIN_SALT, EVALUATION_SALT, SAMPLE_SALT = 1, 2, 3


def step_seed(model, counter, salt):
    """A `[2]` int64 stateless seed from the model's seed, `counter` and the replica.

    Example:
    ```python
    seed = step_seed(pretrainer, pretrainer.optimizer.iterations, TRAIN_SALT)
    ```
    """
    context = tf.distribute.get_replica_context()
    replica_id = tf.cast(context.replica_id_in_sync_group, tf.int64) if context else 0
    seed = tf.constant([model.seed, salt], dtype=tf.int64)
    seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(counter, tf.int64))
    return tf.random.experimental.stateless_fold_in(seed, replica_id)


def train_step(model, inputs):
    """One optimizer step on `inputs`; returns the logs."""
    seed = step_seed(model, model.optimizer.iterations, TRAIN_SALT)
    gradients, statistics = compute_gradients(model, inputs, seed=seed)
    gradients = sum_and_clip(model, gradients)
    model.optimizer.apply(gradients, model.trainable_variables)
    return model.update_metrics(model.objective.metrics_from_statistics(statistics))


def evaluation_noise(model, inputs):
    """Noise that is a function of the batch's content only, so evaluations at
    different checkpoints score the same corruption."""
    content = tf.reduce_sum(tf.cast(inputs["token_ids"], tf.int64) * 7919) + tf.cast(
        tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int64)), tf.int64
    )
    return model.noise_for(inputs, step_seed(model, content, EVALUATION_SALT))


def compute_gradients(model, inputs, seed=None, noise=None, training=True):
    """This replica's gradients of its share of the global loss.

    With `gradient_accumulation_steps` k above 1, the batch is split into k
    micro-batches run one after another in a `tf.while_loop`; each loss term
    is divided by the count of the whole global batch, so the summed
    gradients equal those of the whole batch.

    Args:
        model: an `ElectraPretrainer`.
        inputs: dict batch; its size must divide by k.
        seed: `[2]` int64 stateless seed; each micro-batch draws its own
            noise from it (used when `noise` is None).
        noise: dict of noise for the whole batch, to fix the masks and
            samples (tests compare k against 1 with it).

    Returns:
        `(gradients, statistics)`: dense gradients of the trainable variables
        (before the cross-replica sum, loss-scaled) and the named statistics
        summed over the replicas.
    """
    variables = model.trainable_variables
    steps = model.gradient_accumulation_steps
    if steps == 1:
        if noise is None:
            noise = model.noise_for(inputs, seed)
        with tf.GradientTape() as tape:
            results = model.compute_objective(inputs, noise, training=training)
            scaled_loss = model.optimizer.scale_loss(results["loss"])
        gradients = tape.gradient(scaled_loss, variables)
        # Sparse gradients of embedding lookups repeat indices; the global
        # norm of their values is not the norm of the summed gradient.
        gradients = [tf.convert_to_tensor(g) for g in gradients]
        return gradients, sum_over_replicas(results["statistics"])

    batch_size = inputs["token_ids"].shape[0]
    if batch_size is not None and batch_size % steps:
        raise ValueError(
            f"gradient_accumulation_steps={steps} does not divide the per-replica "
            f"batch of {batch_size} examples"
        )
    _, max_predictions = model.noise_dimensions(inputs)
    denominators = sum_over_replicas(model.objective.count_targets(inputs, max_predictions))
    micro_inputs = {k: _split_batch(v, steps) for k, v in inputs.items()}
    micro_noise = None if noise is None else {k: _split_batch(v, steps) for k, v in noise.items()}

    def body(step, gradient_sums, statistics):
        micro = {k: v[step] for k, v in micro_inputs.items()}
        if micro_noise is None:
            micro_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
            step_noise = model.noise_for(micro, micro_seed)
        else:
            step_noise = {k: v[step] for k, v in micro_noise.items()}
        with tf.GradientTape() as tape:
            results = model.compute_objective(micro, step_noise, training=training, denominators=denominators)
            scaled_loss = model.optimizer.scale_loss(results["loss"])
        gradients = tape.gradient(scaled_loss, variables)
        gradient_sums = [s + tf.convert_to_tensor(g) for s, g in zip(gradient_sums, gradients)]
        statistics = {name: statistics[name] + results["statistics"][name] for name in statistics}
        return step + 1, gradient_sums, statistics

    zeros = [tf.zeros(v.shape, dtype=v.dtype) for v in variables]
    no_statistics = {name: tf.zeros([]) for name in model.objective.statistic_names}
    # One micro-batch at a time: that is the point of accumulating.
    _, gradients, statistics = tf.while_loop(
        lambda step, *_: step < steps,
        body,
        (tf.constant(0), zeros, no_statistics),
        parallel_iterations=1,
    )
    return gradients, sum_over_replicas(statistics)


def sum_and_clip(model, gradients):
    """Sums gradients over the replicas, then clips them by their global norm.

    Keras' own `global_clipnorm` would clip each replica's partial gradient.
    """
    context = tf.distribute.get_replica_context()
    num_replicas = context.num_replicas_in_sync if context else 1
    if num_replicas > 1:
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
    if model.gradient_clip_norm:
        # With loss scaling the gradients are scaled too; clip in kind.
        threshold = model.gradient_clip_norm * model.optimizer.scale_loss(1.0)
        gradients, _ = tf.clip_by_global_norm(gradients, threshold)
    if num_replicas > 1:
        # The optimizer sums across replicas again; hand it equal shares.
        gradients = [g / num_replicas for g in gradients]
    return gradients


def _split_batch(tensor, parts):
    """`[batch, ...]` -> `[parts, batch // parts, ...]`."""
    # Keep the static trailing dimensions (the sequence length must stay known).
    tensor = tf.convert_to_tensor(tensor)
    return tf.reshape(tensor, [parts, -1] + tensor.shape[1:].as_list())

