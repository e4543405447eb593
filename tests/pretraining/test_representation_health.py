"""Representation health: a fresh encoder is healthy, a deliberately collapsed one is caught."""

import logging
import types

import numpy as np
import pytest
import tensorflow as tf
from collapsed import collapse
from collapsed import sample_inputs
from collapsed import small_encoder

from electra_keras.pretraining.health import COLLAPSE_RATIO
from electra_keras.pretraining.health import describe_collapse
from electra_keras.pretraining.health import fresh_encoder_like
from electra_keras.pretraining.health import health_summary
from electra_keras.pretraining.health import representation_health
from electra_keras.runs.callbacks import RepresentationHealth


@pytest.fixture(scope="module")
def inputs():
    return sample_inputs()  # padding is left out of the spread


def test_a_fresh_encoder_is_healthy(inputs):
    encoder = small_encoder()
    health = representation_health(encoder, inputs, fresh_encoder_like(encoder))
    assert not health["collapsed"]
    assert 0.5 < health["token_spread_ratio"] < 2.0
    assert health["token_spread"] > 0.3 and health["token_cosine"] < 0.9
    summary = health_summary(health)
    assert summary["collapsed"] is False and isinstance(summary["token_spread"], float)


def test_a_collapsed_encoder_is_caught_with_its_numbers(inputs):
    health = representation_health(collapse(small_encoder()), inputs)
    assert health["collapsed"] and health["token_spread_ratio"] < COLLAPSE_RATIO
    assert health["token_cosine"] > 0.99 > health["fresh_token_cosine"]
    message = describe_collapse(health, "the discriminator")
    assert f"{health['token_spread']:.4f}" in message and f"{health['fresh_token_spread']:.4f}" in message


def test_the_pretraining_callback_logs_the_figures_and_warns_once(inputs, caplog):
    encoder = collapse(small_encoder())
    callback = RepresentationHealth(inputs, fresh_encoder_like(encoder))
    callback.set_model(types.SimpleNamespace(
        discriminator=encoder, optimizer=types.SimpleNamespace(iterations=tf.Variable(30, dtype="int64"))))
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    assert "val_token_spread_ratio" not in logs  # no evaluation this epoch: nothing measured
    with caplog.at_level(logging.INFO, logger="electra_keras.runs.callbacks"):
        for epoch in (1, 2):
            logs = {"val_loss": 1.0}
            callback.on_epoch_end(epoch, logs)
    assert logs["val_token_spread_ratio"] < COLLAPSE_RATIO and "val_token_cosine" in logs
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "step 30" in warnings[0].getMessage()
    assert "learning_rate" in warnings[0].getMessage() and "warmup" in warnings[0].getMessage()
    assert callback.warnings == [warnings[0].getMessage()]
