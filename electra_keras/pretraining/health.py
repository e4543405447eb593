"""Representation health: has the encoder collapsed to one vector?

An ELECTRA discriminator can collapse early in pretraining: every token's
final state becomes nearly the same vector (the replaced-token head then
predicts the prior everywhere), and an encoder in that state can fine-tune
only to the majority class. `representation_health` measures it on real inputs,
relative to a freshly initialised encoder of the same sizes on the same
inputs, so one threshold holds for every model size:

- `token_spread`: the standard deviation across the non-padding tokens of
  each dimension of the final states, averaged over dimensions;
- `cls_spread`: the same across texts for the first token ([CLS]);
- `token_cosine`: the mean cosine between two different tokens' states;
- `*_ratio`: each spread divided by the fresh encoder's.

A token spread under `COLLAPSE_RATIO` (5%) of a fresh encoder's is called
collapsed. Measured here (`benchmarks/collapse_timeline.py`): a 30-step tiny
run that reached its peak learning rate at step 30 sat at 1.5% (mean cosine
0.9998); the ordinary dip of early ELECTRA training, which transformers'
ELECTRA shows at the same steps, bottoms out at 17-25% and recovers, so it
is not flagged (`docs/training.md`, "Representation collapse").
"""

import numpy as np

COLLAPSE_RATIO = 0.05
ADVICE = (
    "lower optimizer.learning_rate (for example by 5x), a longer optimizer.warmup_steps, "
    "or more pretraining steps; an encoder in this state can fine-tune only to the majority class"
)


def encoder_statistics(encoder, inputs):
    """`token_spread`, `cls_spread` and `token_cosine` of one encoder on `inputs` (see the module doc).

    Example:
    ```python
    fresh = encoder_statistics(fresh_encoder_like(encoder), held_out_batch)
    ```
    """
    outputs = encoder(inputs, training=False)
    states = np.asarray(outputs["sequence_output"], dtype="float64")
    mask = np.asarray(inputs["padding_mask"]) > 0
    tokens = states[mask]
    cls = states[:, 0, :]
    unit = tokens / np.maximum(np.linalg.norm(tokens, axis=1, keepdims=True), 1e-12)
    count = len(unit)
    summed = unit.sum(axis=0)
    # Mean cosine over pairs of different tokens, without the count-squared matrix.
    cosine = float((summed @ summed - count) / max(count * (count - 1), 1))
    return {
        "token_spread": float(tokens.std(axis=0).mean()),
        "cls_spread": float(cls.std(axis=0).mean()) if len(cls) > 1 else float("nan"),
        "token_cosine": cosine,
    }


def fresh_encoder_like(encoder):
    """A newly initialised encoder of the same sizes (the health check's reference).

    Its spread varies by a few percent between initialisations; the ratio a
    collapse gives (about 1%) is far from any of them.

    Example:
    ```python
    reference = fresh_encoder_like(pretrainer.discriminator)
    ```
    """
    config = encoder.get_config()
    config.pop("name", None)
    return type(encoder).from_config(config)


def representation_health(encoder, inputs, reference=None, fresh=None):
    """Spreads and mean cosine of an encoder's final states, against a fresh encoder's.

    Args:
        encoder: an `ElectraEncoder` (or any model returning `sequence_output`).
        inputs: dict of `token_ids`, `segment_ids`, `padding_mask` (a fixed
            sample of real examples; a few hundred tokens are enough).
        reference: the fresh encoder to compare with; default one built
            like `encoder` (`fresh_encoder_like`).
        fresh: the reference's `encoder_statistics` on these `inputs`, when
            already measured (a run measures the same sample at every
            evaluation); then `reference` is not used.

    Returns:
        A dict of `token_spread`, `cls_spread`, `token_cosine`, the fresh
        encoder's three (`fresh_*`), `token_spread_ratio`,
        `cls_spread_ratio` and `collapsed` (token spread ratio under
        `COLLAPSE_RATIO`).

    Example:
    ```python
    health = representation_health(pretrainer.discriminator, held_out_batch)
    if health["collapsed"]:
        print(describe_collapse(health))
    ```
    """
    if fresh is None:
        fresh = encoder_statistics(reference if reference is not None else fresh_encoder_like(encoder), inputs)
    measured = encoder_statistics(encoder, inputs)
    health = {**measured, **{f"fresh_{key}": value for key, value in fresh.items()}}
    health["token_spread_ratio"] = measured["token_spread"] / max(fresh["token_spread"], 1e-12)
    health["cls_spread_ratio"] = measured["cls_spread"] / max(fresh["cls_spread"], 1e-12)
    health["collapsed"] = bool(health["token_spread_ratio"] < COLLAPSE_RATIO)
    return health


def describe_collapse(health, where="the encoder"):
    """One sentence with the numbers, for warnings and errors.

    Example:
    ```python
    describe_collapse({"token_spread": 0.012, "fresh_token_spread": 0.83, ...})
    ```
    """
    return (
        f"{where} has collapsed: its final token states are nearly one vector (spread "
        f"{health['token_spread']:.4f} against {health['fresh_token_spread']:.4f} for a freshly initialised "
        f"encoder, {100 * health['token_spread_ratio']:.1f}%; [CLS] spread {100 * health['cls_spread_ratio']:.1f}% "
        f"of fresh; mean cosine between tokens {health['token_cosine']:.4f} against "
        f"{health['fresh_token_cosine']:.4f})"
    )


def health_summary(health):
    """The figures of `representation_health` as plain floats and a bool, for `metrics.json`.

    Example:
    ```python
    metrics["encoder_health"] = health_summary(representation_health(encoder, inputs))
    ```
    """
    return {key: (bool(value) if isinstance(value, (bool, np.bool_)) else round(float(value), 6))
            for key, value in health.items()}
