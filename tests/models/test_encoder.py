import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import MASK
from conftest import TINY_MODEL
from conftest import make_batch

from electra_keras.models import ElectraEncoder
from electra_keras.pretraining.trainer import ElectraPretrainer

SPECIALS = [0, 2, 3, 4]


def make_pretrainer(**model_overrides):
    return ElectraPretrainer(
        {**TINY_MODEL, **model_overrides}, {}, mask_token_id=MASK, special_token_ids=SPECIALS
    )


def noise_for(pretrainer, batch, seed=0):
    return pretrainer.draw_noise(
        tf.constant([seed, 0], tf.int64), batch["token_ids"].shape[0], batch["token_ids"].shape[1], 4
    )


def test_generator_and_discriminator_share_one_embedding_block():
    pretrainer = make_pretrainer()
    assert pretrainer.generator.embedding is pretrainer.discriminator.embedding
    shared = {id(v) for v in pretrainer.embedding.weights}
    assert shared <= {id(v) for v in pretrainer.generator.weights}
    assert shared <= {id(v) for v in pretrainer.discriminator.weights}
    # The MLM head's output matrix is the shared token embedding.
    assert pretrainer.generator_head.token_embedding is pretrainer.embedding.token_embedding
    # Each variable appears once among the pretrainer's weights.
    paths = [v.path for v in pretrainer.weights]
    assert len({id(v) for v in pretrainer.weights}) == len(paths)
    # The generator is smaller and has its own projection to its width.
    assert pretrainer.generator.hidden_dim == 16 and pretrainer.discriminator.hidden_dim == 32
    assert pretrainer.generator.embeddings_projection is not pretrainer.discriminator.embeddings_projection


def _nonzero(gradients):
    return [g is not None and float(tf.reduce_max(tf.abs(tf.convert_to_tensor(g)))) > 0 for g in gradients]


def test_gradient_flow_of_each_loss():
    pretrainer = make_pretrainer()
    batch = make_batch()
    noise = noise_for(pretrainer, batch)
    generator_only = (
        pretrainer.generator.embeddings_projection.trainable_variables
        + [v for layer in pretrainer.generator.transformer_layers for v in layer.trainable_variables]
        + [
            v for v in pretrainer.generator_head.trainable_variables
            if v is not pretrainer.embedding.token_embedding.embeddings
        ]
    )
    discriminator_only = (
        pretrainer.discriminator.embeddings_projection.trainable_variables
        + [v for layer in pretrainer.discriminator.transformer_layers for v in layer.trainable_variables]
        + pretrainer.discriminator_head.trainable_variables
    )
    shared = pretrainer.embedding.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        results = pretrainer.compute_objective(batch, noise, training=False)
    disc_grads = tape.gradient(results["disc_loss"], generator_only + discriminator_only + shared)
    mlm_grads = tape.gradient(results["mlm_loss"], generator_only + discriminator_only + shared)
    n_gen, n_disc = len(generator_only), len(discriminator_only)
    # The discriminator's loss never reaches the generator: the sample is discrete.
    assert not any(_nonzero(disc_grads[:n_gen]))
    assert all(_nonzero(disc_grads[n_gen : n_gen + n_disc]))
    assert all(_nonzero(disc_grads[n_gen + n_disc :]))
    # The generator's loss reaches the generator and the shared embeddings.
    assert all(_nonzero(mlm_grads[:n_gen]))
    assert not any(_nonzero(mlm_grads[n_gen : n_gen + n_disc]))
    token_embedding_index = n_gen + n_disc
    assert _nonzero(mlm_grads[token_embedding_index:])[0]


def test_trained_discriminator_loads_into_keras_hub_backbone():
    pretrainer = make_pretrainer()
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-2), run_eagerly=True)
    dataset = tf.data.Dataset.from_tensors(make_batch()).repeat()
    pretrainer.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)
    backbone = pretrainer.discriminator.to_keras_hub_backbone()
    assert isinstance(backbone, keras_hub.models.ElectraBackbone)
    batch = make_batch(seed=5)
    ours = pretrainer.discriminator(batch)
    theirs = backbone(batch)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-5)


def test_exact_gelu_is_configurable_and_refuses_lossy_keras_hub_conversion():
    approximate = make_pretrainer()
    exact = make_pretrainer(hidden_activation="gelu")
    exact.set_weights(approximate.get_weights())
    batch = make_batch()
    difference = np.abs(approximate(batch) - exact(batch)).max()
    assert 0 < difference < 1e-2
    with pytest.raises(ValueError, match="tanh-approximate"):
        exact.discriminator.to_keras_hub_backbone()


def test_pretrainer_save_and_reload_keeps_weights_sharing_and_outputs(tmp_path):
    pretrainer = make_pretrainer()
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-2), run_eagerly=True)
    pretrainer.fit(tf.data.Dataset.from_tensors(make_batch()).repeat(), steps_per_epoch=2, verbose=0)
    path = tmp_path / "pretrainer.keras"
    pretrainer.save(path)
    reloaded = keras.models.load_model(path)
    assert reloaded.generator.embedding is reloaded.discriminator.embedding
    batch = make_batch(seed=9)
    np.testing.assert_allclose(pretrainer(batch), reloaded(batch), atol=1e-6)
    noise = noise_for(pretrainer, batch)
    ours = pretrainer.compute_objective(batch, noise)
    theirs = reloaded.compute_objective(batch, noise)
    np.testing.assert_allclose(ours["generator_logits"], theirs["generator_logits"], atol=1e-5)
    assert float(ours["loss"]) == pytest.approx(float(theirs["loss"]), rel=1e-5)


def test_standalone_encoder_round_trips_through_config():
    encoder = ElectraEncoder(
        vocabulary_size=50, embedding_dim=8, hidden_dim=16, num_layers=1,
        num_heads=2, intermediate_dim=32,
    )
    clone = ElectraEncoder.from_config(encoder.get_config())
    clone.set_weights(encoder.get_weights())
    batch = make_batch(vocabulary_size=50)
    np.testing.assert_allclose(
        encoder(batch)["sequence_output"], clone(batch)["sequence_output"], atol=1e-6
    )


def test_an_encoder_round_trips_through_a_keras_hub_preset(tmp_path):
    encoder = ElectraEncoder(
        vocabulary_size=50, embedding_dim=8, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32,
    )
    for variable in encoder.weights:
        variable.assign(variable.numpy() + np.random.default_rng(0).normal(0, 0.05, variable.shape))
    encoder.save_to_preset(tmp_path)
    batch = make_batch(vocabulary_size=50)
    backbone = keras_hub.models.ElectraBackbone.from_preset(str(tmp_path))
    np.testing.assert_allclose(backbone(batch)["sequence_output"], encoder(batch)["sequence_output"], atol=1e-5)
    again = ElectraEncoder.from_preset(tmp_path)
    np.testing.assert_allclose(again(batch)["sequence_output"], encoder(batch)["sequence_output"], atol=1e-6)
    # Exact gelu has no keras-hub form: the preset holds this class instead.
    exact = ElectraEncoder.from_config({**encoder.get_config(), "activation": "gelu"})
    exact.set_weights(encoder.get_weights())
    exact.save_to_preset(tmp_path / "exact")
    reloaded = ElectraEncoder.from_preset(tmp_path / "exact")
    assert reloaded.activation == "gelu"
    np.testing.assert_allclose(reloaded(batch)["sequence_output"], exact(batch)["sequence_output"], atol=1e-6)
