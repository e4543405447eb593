"""The ELECTRA objective as small pure tensor functions.

Read top to bottom, these follow the paper (Clark et al., 2020, section 2) and
google-research/electra `pretrain_helpers.py`:

1. `select_masked_positions`: choose ~15% of the real tokens of each sequence.
2. `apply_masking`: 85% of them become [MASK], 15% keep the original token.
3. (generator forward pass, in `objectives.ElectraObjective`)
4. `gumbel_sample`: sample replacements from the generator's softmax.
5. `replace_positions` + `replaced_token_labels`: the discriminator's input
   and its per-token labels.
6. (discriminator forward pass, likewise)
7. `masked_lm_loss` and `replaced_token_detection_loss`: summed losses and
   their counts, so the caller can divide by a global count.

Randomness is passed in as uniform noise tensors, never drawn here, so every
function is deterministic and testable, and the caller decides how each
replica of a distributed run draws its own noise.
"""

from keras import ops

GUMBEL_EPSILON = 1e-9


def candidate_mask(token_ids, padding_mask, special_token_ids):
    """True where a token may be masked: real tokens, not specials or padding.

    Example:
    ```python
    candidates = candidate_mask(token_ids, padding_mask, special_token_ids=[0, 2, 3, 4])
    ```
    """
    candidates = ops.cast(padding_mask, "bool")
    for token_id in special_token_ids:
        candidates = ops.logical_and(candidates, ops.not_equal(token_ids, token_id))
    return candidates


def num_masked_positions(candidates, mask_probability, max_predictions):
    """How many positions `select_masked_positions` masks in each sequence.

    It depends on the candidates only, not on the noise, so the MLM loss
    denominator of a batch is known before its masks are drawn (gradient
    accumulation needs it up front).

    Returns:
        float32 `[batch]`.

    Example:
    ```python
    counts = num_masked_positions(candidate_mask(ids, mask, [0, 2, 3, 4]), 0.15, 19)
    ```
    """
    num_candidates = ops.sum(ops.cast(candidates, "float32"), axis=-1)
    num_to_mask = ops.round(num_candidates * mask_probability)
    num_to_mask = ops.clip(num_to_mask, 1.0, float(max_predictions))
    return ops.minimum(num_to_mask, num_candidates)


def select_masked_positions(candidates, uniform, mask_probability, max_predictions):
    """Chooses positions to mask, without replacement.

    Each sequence masks `round(num_candidates * mask_probability)` positions,
    at least 1 and at most `max_predictions` (and never more than it has
    candidates). The official code draws positions *with* replacement and
    drops duplicates, so it masks a little under the target rate and counts a
    duplicated position twice in the MLM loss; we draw without replacement, as
    the paper describes, by taking the top-k of uniform scores over the
    candidates.

    Args:
        candidates: bool tensor `[batch, length]`, from `candidate_mask`.
        uniform: float tensor `[batch, length]` of U(0, 1) noise.
        mask_probability: float, the share of candidates to mask.
        max_predictions: int, the fixed number of returned positions.

    Returns:
        `(positions, weights)`: int32 `[batch, max_predictions]` positions,
        sorted by score, and float32 weights, 1 for a real masked position and
        0 for padding of the list (whose position is 0).

    Example:
    ```python
    positions, weights = select_masked_positions(
        candidates, keras.random.uniform(candidates.shape), 0.15, 19
    )
    ```
    """
    num_to_mask = num_masked_positions(candidates, mask_probability, max_predictions)
    # Non-candidates score below every candidate (uniform is in [0, 1)).
    scores = ops.where(candidates, ops.cast(uniform, "float32"), -1.0)
    _, positions = ops.top_k(scores, k=max_predictions, sorted=True)
    rank = ops.arange(max_predictions, dtype="float32")
    weights = ops.cast(rank[None, :] < num_to_mask[:, None], "float32")
    positions = ops.cast(positions, "int32") * ops.cast(weights, "int32")
    return positions, weights


def gather_positions(sequence, positions):
    """Gathers `sequence[b, positions[b, p]]` for `[batch, length, ...]` inputs.

    Example:
    ```python
    original_at_masks = gather_positions(token_ids, positions)  # [batch, P]
    ```
    """
    if len(sequence.shape) == 2:
        return ops.take_along_axis(sequence, positions, axis=1)
    return ops.take_along_axis(sequence, positions[:, :, None], axis=1)


def replace_positions(token_ids, positions, weights, new_ids):
    """Writes `new_ids` into `token_ids` at the weighted `positions`.

    Positions are unique (see `select_masked_positions`), so a one-hot sum
    is an exact scatter; positions with weight 0 leave the input unchanged.

    Example:
    ```python
    corrupted = replace_positions(token_ids, positions, weights, sampled_ids)
    ```
    """
    length = ops.shape(token_ids)[1]
    one_hot = ops.one_hot(positions, length, dtype="int32")  # [batch, P, length]
    one_hot = one_hot * ops.cast(weights, "int32")[:, :, None]
    is_replaced = ops.sum(one_hot, axis=1)
    replacement = ops.sum(one_hot * ops.cast(new_ids, "int32")[:, :, None], axis=1)
    return ops.where(is_replaced > 0, replacement, ops.cast(token_ids, "int32"))


def apply_masking(token_ids, positions, weights, uniform, mask_token_id, mask_token_rate):
    """Replaces a `mask_token_rate` share of the chosen positions with [MASK].

    The other chosen positions keep their original token but are still
    predicted by the generator (the official 85/15 split; there is no
    random-token replacement in ELECTRA).

    Args:
        uniform: float tensor `[batch, max_predictions]` of U(0, 1) noise.

    Example:
    ```python
    masked_ids = apply_masking(token_ids, positions, weights, noise, 4, 0.85)
    ```
    """
    use_mask_token = ops.cast(uniform < mask_token_rate, "float32") * weights
    mask_ids = ops.full(ops.shape(positions), mask_token_id, dtype="int32")
    return replace_positions(token_ids, positions, use_mask_token, mask_ids)


def gumbel_sample(logits, uniform, temperature=1.0):
    """Samples one token per row of `logits` by the Gumbel-max trick.

    `argmax(logits / temperature + g)` with `g = -log(-log(u + eps) + eps)`
    is an exact sample from `softmax(logits / temperature)`. No gradient flows
    through the sample; correct samples are allowed (`disallow_correct` off).

    Args:
        logits: float tensor `[..., vocabulary_size]`.
        uniform: U(0, 1) noise of the same shape.

    Example:
    ```python
    sampled_ids = gumbel_sample(generator_logits, keras.random.uniform(shape))
    ```
    """
    logits = ops.cast(ops.stop_gradient(logits), "float32")
    gumbel = -ops.log(-ops.log(uniform + GUMBEL_EPSILON) + GUMBEL_EPSILON)
    return ops.cast(ops.argmax(logits / temperature + gumbel, axis=-1), "int32")


def replaced_token_labels(original_ids, corrupted_ids, padding_mask):
    """1.0 where the discriminator's input differs from the original, else 0.

    A sampled token that equals the original is labelled original.

    Example:
    ```python
    labels = replaced_token_labels(token_ids, corrupted_ids, padding_mask)
    ```
    """
    replaced = ops.logical_and(
        ops.not_equal(original_ids, corrupted_ids), ops.cast(padding_mask, "bool")
    )
    return ops.cast(replaced, "float32")


def masked_lm_loss(logits, target_ids, weights):
    """Summed cross-entropy of the generator at the masked positions.

    Returns:
        `(loss_sum, count)`: divide by the global count for the mean.

    Example:
    ```python
    loss_sum, count = masked_lm_loss(generator_logits, original_at_masks, weights)
    ```
    """
    logits = ops.cast(logits, "float32")
    per_position = ops.sparse_categorical_crossentropy(target_ids, logits, from_logits=True)
    return ops.sum(per_position * weights), ops.sum(weights)


def replaced_token_detection_loss(logits, labels, padding_mask):
    """Summed sigmoid cross-entropy of the discriminator over non-padding tokens.

    Specials ([CLS], [SEP]) count, as in the official code.

    Returns:
        `(loss_sum, count)`: divide by the global count for the mean.

    Example:
    ```python
    loss_sum, count = replaced_token_detection_loss(disc_logits, labels, padding_mask)
    ```
    """
    logits = ops.cast(logits, "float32")
    mask = ops.cast(padding_mask, "float32")
    # Stable form of -[y log s(x) + (1 - y) log(1 - s(x))].
    per_token = ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(per_token * mask), ops.sum(mask)
