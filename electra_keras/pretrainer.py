"""`ElectraPretrainer`: generator, discriminator and the ELECTRA training loop.

One algorithm, two thin loops: `compute_objective` is written in `keras.ops`
and runs on every Keras backend; `train_step` is a TensorFlow loop
(GradientTape, `tf.distribute`) on the TensorFlow backend and a stateless
JAX loop (`jax.value_and_grad`, `keras.distribution`) on the JAX backend.
"""

import dataclasses

import keras
import keras_hub
from keras import ops

from electra_keras import objective
from electra_keras.config import ModelConfig
from electra_keras.config import ObjectiveConfig
from electra_keras.modeling import ElectraEmbedding
from electra_keras.modeling import ElectraEncoder
from electra_keras.modeling import ReplacedTokenDetectionHead
from electra_keras.modeling import activation_by_name

BACKEND = keras.backend.backend()
if BACKEND == "tensorflow":
    import tensorflow as tf

METRIC_NAMES = (
    "loss",
    "mlm_loss",
    "disc_loss",
    "gen_accuracy",
    "disc_accuracy",
    "replaced_fraction",
)
# Order of the statistics summed across replicas in `compute_objective`.
_STATISTICS = (
    "mlm_loss_sum",
    "mlm_count",
    "disc_loss_sum",
    "disc_count",
    "gen_correct",
    "disc_correct",
    "replaced",
)


class BatchPairAUC(keras.metrics.Metric):
    """ROC AUC over the (replaced, original) token pairs within each batch.

    For each batch the Mann-Whitney statistic is computed exactly from
    average ranks (ties count one half); the pair counts are pooled across
    batches and replicas. That is the AUC of a random replaced token against
    a random original one from the same batch: exact for one batch, and for
    i.i.d. batches an unbiased estimate of the global AUC. Keras' `AUC`
    thresholds probabilities on a fixed grid, which reads 0.5 for an early
    discriminator whose logits all lie within 0.01 of each other.

    Example:
    ```python
    auc = BatchPairAUC()
    auc.update_state(labels, logits, sample_weight=padding_mask)
    auc.result()
    ```
    """

    def __init__(self, name="pair_auc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ordered_pairs = self.add_variable((), initializer="zeros", name="ordered_pairs", aggregation="sum")
        self.pairs = self.add_variable((), initializer="zeros", name="pairs", aggregation="sum")

    def update_state(self, labels, logits, sample_weight=None):
        logits = ops.reshape(ops.cast(logits, "float32"), [-1])
        labels = ops.reshape(ops.cast(labels, "float32"), [-1])
        if sample_weight is not None:
            # Excluded tokens rank above every kept one, so they change no
            # kept token's rank (a fixed shape, unlike a boolean mask, which
            # jit needs).
            keep = ops.reshape(sample_weight, [-1]) > 0
            logits = ops.where(keep, logits, float("inf"))
            labels = labels * ops.cast(keep, "float32")
            count = ops.sum(ops.cast(keep, "float32"))
        else:
            count = ops.cast(ops.size(labels), "float32")
        ordered = ops.sort(logits)
        lower = ops.cast(ops.searchsorted(ordered, logits, side="left"), "float32")
        upper = ops.cast(ops.searchsorted(ordered, logits, side="right"), "float32")
        average_rank = (lower + upper + 1.0) / 2.0  # 1-based, ties averaged
        positives = ops.sum(labels)
        negatives = count - positives
        u_statistic = ops.sum(average_rank * labels) - positives * (positives + 1.0) / 2.0
        self.ordered_pairs.assign_add(u_statistic)
        self.pairs.assign_add(positives * negatives)

    def result(self):
        return ops.where(self.pairs > 0, self.ordered_pairs / ops.maximum(self.pairs, 1.0), 0.5)

    def reset_state(self):
        self.ordered_pairs.assign(0.0)
        self.pairs.assign(0.0)


@keras.saving.register_keras_serializable(package="electra_keras")
class ElectraPretrainer(keras.Model):
    """ELECTRA replaced-token-detection pretraining as one Keras model.

    Builds a discriminator and a smaller generator that share one
    `ElectraEmbedding`, a masked-LM head tied to the shared token embedding
    (computed only at the masked positions) and a per-token discriminator
    head. `train_step` runs the objective of `electra_keras.objective` in the
    paper's order and optimises
    `generator_weight * mlm_loss + discriminator_weight * disc_loss`.

    Losses are means over the *global* batch: counts are summed across
    replicas, so a step under `tf.distribute` equals a step on one device.
    Gradients are clipped by their global norm after the cross-replica sum
    (Keras' own `global_clipnorm` clips each replica's partial gradient).
    Every replica draws its own masks and Gumbel noise from a stateless seed
    folded from `seed`, the optimizer step and the replica id, so runs are
    reproducible and replicas differ.

    Calling the model on `{"token_ids", "segment_ids", "padding_mask"}` gives
    the discriminator's replaced-token logits.

    Args:
        model_config: `electra_keras.config.ModelConfig` or its dict; its
            `vocabulary_size` must be set.
        objective_config: `electra_keras.config.ObjectiveConfig` or its dict.
        mask_token_id: int, id of [MASK].
        special_token_ids: list of ints never masked ([PAD], [CLS], [SEP],
            [MASK]).
        gradient_clip_norm: float or None, global-norm clipping threshold.
        seed: int, seed of the masks and the Gumbel noise.
        gradient_accumulation_steps: int; above 1, each batch is split into
            this many micro-batches run one after another, and their
            gradients are summed before one update. The update equals that of
            the whole batch (losses are divided by the whole batch's counts),
            while activations take the memory of one micro-batch.

    Example:
    ```python
    pretrainer = electra_keras.ElectraPretrainer(
        model_config={"vocabulary_size": 1000, "hidden_size": 64, "num_layers": 2,
                      "num_heads": 2, "intermediate_size": 128, "embedding_size": 32},
        objective_config={},
        mask_token_id=4,
        special_token_ids=[0, 2, 3, 4],
    )
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-3))
    pretrainer.fit(dataset, steps_per_epoch=100)  # dicts of token_ids, segment_ids, padding_mask
    discriminator = pretrainer.discriminator
    ```
    """

    def __init__(
        self,
        model_config,
        objective_config,
        mask_token_id,
        special_token_ids,
        gradient_clip_norm=1.0,
        seed=0,
        gradient_accumulation_steps=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        model_config = _as_config(ModelConfig, model_config)
        objective_config = _as_config(ObjectiveConfig, objective_config)
        if int(gradient_accumulation_steps) < 1:
            raise ValueError(
                f"gradient_accumulation_steps must be at least 1, got {gradient_accumulation_steps}"
            )
        if model_config.vocabulary_size is None:
            raise ValueError("model_config.vocabulary_size must be set (the tokenizer's size).")
        if not 0 <= mask_token_id < model_config.vocabulary_size:
            raise ValueError(
                f"mask_token_id {mask_token_id} is outside the vocabulary "
                f"of {model_config.vocabulary_size} tokens"
            )
        m = model_config
        dtype = self.dtype_policy

        # === Layers ===
        self.embedding = ElectraEmbedding(
            vocabulary_size=m.vocabulary_size,
            embedding_dim=m.embedding_size,
            max_sequence_length=m.max_position_embeddings,
            num_segments=m.num_segments,
            dropout=m.dropout,
            initializer_range=m.initializer_range,
            dtype=dtype,
            name="embedding",
        )
        shared = {
            "embedding": self.embedding,
            "dropout": m.dropout,
            "activation": m.hidden_activation,
            "initializer_range": m.initializer_range,
            "dtype": dtype,
        }
        self.discriminator = ElectraEncoder(
            hidden_dim=m.hidden_size,
            num_layers=m.num_layers,
            num_heads=m.num_heads,
            intermediate_dim=m.intermediate_size,
            use_pooler=True,
            name="discriminator",
            **shared,
        )
        # The pooler is kept for keras-hub and fine-tuning but gets no
        # gradient from the objective (as in the official code): freeze it.
        self.discriminator.pooled_dense.trainable = False
        self.generator = ElectraEncoder(
            hidden_dim=m.generator_hidden_size,
            num_layers=m.generator_num_layers,
            num_heads=m.generator_num_heads,
            intermediate_dim=m.generator_intermediate_size,
            use_pooler=False,
            name="generator",
            **shared,
        )
        self.generator_head = keras_hub.layers.MaskedLMHead(
            token_embedding=self.embedding.token_embedding,
            intermediate_activation=activation_by_name(m.hidden_activation),
            layer_norm_epsilon=1e-12,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=m.initializer_range),
            dtype=dtype,
            name="generator_head",
        )
        self.generator_head.build((None, None, m.generator_hidden_size), (None, None))
        self.discriminator_head = ReplacedTokenDetectionHead(
            hidden_dim=m.hidden_size,
            activation=m.hidden_activation,
            initializer_range=m.initializer_range,
            dtype=dtype,
            name="discriminator_head",
        )
        self.discriminator_head.build((None, None, m.hidden_size))
        self.metric_trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES}
        # Held-out only: how well p(replaced) ranks replaced above original
        # tokens, whatever the threshold.
        self.auc_tracker = BatchPairAUC(name="disc_auc")
        _add_noise_seed_generator(self, seed)
        self.built = True
        _distinct_dropout_per_replica(self)

        # === Config ===
        self.model_config = model_config
        self.objective_config = objective_config
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = sorted(int(i) for i in special_token_ids)
        self.gradient_clip_norm = gradient_clip_norm
        self.seed = int(seed)
        self.gradient_accumulation_steps = int(gradient_accumulation_steps)

    # --- Inference -------------------------------------------------------

    def call(self, inputs, training=False):
        sequence = self.discriminator(inputs, training=training)["sequence_output"]
        return self.discriminator_head(sequence)

    # --- The objective, in the paper's order ------------------------------

    def draw_noise(self, seed, batch_size, sequence_length, max_predictions):
        """Uniform noise for one step from a stateless seed.

        The seed is a `[2]` int64 tensor on TensorFlow and a `[2]` uint32 JAX
        key on JAX; it is split three ways, one stream per use.
        """
        select, mask, gumbel = split_uniform(
            seed,
            [
                (batch_size, sequence_length),
                (batch_size, max_predictions),
                (batch_size, max_predictions, self.model_config.vocabulary_size),
            ],
        )
        return {"select": select, "mask": mask, "gumbel": gumbel}

    def compute_objective(self, inputs, noise, training=False, denominators=None):
        """Runs masking, generator, sampling, discriminator and both losses.

        Args:
            inputs: dict of int `token_ids`, `segment_ids`, `padding_mask`.
            noise: dict from `draw_noise` (`select`, `mask`, `gumbel`).
            denominators: optional `(mlm_count, disc_count)` of the whole
                global batch (from `count_targets`), when `inputs` is only a
                part of it (a micro-batch). By default the counts of `inputs`
                summed over the replicas.

        Returns:
            dict with `loss` (this replica's share of the global loss, the
            value to differentiate), its `mlm_loss` and `disc_loss` terms,
            `statistics` (this replica's summed statistics, a `[7]` vector),
            `metrics` (global values; only without `denominators`) and the
            intermediate tensors.
        """
        cfg = self.objective_config
        token_ids = ops.cast(inputs["token_ids"], "int32")
        segment_ids = ops.cast(inputs["segment_ids"], "int32")
        padding_mask = ops.cast(inputs["padding_mask"], "int32")
        max_predictions = ops.shape(noise["mask"])[1]

        # 1-2. Select ~15% of real tokens; 85% of them become [MASK].
        candidates = objective.candidate_mask(token_ids, padding_mask, self.special_token_ids)
        positions, weights = objective.select_masked_positions(
            candidates, noise["select"], cfg.mask_probability, max_predictions
        )
        masked_ids = objective.apply_masking(
            token_ids, positions, weights, noise["mask"], self.mask_token_id, cfg.mask_token_rate
        )
        # 3. Generator logits at the masked positions only.
        generator_sequence = self.generator(
            {"token_ids": masked_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            training=training,
        )["sequence_output"]
        generator_logits = self.generator_head(generator_sequence, mask_positions=positions)
        target_ids = objective.gather_positions(token_ids, positions)
        # 4-5. Sample replacements; label only tokens that actually changed.
        sampled_ids = objective.gumbel_sample(generator_logits, noise["gumbel"], cfg.temperature)
        corrupted_ids = objective.replace_positions(token_ids, positions, weights, sampled_ids)
        labels = objective.replaced_token_labels(token_ids, corrupted_ids, padding_mask)
        # 6. Discriminator on every token.
        discriminator_sequence = self.discriminator(
            {"token_ids": corrupted_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            training=training,
        )["sequence_output"]
        discriminator_logits = self.discriminator_head(discriminator_sequence)
        # 7. Losses as sums, divided by counts summed over all replicas.
        mlm_sum, mlm_count = objective.masked_lm_loss(generator_logits, target_ids, weights)
        disc_sum, disc_count = objective.replaced_token_detection_loss(
            discriminator_logits, labels, padding_mask
        )
        mask = ops.cast(padding_mask, "float32")
        gen_correct = ops.sum(
            ops.cast(ops.argmax(generator_logits, axis=-1) == target_ids, "float32") * weights
        )
        disc_predictions = ops.cast(ops.cast(discriminator_logits, "float32") > 0.0, "float32")
        disc_correct = ops.sum(ops.cast(disc_predictions == labels, "float32") * mask)
        local = ops.stop_gradient(
            ops.stack([mlm_sum, mlm_count, disc_sum, disc_count, gen_correct, disc_correct, ops.sum(labels)])
        )
        metrics = None
        if denominators is None:
            total = _sum_over_replicas(local)
            metrics = self.metrics_from_statistics(total)
            denominators = (total[1], total[3])
        mlm_loss = mlm_sum / ops.maximum(denominators[0], 1.0)
        disc_loss = disc_sum / ops.maximum(denominators[1], 1.0)
        loss = cfg.generator_weight * mlm_loss + cfg.discriminator_weight * disc_loss
        return {
            "loss": loss,
            "mlm_loss": mlm_loss,
            "disc_loss": disc_loss,
            "statistics": local,
            "metrics": metrics,
            "masked_ids": masked_ids,
            "positions": positions,
            "weights": weights,
            "sampled_ids": sampled_ids,
            "corrupted_ids": corrupted_ids,
            "labels": labels,
            "generator_logits": generator_logits,
            "discriminator_logits": discriminator_logits,
        }

    def metrics_from_statistics(self, statistics):
        """The reported metrics from a `[7]` vector of global statistics."""
        cfg = self.objective_config
        total = {name: statistics[i] for i, name in enumerate(_STATISTICS)}
        mlm = total["mlm_loss_sum"] / ops.maximum(total["mlm_count"], 1.0)
        disc = total["disc_loss_sum"] / ops.maximum(total["disc_count"], 1.0)
        return {
            "loss": cfg.generator_weight * mlm + cfg.discriminator_weight * disc,
            "mlm_loss": mlm,
            "disc_loss": disc,
            "gen_accuracy": total["gen_correct"] / ops.maximum(total["mlm_count"], 1.0),
            "disc_accuracy": total["disc_correct"] / ops.maximum(total["disc_count"], 1.0),
            "replaced_fraction": total["replaced"] / ops.maximum(total["disc_count"], 1.0),
        }

    def count_targets(self, inputs, max_predictions):
        """`(mlm_count, disc_count)` of `inputs`: the loss denominators.

        Both depend on the tokens only (how many positions get masked, how
        many tokens are real), not on the noise.
        """
        token_ids = ops.cast(inputs["token_ids"], "int32")
        padding_mask = ops.cast(inputs["padding_mask"], "int32")
        candidates = objective.candidate_mask(token_ids, padding_mask, self.special_token_ids)
        masked = objective.num_masked_positions(
            candidates, self.objective_config.mask_probability, max_predictions
        )
        return ops.sum(masked), ops.sum(ops.cast(padding_mask, "float32"))

    def compute_gradients(self, inputs, seed=None, noise=None, training=True):
        """This replica's gradients of its share of the global loss.

        With `gradient_accumulation_steps` k above 1, the batch is split into
        k micro-batches run one after another in a `tf.while_loop`; each
        loss term is divided by the count of the whole global batch, so the
        summed gradients equal those of the whole batch.

        Args:
            inputs: dict batch; its size must divide by k.
            seed: `[2]` int64 stateless seed; each micro-batch draws its own
                noise from it (used when `noise` is None).
            noise: dict from `draw_noise` for the whole batch, to fix the
                masks and samples (tests compare k against 1 with it).

        Returns:
            `(gradients, statistics)`: dense gradients of the trainable
            variables (before the cross-replica sum, loss-scaled) and the
            `[7]` statistics summed over the replicas.
        """
        variables = self.trainable_variables
        steps = self.gradient_accumulation_steps
        if steps == 1:
            if noise is None:
                noise = self._noise_for(inputs, seed)
            with tf.GradientTape() as tape:
                results = self.compute_objective(inputs, noise, training=training)
                scaled_loss = self.optimizer.scale_loss(results["loss"])
            gradients = tape.gradient(scaled_loss, variables)
            # Sparse gradients of embedding lookups repeat indices; the global
            # norm of their values is not the norm of the summed gradient.
            gradients = [tf.convert_to_tensor(g) for g in gradients]
            return gradients, _sum_over_replicas(results["statistics"])

        batch_size = inputs["token_ids"].shape[0]
        if batch_size is not None and batch_size % steps:
            raise ValueError(
                f"gradient_accumulation_steps={steps} does not divide the per-replica "
                f"batch of {batch_size} examples"
            )
        _, max_predictions = self._noise_shape(inputs)
        counts = ops.stack(self.count_targets(inputs, max_predictions))
        denominators = tf.unstack(_sum_over_replicas(counts))
        micro_inputs = {k: _split_batch(v, steps) for k, v in inputs.items() if k in _INPUT_KEYS}
        micro_noise = None if noise is None else {k: _split_batch(v, steps) for k, v in noise.items()}

        def body(step, gradient_sums, statistics):
            micro = {k: v[step] for k, v in micro_inputs.items()}
            if micro_noise is None:
                micro_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
                step_noise = self._noise_for(micro, micro_seed)
            else:
                step_noise = {k: v[step] for k, v in micro_noise.items()}
            with tf.GradientTape() as tape:
                results = self.compute_objective(
                    micro, step_noise, training=training, denominators=denominators
                )
                scaled_loss = self.optimizer.scale_loss(results["loss"])
            gradients = tape.gradient(scaled_loss, variables)
            gradient_sums = [s + tf.convert_to_tensor(g) for s, g in zip(gradient_sums, gradients)]
            return step + 1, gradient_sums, statistics + results["statistics"]

        zeros = [tf.zeros(v.shape, dtype=v.dtype) for v in variables]
        # One micro-batch at a time: that is the point of accumulating.
        _, gradients, statistics = tf.while_loop(
            lambda step, *_: step < steps,
            body,
            (tf.constant(0), zeros, tf.zeros([len(_STATISTICS)])),
            parallel_iterations=1,
        )
        return gradients, _sum_over_replicas(statistics)

    # --- Keras training loop -----------------------------------------------

    def train_step(self, *args):
        # Keras calls `train_step(data)` on TensorFlow and the stateless
        # `train_step(state, data)` on JAX.
        if BACKEND == "jax":
            return self._jax_train_step(*args)
        if BACKEND != "tensorflow":
            raise NotImplementedError(
                f"ElectraPretrainer trains on the tensorflow and jax backends, not {BACKEND}; "
                "compute_objective runs on every backend"
            )
        (data,) = args
        inputs = _unpack(data)
        seed = self._step_seed(self.optimizer.iterations, salt=1)
        gradients, statistics = self.compute_gradients(inputs, seed=seed)
        gradients = self._sum_and_clip(gradients)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._update_metrics(self.metrics_from_statistics(statistics))

    def test_step(self, *args):
        if BACKEND == "jax":
            return self._jax_test_step(*args)
        (data,) = args
        inputs = _unpack(data)
        results = self.compute_objective(inputs, self.evaluation_noise(inputs), training=False)
        return self._evaluation_logs(inputs, results)

    def _evaluation_logs(self, inputs, results):
        logits = ops.reshape(ops.cast(results["discriminator_logits"], "float32"), ops.shape(results["labels"]))
        self.auc_tracker.update_state(results["labels"], logits, ops.cast(inputs["padding_mask"], "float32"))
        logs = self._update_metrics(results["metrics"])
        auc = self.auc_tracker.result()
        logs["disc_auc"] = ops.reshape(auc, [1]) if self._in_multi_worker_mode() else auc
        return logs

    def evaluation_noise(self, inputs):
        """The masks and noise `test_step` uses: a function of the data only,
        so that evaluations at different checkpoints score the same corruption."""
        if BACKEND == "jax":
            import jax
            import jax.numpy as jnp

            # A content hash in uint32 (JAX has no int64 by default): fixed
            # by the batch like TensorFlow's, though not the same function.
            content = jnp.sum(inputs["token_ids"].astype(jnp.uint32) * jnp.uint32(7919))
            content = content + jnp.sum(inputs["padding_mask"].astype(jnp.uint32))
            key = jax.random.fold_in(jnp.array([self.seed, 2], dtype=jnp.uint32), content)
            return self._noise_for(inputs, key)
        content = tf.reduce_sum(tf.cast(inputs["token_ids"], tf.int64) * 7919) + tf.cast(
            tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int64)), tf.int64
        )
        return self._noise_for(inputs, self._step_seed(content, salt=2))

    # --- The JAX loop --------------------------------------------------------

    def _jax_train_step(self, state, data):
        """One stateless step: Keras' JAX trainer jits it and, under a
        `keras.distribution.DataParallel`, shards the batch over devices.
        Sums and counts are then global by construction, so nothing is
        all-reduced by hand. With gradient accumulation the micro-batches
        run one after another in a `jax.lax.scan`, each loss divided by the
        whole batch's counts, as the TensorFlow loop does."""
        import jax

        trainable, non_trainable, optimizer_values, metric_values = state
        inputs = {k: v for k, v in _unpack(data).items() if k in _INPUT_KEYS}
        optimizer_mapping = [*zip(self.optimizer.variables, optimizer_values)]

        def scaled_loss(trainable_values, non_trainable_values, batch, denominators):
            mapping = [*zip(self.trainable_variables, trainable_values)]
            mapping += zip(self.non_trainable_variables, non_trainable_values)
            with keras.StatelessScope(state_mapping=mapping) as scope:
                noise = self._noise_for(batch, self.noise_seed_generator.next())
                results = self.compute_objective(batch, noise, training=True, denominators=denominators)
            updated = [scope.get_current_value(v) for v in self.non_trainable_variables]
            with keras.StatelessScope(state_mapping=optimizer_mapping):
                loss = self.optimizer.scale_loss(results["loss"])
            return loss, (results["statistics"], updated)

        gradient_of = jax.value_and_grad(scaled_loss, has_aux=True)
        steps = self.gradient_accumulation_steps
        _, max_predictions = self._noise_shape(inputs)
        denominators = self.count_targets(inputs, max_predictions)
        if steps == 1:
            (_, (statistics, non_trainable)), gradients = gradient_of(
                trainable, non_trainable, inputs, denominators
            )
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
                return (gradient_sums, statistics + micro_statistics, non_trainable_values), None

            zeros = [ops.zeros(v.shape, v.dtype) for v in self.trainable_variables]
            initial = (zeros, ops.zeros([len(_STATISTICS)]), non_trainable)
            (gradients, statistics, non_trainable), _ = jax.lax.scan(accumulate, initial, micro_batches)
        if self.gradient_clip_norm:
            with keras.StatelessScope(state_mapping=optimizer_mapping):
                threshold = self.gradient_clip_norm * self.optimizer.scale_loss(1.0)
            gradients = clip_by_global_norm(gradients, threshold)
        trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, gradients, trainable)
        logs, metric_values = self._jax_update_metrics(
            metric_values, self.metrics_from_statistics(statistics)
        )
        return logs, (trainable, non_trainable, optimizer_values, metric_values)

    def _jax_test_step(self, state, data):
        trainable, non_trainable, metric_values = state
        inputs = _unpack(data)
        mapping = [*zip(self.trainable_variables, trainable), *zip(self.non_trainable_variables, non_trainable)]
        mapping += zip(self.metrics_variables, metric_values)
        with keras.StatelessScope(state_mapping=mapping) as scope:
            results = self.compute_objective(inputs, self.evaluation_noise(inputs), training=False)
            logs = self._evaluation_logs(inputs, results)
        metric_values = [scope.get_current_value(v) for v in self.metrics_variables]
        return logs, (trainable, non_trainable, metric_values)

    def _jax_update_metrics(self, metric_values, values):
        mapping = [*zip(self.metrics_variables, metric_values)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            logs = self._update_metrics(values)
        return logs, [scope.get_current_value(v) for v in self.metrics_variables]

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras pulls a batch and reduces it across replicas to learn input
        # shapes; MultiWorkerMirroredStrategy cannot reduce a dict batch
        # (keras-team/keras#20329). Every layer here is built in __init__,
        # so only the optimizer may be left to build.
        if self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return [*self.metric_trackers.values(), self.auc_tracker]

    def _in_multi_worker_mode(self):
        return BACKEND == "tensorflow" and _in_multi_worker_mode(self.distribute_strategy)

    def _noise_shape(self, inputs):
        sequence_length = inputs["token_ids"].shape[1]
        if sequence_length is None:
            raise ValueError(
                "ElectraPretrainer needs a static sequence length; batch the "
                "dataset with drop_remainder or pad to a fixed length."
            )
        return sequence_length, self.objective_config.resolved_max_predictions(sequence_length)

    def _noise_for(self, inputs, seed):
        sequence_length, max_predictions = self._noise_shape(inputs)
        return self.draw_noise(seed, ops.shape(inputs["token_ids"])[0], sequence_length, max_predictions)

    def _step_seed(self, counter, salt):
        context = tf.distribute.get_replica_context()
        replica_id = tf.cast(context.replica_id_in_sync_group, tf.int64) if context else 0
        seed = tf.constant([self.seed, salt], dtype=tf.int64)
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(counter, tf.int64))
        return tf.random.experimental.stateless_fold_in(seed, replica_id)

    def _sum_and_clip(self, gradients):
        context = tf.distribute.get_replica_context()
        num_replicas = context.num_replicas_in_sync if context else 1
        if num_replicas > 1:
            gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        if self.gradient_clip_norm:
            # With loss scaling the gradients are scaled too; clip in kind.
            threshold = self.gradient_clip_norm * self.optimizer.scale_loss(1.0)
            gradients, _ = tf.clip_by_global_norm(gradients, threshold)
        if num_replicas > 1:
            # The optimizer sums across replicas again; hand it equal shares.
            gradients = [g / num_replicas for g in gradients]
        return gradients

    def _update_metrics(self, values):
        for name, tracker in self.metric_trackers.items():
            tracker.update_state(values[name])
        results = {name: tracker.result() for name, tracker in self.metric_trackers.items()}
        if self._in_multi_worker_mode():
            # Keras reduces logs across workers with a MEAN over axis 0, which
            # a scalar does not have (tensorflow/tensorflow#72388). The values
            # are already global, so one-element vectors reduce to themselves.
            results = {name: ops.reshape(value, [1]) for name, value in results.items()}
        return results

    # --- Serialization -----------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model_config": dataclasses.asdict(self.model_config),
                "objective_config": dataclasses.asdict(self.objective_config),
                "mask_token_id": self.mask_token_id,
                "special_token_ids": self.special_token_ids,
                "gradient_clip_norm": self.gradient_clip_norm,
                "seed": self.seed,
                "gradient_accumulation_steps": self.gradient_accumulation_steps,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def split_uniform(seed, shapes):
    """One U(0, 1) float32 tensor per shape, each from its own split of `seed`.

    `seed` is a `[2]` int64 tensor (TensorFlow stateless seed) or a `[2]`
    uint32 JAX key; the split is the backend's own, so a backend's noise is
    reproducible from the seed (the backends' streams differ).

    Example:
    ```python
    select, mask = split_uniform(seed, [(8, 128), (8, 19)])
    ```
    """
    if BACKEND == "jax":
        import jax

        keys = jax.random.split(seed, len(shapes))
        return [jax.random.uniform(key, tuple(shape)) for key, shape in zip(keys, shapes)]
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=len(shapes)))
    return [tf.random.stateless_uniform(list(shape), s) for s, shape in zip(seeds, shapes)]


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


def _add_noise_seed_generator(model, seed):
    """The masks' and samples' stream on JAX: a `SeedGenerator` whose state
    is a non-trainable variable the stateless step carries. TensorFlow steps
    derive theirs from the optimizer step instead (see `_step_seed`)."""
    if BACKEND == "jax":
        model.noise_seed_generator = keras.random.SeedGenerator(int(seed), name="noise_seeds")


def _distinct_dropout_per_replica(model):
    """Gives every replica its own dropout masks (keras-team/keras#20611).

    A Keras `SeedGenerator`'s state is one mirrored variable, so under
    `tf.distribute` every replica draws the same dropout masks (checked:
    identical on two replicas). Each generator's draw is folded with the
    replica id; on one device nothing changes. Only TensorFlow has replicas.
    """
    if BACKEND != "tensorflow":
        return
    for layer in model._flatten_layers():
        for generator in getattr(layer, "_seed_generators", []):
            if not getattr(generator, "_folds_replica_id", False):
                generator.next = _replica_folded(generator.next)
                generator._folds_replica_id = True


def _replica_folded(next_seed):
    def next_per_replica(ordered=True):
        value = next_seed(ordered)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return value
        replica = tf.cast(context.replica_id_in_sync_group, value.dtype)
        return value + tf.stack([replica * 7919, tf.zeros_like(replica)])

    return next_per_replica


def _in_multi_worker_mode(strategy):
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return strategy.extended._in_multi_worker_mode()


def _sum_over_replicas(value):
    if BACKEND != "tensorflow":
        return value
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


_INPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")


def _split_batch(tensor, parts):
    """`[batch, ...]` -> `[parts, batch // parts, ...]`."""
    # Keep the static trailing dimensions (the sequence length must stay known).
    tensor = tf.convert_to_tensor(tensor)
    return tf.reshape(tensor, [parts, -1] + tensor.shape[1:].as_list())


def _unpack(data):
    if isinstance(data, (tuple, list)):
        data = data[0]
    missing = {"token_ids", "segment_ids", "padding_mask"} - set(data)
    if missing:
        raise ValueError(
            f"ElectraPretrainer expects dict batches with token_ids, segment_ids "
            f"and padding_mask; missing {sorted(missing)}"
        )
    return data


def _as_config(config_class, value):
    if isinstance(value, config_class):
        config = value
    elif isinstance(value, dict):
        config = config_class(**value)
    else:
        raise TypeError(f"expected {config_class.__name__} or dict, got {type(value).__name__}")
    config.validate()
    return config
