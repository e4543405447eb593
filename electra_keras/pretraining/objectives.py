"""The two pretraining objectives as small Keras layers over one encoder.

`ElectraObjective` (replaced token detection) and `MaskedLMObjective` (the
BERT-style baseline, official `electra_objective: false`) mask the batch
with the same function and the same noise, so for one seed both see the
same masks; they differ only in what learns from them. `objective.kind` in
the config picks one (`build_objective`).

Each `compute` returns this replica's share of the global loss and its
statistics as a dict of named sums. Losses are divided by counts summed over
the whole global batch (all replicas, all micro-batches), so a step split
across devices or micro-batches equals the step on one device.
"""

import keras
from keras import ops

from electra_keras.models.encoder import ElectraEncoder
from electra_keras.models.heads import ReplacedTokenDetectionHead
from electra_keras.models.heads import tied_masked_lm_head
from electra_keras.pretraining import objective
from electra_keras.pretraining.distribution import sum_over_replicas


class MaskingObjective(keras.layers.Layer):
    """What both objectives share: masking, the noise it needs, the counts.

    Args:
        model_config: `electra_keras.config.ModelConfig` (validated).
        objective_config: `electra_keras.config.ObjectiveConfig`.
        mask_token_id: int, id of [MASK].
        special_token_ids: ints never masked ([PAD], [CLS], [SEP], [MASK]).
    """

    # Counts that divide the summed losses: known from the tokens alone.
    denominator_names = ("mlm_count",)

    def __init__(self, model_config, objective_config, mask_token_id, special_token_ids, **kwargs):
        super().__init__(**kwargs)
        self.model_config = model_config
        self.objective_config = objective_config
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = sorted(int(i) for i in special_token_ids)

    def noise_shapes(self, batch_size, sequence_length, max_predictions):
        """Shapes of the U(0, 1) noise of one batch, in a fixed order.

        Both objectives split their seed into the same three streams, so one
        seed gives both the same masks.
        """
        return {
            "select": (batch_size, sequence_length),
            "mask": (batch_size, max_predictions),
            "gumbel": (batch_size, max_predictions, self.model_config.vocabulary_size),
        }

    def mask(self, inputs, noise):
        """Steps 1-2 of the paper: choose ~15% of real tokens, [MASK] 85% of them.

        Returns:
            dict of `positions`, `weights` (1 for a real masked position),
            `masked_ids` (the masked input) and `target_ids` (the original
            tokens at the positions).
        """
        cfg = self.objective_config
        token_ids = ops.cast(inputs["token_ids"], "int32")
        padding_mask = ops.cast(inputs["padding_mask"], "int32")
        max_predictions = ops.shape(noise["mask"])[1]
        candidates = objective.candidate_mask(token_ids, padding_mask, self.special_token_ids)
        positions, weights = objective.select_masked_positions(
            candidates, noise["select"], cfg.mask_probability, max_predictions
        )
        masked_ids = objective.apply_masking(
            token_ids, positions, weights, noise["mask"], self.mask_token_id, cfg.mask_token_rate
        )
        return {
            "positions": positions,
            "weights": weights,
            "masked_ids": masked_ids,
            "target_ids": objective.gather_positions(token_ids, positions),
        }

    def count_targets(self, inputs, max_predictions):
        """The loss denominators of `inputs`, by name.

        They depend on the tokens only (how many positions get masked, how
        many tokens are real), not on the noise, so a whole batch's counts
        are known before its micro-batches run.
        """
        token_ids = ops.cast(inputs["token_ids"], "int32")
        padding_mask = ops.cast(inputs["padding_mask"], "int32")
        candidates = objective.candidate_mask(token_ids, padding_mask, self.special_token_ids)
        masked = objective.num_masked_positions(
            candidates, self.objective_config.mask_probability, max_predictions
        )
        counts = {"mlm_count": ops.sum(masked), "disc_count": ops.sum(ops.cast(padding_mask, "float32"))}
        return {name: counts[name] for name in self.denominator_names}

    def _global_denominators(self, statistics, denominators):
        """`(denominators, metrics)`: the given counts, or this batch's summed
        over the replicas (then its metrics are global too)."""
        if denominators is not None:
            return denominators, None
        total = sum_over_replicas(statistics)
        return {name: total[name] for name in self.denominator_names}, self.metrics_from_statistics(total)


class ElectraObjective(MaskingObjective):
    """Replaced token detection: generator, Gumbel sampling, discriminator head.

    Owns the generator (an `ElectraEncoder` of `generator_size_fraction` of
    the discriminator's width that reads the shared embedding), its masked-LM
    head tied to the shared token embedding, and the per-token discriminator
    head. The discriminator encoder itself belongs to the pretrainer (it is
    what is kept) and is passed to `compute`.

    The loss is `generator_weight * mlm_loss + discriminator_weight *
    disc_loss`; no gradient flows through the discrete sample, but the
    discriminator's flows into the shared embedding.

    Example:
    ```python
    objective = ElectraObjective(model_config, objective_config, 4, [0, 2, 3, 4], embedding=embedding)
    results = objective.compute(discriminator, inputs, noise)
    results["loss"], results["statistics"]["disc_correct"]
    ```
    """

    statistic_names = (
        "mlm_loss_sum", "mlm_count", "disc_loss_sum", "disc_count", "gen_correct", "disc_correct", "replaced",
    )
    metric_names = ("loss", "mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "replaced_fraction")
    denominator_names = ("mlm_count", "disc_count")
    # Held-out only: `BatchPairAUC` of the discriminator's logits.
    reports_auc = True

    def __init__(self, model_config, objective_config, mask_token_id, special_token_ids, embedding, **kwargs):
        super().__init__(model_config, objective_config, mask_token_id, special_token_ids, **kwargs)
        m = model_config
        dtype = self.dtype_policy
        # === Layers ===
        self.generator = ElectraEncoder.from_model_config(m, embedding, "generator", dtype)
        self.generator_head = tied_masked_lm_head(
            embedding.token_embedding, m.hidden_activation, m.initializer_range, dtype, name="generator_head"
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
        self.built = True

    def logits(self, discriminator, inputs, training=False):
        """The discriminator head's replaced-token logits `[batch, length]`."""
        sequence = discriminator(inputs, training=training)["sequence_output"]
        return self.discriminator_head(sequence)

    def compute(self, discriminator, inputs, noise, training=False, denominators=None):
        """The objective in the paper's order (see `electra_keras.pretraining.objective`).

        Args:
            discriminator: the discriminator `ElectraEncoder`.
            inputs: dict of int `token_ids`, `segment_ids`, `padding_mask`.
            noise: dict of uniform noise shaped by `noise_shapes`.
            denominators: optional dict of the whole global batch's counts
                (`count_targets` summed over replicas) when `inputs` is a
                micro-batch; by default this batch's, summed over replicas.

        Returns:
            dict with `loss` (this replica's share of the global loss, the
            value to differentiate), `mlm_loss`, `disc_loss`, `statistics`
            (this replica's named sums), `metrics` (global; only without
            `denominators`) and the intermediate tensors.
        """
        cfg = self.objective_config
        token_ids = ops.cast(inputs["token_ids"], "int32")
        segment_ids = ops.cast(inputs["segment_ids"], "int32")
        padding_mask = ops.cast(inputs["padding_mask"], "int32")
        # 1-2. Select ~15% of real tokens; 85% of them become [MASK].
        masked = self.mask(inputs, noise)
        positions, weights, target_ids = masked["positions"], masked["weights"], masked["target_ids"]
        # 3. Generator logits at the masked positions only.
        generator_sequence = self.generator(
            {"token_ids": masked["masked_ids"], "segment_ids": segment_ids, "padding_mask": padding_mask},
            training=training,
        )["sequence_output"]
        generator_logits = self.generator_head(generator_sequence, mask_positions=positions)
        # 4-5. Sample replacements; label only tokens that actually changed.
        sampled_ids = objective.gumbel_sample(generator_logits, noise["gumbel"], cfg.temperature)
        corrupted_ids = objective.replace_positions(token_ids, positions, weights, sampled_ids)
        labels = objective.replaced_token_labels(token_ids, corrupted_ids, padding_mask)
        # 6. Discriminator on every token.
        discriminator_logits = self.logits(
            discriminator,
            {"token_ids": corrupted_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            training=training,
        )
        # 7. Losses as sums, divided by global counts.
        mlm_sum, mlm_count = objective.masked_lm_loss(generator_logits, target_ids, weights)
        disc_sum, disc_count = objective.replaced_token_detection_loss(
            discriminator_logits, labels, padding_mask
        )
        real = ops.cast(padding_mask, "float32")
        disc_predictions = ops.cast(ops.cast(discriminator_logits, "float32") > 0.0, "float32")
        statistics = {
            "mlm_loss_sum": mlm_sum,
            "mlm_count": mlm_count,
            "disc_loss_sum": disc_sum,
            "disc_count": disc_count,
            "gen_correct": _correct_predictions(generator_logits, target_ids, weights),
            "disc_correct": ops.sum(ops.cast(disc_predictions == labels, "float32") * real),
            "replaced": ops.sum(labels),
        }
        statistics = {name: ops.stop_gradient(value) for name, value in statistics.items()}
        denominators, metrics = self._global_denominators(statistics, denominators)
        mlm_loss = mlm_sum / ops.maximum(denominators["mlm_count"], 1.0)
        disc_loss = disc_sum / ops.maximum(denominators["disc_count"], 1.0)
        return {
            "loss": cfg.generator_weight * mlm_loss + cfg.discriminator_weight * disc_loss,
            "mlm_loss": mlm_loss,
            "disc_loss": disc_loss,
            "statistics": statistics,
            "metrics": metrics,
            **masked,
            "sampled_ids": sampled_ids,
            "corrupted_ids": corrupted_ids,
            "labels": labels,
            "generator_logits": generator_logits,
            "discriminator_logits": discriminator_logits,
        }

    def metrics_from_statistics(self, totals):
        """The reported metrics from named statistics summed over the global batch."""
        cfg = self.objective_config
        mlm = totals["mlm_loss_sum"] / ops.maximum(totals["mlm_count"], 1.0)
        disc = totals["disc_loss_sum"] / ops.maximum(totals["disc_count"], 1.0)
        return {
            "loss": cfg.generator_weight * mlm + cfg.discriminator_weight * disc,
            "mlm_loss": mlm,
            "disc_loss": disc,
            "gen_accuracy": totals["gen_correct"] / ops.maximum(totals["mlm_count"], 1.0),
            "disc_accuracy": totals["disc_correct"] / ops.maximum(totals["disc_count"], 1.0),
            "replaced_fraction": totals["replaced"] / ops.maximum(totals["disc_count"], 1.0),
        }


class MaskedLMObjective(MaskingObjective):
    """BERT-style masked language modelling of the discriminator-sized encoder.

    The official `electra_objective: false`: the encoder reads the masked
    input and a masked-LM head tied to the shared token embedding predicts
    the original tokens at the masked positions only (~15% of the tokens
    give a learning signal). No generator, no replaced-token detection; the
    encoder is still the pretrainer's `discriminator`, so fine-tuning and
    export take it as they take an ELECTRA discriminator.

    Example:
    ```python
    objective = MaskedLMObjective(model_config, objective_config, 4, [0, 2, 3, 4], embedding=embedding)
    results = objective.compute(encoder, inputs, noise)
    ```
    """

    statistic_names = ("mlm_loss_sum", "mlm_count", "gen_correct")
    metric_names = ("loss", "mlm_loss", "gen_accuracy")
    reports_auc = False

    def __init__(self, model_config, objective_config, mask_token_id, special_token_ids, embedding, **kwargs):
        super().__init__(model_config, objective_config, mask_token_id, special_token_ids, **kwargs)
        m = model_config
        # === Layers ===
        self.mlm_head = tied_masked_lm_head(
            embedding.token_embedding, m.hidden_activation, m.initializer_range, self.dtype_policy, name="mlm_head"
        )
        self.mlm_head.build((None, None, m.hidden_size), (None, None))
        self.built = True

    def noise_shapes(self, batch_size, sequence_length, max_predictions):
        shapes = super().noise_shapes(batch_size, sequence_length, max_predictions)
        # Nothing is sampled: the third stream is split off but not drawn.
        return {**shapes, "gumbel": None}

    def compute(self, encoder, inputs, noise, training=False, denominators=None):
        """Masking, the encoder and the masked-LM loss (see `ElectraObjective.compute`)."""
        masked = self.mask(inputs, noise)
        sequence = encoder(
            {
                "token_ids": masked["masked_ids"],
                "segment_ids": ops.cast(inputs["segment_ids"], "int32"),
                "padding_mask": ops.cast(inputs["padding_mask"], "int32"),
            },
            training=training,
        )["sequence_output"]
        logits = self.mlm_head(sequence, mask_positions=masked["positions"])
        mlm_sum, mlm_count = objective.masked_lm_loss(logits, masked["target_ids"], masked["weights"])
        statistics = {
            "mlm_loss_sum": mlm_sum,
            "mlm_count": mlm_count,
            "gen_correct": _correct_predictions(logits, masked["target_ids"], masked["weights"]),
        }
        statistics = {name: ops.stop_gradient(value) for name, value in statistics.items()}
        denominators, metrics = self._global_denominators(statistics, denominators)
        mlm_loss = mlm_sum / ops.maximum(denominators["mlm_count"], 1.0)
        return {
            "loss": self.objective_config.generator_weight * mlm_loss,
            "mlm_loss": mlm_loss,
            "statistics": statistics,
            "metrics": metrics,
            **masked,
            "generator_logits": logits,
        }

    def metrics_from_statistics(self, totals):
        mlm = totals["mlm_loss_sum"] / ops.maximum(totals["mlm_count"], 1.0)
        return {
            "loss": self.objective_config.generator_weight * mlm,
            "mlm_loss": mlm,
            "gen_accuracy": totals["gen_correct"] / ops.maximum(totals["mlm_count"], 1.0),
        }


OBJECTIVES = {"electra": ElectraObjective, "mlm": MaskedLMObjective}


def build_objective(model_config, objective_config, mask_token_id, special_token_ids, embedding, dtype=None):
    """The objective `objective_config.kind` names, sharing `embedding`.

    Example:
    ```python
    objective = build_objective(model_config, ObjectiveConfig(kind="mlm"), 4, [0, 2, 3, 4], embedding)
    ```
    """
    objective_class = OBJECTIVES[objective_config.kind]
    return objective_class(
        model_config, objective_config, mask_token_id, special_token_ids,
        embedding=embedding, dtype=dtype, name=f"{objective_config.kind}_objective",
    )


def _correct_predictions(logits, target_ids, weights):
    return ops.sum(ops.cast(ops.argmax(logits, axis=-1) == target_ids, "float32") * weights)
