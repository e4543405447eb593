"""The FLOPs formulas against the matrix multiplications of the real Keras graph."""

import math

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import electra_keras
from electra_keras.config import ModelConfig
from electra_keras.pretraining import flops


def graph_matmul_flops(function, *specs):
    """2 x multiply-adds of every MatMul / BatchMatMul / Einsum in the traced graph."""
    graph = convert_variables_to_constants_v2(tf.function(function).get_concrete_function(*specs)).graph
    total = 0
    for op in graph.get_operations():
        output = op.outputs[0].shape.as_list() if op.outputs else None
        if op.type in ("MatMul", "BatchMatMulV2", "BatchMatMul"):
            left = op.inputs[0].shape.as_list()
            transposed = op.get_attr("transpose_a") if op.type == "MatMul" else op.get_attr("adj_x")
            total += 2 * math.prod(output) * (left[-2] if transposed else left[-1])
        elif op.type == "Einsum":
            inputs, result = op.get_attr("equation").decode().split("->")
            sizes = {}
            for letters, tensor in zip(inputs.split(","), op.inputs):
                sizes.update(zip(letters, tensor.shape.as_list()))
            contracted = [sizes[c] for c in sizes if c not in result]
            total += 2 * math.prod(output) * math.prod(contracted)
    return total


@pytest.mark.parametrize("embedding_dim", [32, 64])
def test_encoder_flops_equal_the_graph(embedding_dim):
    encoder = electra_keras.ElectraEncoder(
        hidden_dim=64, num_layers=2, num_heads=2, intermediate_dim=256,
        vocabulary_size=500, embedding_dim=embedding_dim, dropout=0.0,
    )
    length = 48

    def forward(ids):
        inputs = {"token_ids": ids, "segment_ids": tf.zeros_like(ids), "padding_mask": tf.ones_like(ids)}
        return encoder(inputs)["sequence_output"]

    counted = graph_matmul_flops(forward, tf.TensorSpec([1, length], tf.int32))
    assert counted > 0
    assert flops.encoder_forward_flops(64, 2, 256, length, embedding_dim) == counted


def test_masked_lm_head_flops_equal_the_graph():
    embedding = keras_hub.layers.ReversibleEmbedding(700, 32)
    embedding.build((None,))
    head = keras_hub.layers.MaskedLMHead(token_embedding=embedding, intermediate_activation="gelu")
    head.build((None, None, 64), (None, None))
    positions = tf.constant(np.arange(7)[None, :], dtype=tf.int32)

    def forward(sequence):
        return head(sequence, mask_positions=positions)

    counted = graph_matmul_flops(forward, tf.TensorSpec([1, 20, 64], tf.float32))
    assert flops.masked_lm_head_flops(64, 32, 700, 7) == counted


def test_electra_step_counts_both_networks_and_mlm_the_encoder_alone():
    config = ModelConfig(
        vocabulary_size=8000, embedding_size=64, hidden_size=128, num_layers=2, num_heads=2,
        intermediate_size=512, generator_size_fraction=0.5,
    )
    electra = flops.pretraining_flops_per_sequence(config, 64, 10, "electra")
    mlm = flops.pretraining_flops_per_sequence(config, 64, 10, "mlm")
    encoder = flops.encoder_forward_flops(128, 2, 512, 64, 64)
    generator = flops.encoder_forward_flops(64, 2, 256, 64, 64) + flops.masked_lm_head_flops(64, 64, 8000, 10)
    assert electra.generator == 3 * generator
    assert electra.discriminator == 3 * (encoder + 2 * 64 * (128 * 128 + 128))
    assert mlm.total == 3 * (encoder + flops.masked_lm_head_flops(128, 64, 8000, 10))
    with pytest.raises(ValueError, match="objective"):
        flops.pretraining_flops_per_sequence(config, 64, 10, "bert")
