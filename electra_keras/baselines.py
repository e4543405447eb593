"""The masked-language-model baseline ELECTRA is measured against.

`MaskedLMPretrainer` is BERT-style pretraining of the same encoder: the
discriminator-sized encoder reads the masked input and predicts the original
token at the masked positions only. It is the official code's
`electra_objective: false` (same masking: ~15% of real tokens, 85% of them
[MASK], the rest kept; no generator, no replaced-token detection), so a
comparison with `ElectraPretrainer` changes the objective and nothing else.
"""

import keras
import keras_hub
from keras import ops

from electra_keras import objective
from electra_keras.config import ModelConfig
from electra_keras.config import ObjectiveConfig
from electra_keras.modeling import ElectraEmbedding
from electra_keras.modeling import ElectraEncoder
from electra_keras.modeling import activation_by_name
from electra_keras.pretrainer import ElectraPretrainer
from electra_keras.pretrainer import _add_noise_seed_generator
from electra_keras.pretrainer import _as_config
from electra_keras.pretrainer import _distinct_dropout_per_replica
from electra_keras.pretrainer import _STATISTICS
from electra_keras.pretrainer import _sum_over_replicas
from electra_keras.pretrainer import split_uniform

MLM_METRIC_NAMES = ("loss", "mlm_loss", "gen_accuracy")


@keras.saving.register_keras_serializable(package="electra_keras")
class MaskedLMPretrainer(ElectraPretrainer):
    """Masked language modelling on the discriminator-sized encoder.

    Takes the same arguments as `ElectraPretrainer` and trains with the same
    loop (global-batch losses, clipping after the cross-replica sum,
    gradient accumulation, stateless masks), but the loss is the masked-LM
    cross-entropy of the encoder itself: only the ~15% masked positions give
    a learning signal. The generator-size fractions and the
    discriminator weight of the configs are ignored. The trained encoder is
    `pretrainer.discriminator`, so fine-tuning, export and
    `ElectraClassifier` take it exactly as they take an ELECTRA
    discriminator.

    Example:
    ```python
    baseline = electra_keras.MaskedLMPretrainer(
        model_config={"vocabulary_size": 1000, "hidden_size": 64, "num_layers": 2,
                      "num_heads": 2, "intermediate_size": 128, "embedding_size": 32},
        objective_config={},
        mask_token_id=4,
        special_token_ids=[0, 2, 3, 4],
    )
    baseline.compile(optimizer=keras.optimizers.AdamW(1e-3))
    baseline.fit(dataset, steps_per_epoch=100)
    classifier = electra_keras.ElectraClassifier(baseline.discriminator, num_classes=2)
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
        # The ELECTRA layers are not wanted: build the Keras model directly.
        keras.Model.__init__(self, **kwargs)
        m = _as_config(ModelConfig, model_config)
        objective_config = _as_config(ObjectiveConfig, objective_config)
        if m.vocabulary_size is None:
            raise ValueError("model_config.vocabulary_size must be set (the tokenizer's size).")
        if not 0 <= mask_token_id < m.vocabulary_size:
            raise ValueError(
                f"mask_token_id {mask_token_id} is outside the vocabulary of {m.vocabulary_size} tokens"
            )
        if int(gradient_accumulation_steps) < 1:
            raise ValueError(
                f"gradient_accumulation_steps must be at least 1, got {gradient_accumulation_steps}"
            )
        dtype = self.dtype_policy
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
        self.discriminator = ElectraEncoder(
            embedding=self.embedding,
            hidden_dim=m.hidden_size,
            num_layers=m.num_layers,
            num_heads=m.num_heads,
            intermediate_dim=m.intermediate_size,
            dropout=m.dropout,
            activation=m.hidden_activation,
            initializer_range=m.initializer_range,
            use_pooler=True,
            dtype=dtype,
            name="discriminator",
        )
        self.discriminator.pooled_dense.trainable = False
        self.mlm_head = keras_hub.layers.MaskedLMHead(
            token_embedding=self.embedding.token_embedding,
            intermediate_activation=activation_by_name(m.hidden_activation),
            layer_norm_epsilon=1e-12,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=m.initializer_range),
            dtype=dtype,
            name="mlm_head",
        )
        self.mlm_head.build((None, None, m.hidden_size), (None, None))
        self.metric_trackers = {name: keras.metrics.Mean(name=name) for name in MLM_METRIC_NAMES}
        _add_noise_seed_generator(self, seed)
        self.built = True
        _distinct_dropout_per_replica(self)

        self.model_config = m
        self.objective_config = objective_config
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = sorted(int(i) for i in special_token_ids)
        self.gradient_clip_norm = gradient_clip_norm
        self.seed = int(seed)
        self.gradient_accumulation_steps = int(gradient_accumulation_steps)

    def call(self, inputs, training=False):
        """The encoder's `[batch, length, hidden]` sequence output."""
        return self.discriminator(inputs, training=training)["sequence_output"]

    def draw_noise(self, seed, batch_size, sequence_length, max_predictions):
        """Noise for the masks only (nothing is sampled), split from the seed as
        `ElectraPretrainer` splits it, so both mask the same positions."""
        # The third stream (the Gumbel noise) is split off but not drawn.
        select, mask, _ = split_uniform(
            seed, [(batch_size, sequence_length), (batch_size, max_predictions), (1,)]
        )
        return {"select": select, "mask": mask}

    def compute_objective(self, inputs, noise, training=False, denominators=None):
        """Masking, the encoder and the masked-LM loss (see `ElectraPretrainer`).

        The `[7]` statistics keep `ElectraPretrainer`'s layout, with the
        discriminator's entries zero, so its accumulation loop applies as is.
        """
        cfg = self.objective_config
        token_ids = ops.cast(inputs["token_ids"], "int32")
        segment_ids = ops.cast(inputs["segment_ids"], "int32")
        padding_mask = ops.cast(inputs["padding_mask"], "int32")
        max_predictions = ops.shape(noise["mask"])[1]
        candidates = objective.candidate_mask(token_ids, padding_mask, self.special_token_ids)
        positions, weights = objective.select_masked_positions(
            candidates, noise["select"], cfg.mask_probability, max_predictions
        )
        masked_ids = objective.apply_masking(
            token_ids, positions, weights, noise["mask"], self.mask_token_id, cfg.mask_token_rate
        )
        sequence = self.discriminator(
            {"token_ids": masked_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            training=training,
        )["sequence_output"]
        logits = self.mlm_head(sequence, mask_positions=positions)
        target_ids = objective.gather_positions(token_ids, positions)
        mlm_sum, mlm_count = objective.masked_lm_loss(logits, target_ids, weights)
        correct = ops.sum(ops.cast(ops.argmax(logits, axis=-1) == target_ids, "float32") * weights)
        zero = ops.zeros_like(mlm_sum)
        local = ops.stop_gradient(ops.stack([mlm_sum, mlm_count, zero, zero, correct, zero, zero]))
        metrics = None
        if denominators is None:
            total = _sum_over_replicas(local)
            metrics = self.metrics_from_statistics(total)
            denominators = (total[1], total[3])
        mlm_loss = mlm_sum / ops.maximum(denominators[0], 1.0)
        return {
            "loss": cfg.generator_weight * mlm_loss,
            "mlm_loss": mlm_loss,
            "statistics": local,
            "metrics": metrics,
            "masked_ids": masked_ids,
            "positions": positions,
            "weights": weights,
            "generator_logits": logits,
        }

    def metrics_from_statistics(self, statistics):
        total = {name: statistics[i] for i, name in enumerate(_STATISTICS)}
        mlm = total["mlm_loss_sum"] / ops.maximum(total["mlm_count"], 1.0)
        return {
            "loss": self.objective_config.generator_weight * mlm,
            "mlm_loss": mlm,
            "gen_accuracy": total["gen_correct"] / ops.maximum(total["mlm_count"], 1.0),
        }

    def _evaluation_logs(self, inputs, results):
        return self._update_metrics(results["metrics"])

    @property
    def metrics(self):
        return list(self.metric_trackers.values())

