"""Model FLOPs of pretraining: what a step costs, to compare objectives and MFU.

Counts the matrix multiplications (2 FLOPs per multiply-add), which are
nearly all of a Transformer's arithmetic; softmax, LayerNorm, GELU and the
optimizer are left out, as in the usual model-FLOPs convention (Kaplan et
al. 2020; the PaLM paper's MFU). A training step is 3x the forward pass
(the backward pass costs two forwards). The ELECTRA paper's own counts
include elementwise operations too, so they run a little higher.
"""

import dataclasses


def encoder_forward_flops(hidden_size, num_layers, intermediate_size, sequence_length, embedding_size):
    """FLOPs of one sequence through a Transformer encoder, forward only.

    Per layer: Q, K, V and output projections `8 S H^2`, attention scores and
    the weighted sum `4 S^2 H`, feed-forward `4 S H I`; plus the embedding
    projection `2 S E H` when the embedding size differs from the hidden size.

    Example:
    ```python
    encoder_forward_flops(256, 12, 1024, 128, 128)  # ELECTRA-Small, one sequence
    ```
    """
    h, s = hidden_size, sequence_length
    per_layer = 8 * s * h * h + 4 * s * s * h + 4 * s * h * intermediate_size
    projection = 2 * s * embedding_size * h if embedding_size != h else 0
    return num_layers * per_layer + projection


def masked_lm_head_flops(hidden_size, embedding_size, vocabulary_size, num_predictions):
    """Forward FLOPs of a tied masked-LM head at `num_predictions` positions."""
    return 2 * num_predictions * (hidden_size * embedding_size + embedding_size * vocabulary_size)


@dataclasses.dataclass
class StepFlops:
    """Training FLOPs of one sequence, by part (forward + backward)."""

    generator: int
    discriminator: int

    @property
    def total(self):
        return self.generator + self.discriminator


def pretraining_flops_per_sequence(model_config, sequence_length, num_predictions, objective="electra"):
    """Training FLOPs (3x forward) of one sequence under an objective.

    Args:
        model_config: `electra_keras.config.ModelConfig` with `vocabulary_size`.
        sequence_length: int.
        num_predictions: int, masked positions per sequence (the objective's
            `max_predictions_per_seq`; the MLM head runs on all of them).
        objective: `"electra"` (generator + MLM head at the masked positions,
            discriminator + per-token head) or `"mlm"` (the
            discriminator-sized encoder + MLM head, `MaskedLMPretrainer`).

    Returns:
        `StepFlops`; for `"mlm"`, `generator` is 0 and `discriminator` holds
        the encoder and its head.

    Example:
    ```python
    config = electra_keras.ElectraConfig.from_yaml("configs/small.yaml").model
    config.vocabulary_size = 30522
    pretraining_flops_per_sequence(config, 128, 19).total / 128  # per token
    ```
    """
    m = model_config
    if m.vocabulary_size is None:
        raise ValueError("model_config.vocabulary_size must be set")
    s, e, v = sequence_length, m.embedding_size, m.vocabulary_size
    if objective == "mlm":
        encoder = encoder_forward_flops(m.hidden_size, m.num_layers, m.intermediate_size, s, e)
        head = masked_lm_head_flops(m.hidden_size, e, v, num_predictions)
        return StepFlops(generator=0, discriminator=3 * (encoder + head))
    if objective != "electra":
        raise ValueError(f"objective must be 'electra' or 'mlm', got {objective!r}")
    generator = encoder_forward_flops(
        m.generator_hidden_size, m.generator_num_layers, m.generator_intermediate_size, s, e
    ) + masked_lm_head_flops(m.generator_hidden_size, e, v, num_predictions)
    discriminator = encoder_forward_flops(m.hidden_size, m.num_layers, m.intermediate_size, s, e)
    # The replaced-token head: dense H -> H, then H -> 1, on every token.
    discriminator += 2 * s * (m.hidden_size * m.hidden_size + m.hidden_size)
    return StepFlops(generator=3 * generator, discriminator=3 * discriminator)
