"""A small encoder, and a deliberate collapse of its final token states, for the health tests."""

import numpy as np

from electra_keras.models.encoder import ElectraEncoder


def small_encoder():
    """A 2-layer, 32-wide encoder over 100 tokens, freshly initialised."""
    return ElectraEncoder(hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64, vocabulary_size=100,
                          embedding_dim=16, max_sequence_length=32)


def collapse(encoder):
    """Every final token state becomes (nearly) one vector: the last LayerNorm's scale near 0, a shared shift."""
    for weight in encoder.transformer_layers[-1].weights:
        if "feedforward_layer_norm/gamma" in weight.path:
            weight.assign(np.full(weight.shape, 1e-3, "float32"))
        if "feedforward_layer_norm/beta" in weight.path:
            weight.assign(np.linspace(-1.0, 1.0, weight.shape[0]).astype("float32"))
    return encoder


def sample_inputs(rows=8, length=16, real=12, seed=0):
    """Token inputs of `rows` texts of `real` tokens ([CLS] first), padded to `length`."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, 100, (rows, length)).astype("int32")
    token_ids[:, 0] = 2
    padding_mask = np.ones_like(token_ids)
    padding_mask[:, real:] = 0
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": padding_mask}
