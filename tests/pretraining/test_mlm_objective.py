"""objective.kind "mlm": the BERT-style baseline shares ELECTRA's masks, loop and encoder."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import MASK
from conftest import TINY_MODEL
from conftest import make_batch

from electra_keras.finetuning import ElectraClassifier
from electra_keras.pretraining.objectives import ElectraObjective
from electra_keras.pretraining.objectives import MaskedLMObjective
from electra_keras.pretraining.trainer import ElectraPretrainer
from electra_keras.pretraining.trainer import MaskedLMPretrainer

SPECIALS = [0, 2, 3, 4]
NO_DROPOUT = {**TINY_MODEL, "dropout": 0.0}


def test_masks_equal_electras_and_the_loss_is_the_cross_entropy_at_masked_positions():
    batch = make_batch(batch_size=6, seed=1)
    baseline = MaskedLMPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    electra = ElectraPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    seed = tf.constant([3, 4], tf.int64)
    noise = baseline.draw_noise(seed, 6, 24, 4)
    assert set(noise) == {"select", "mask"}  # nothing is sampled: no Gumbel noise is drawn
    electra_noise = electra.draw_noise(seed, 6, 24, 4)
    for key in ("select", "mask"):
        np.testing.assert_array_equal(noise[key], electra_noise[key])
    ours = baseline.compute_objective(batch, noise)
    theirs = electra.compute_objective(batch, electra_noise)
    np.testing.assert_array_equal(ours["masked_ids"], theirs["masked_ids"])

    logits = keras.ops.convert_to_numpy(ours["generator_logits"]).astype("float64")
    weights = keras.ops.convert_to_numpy(ours["weights"])
    targets = np.take_along_axis(batch["token_ids"], keras.ops.convert_to_numpy(ours["positions"]), axis=1)
    log_probabilities = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probabilities, targets[:, :, None], axis=-1)[:, :, 0]
    expected = -(picked * weights).sum() / weights.sum()
    assert 0 < weights.sum() < weights.size  # some list slots are padding and must not count
    assert float(ours["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(ours["metrics"]["mlm_loss"]) == pytest.approx(expected, rel=1e-5)


def test_the_config_kind_picks_the_objective():
    electra = ElectraPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    baseline = ElectraPretrainer(TINY_MODEL, {"kind": "mlm"}, mask_token_id=MASK, special_token_ids=SPECIALS)
    assert isinstance(electra.objective, ElectraObjective) and isinstance(baseline.objective, MaskedLMObjective)
    assert MaskedLMPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS).objective_config.kind == "mlm"
    batch = make_batch(batch_size=4, seed=6)
    noise = baseline.draw_noise(tf.constant([1, 2], tf.int64), 4, 24, 4)
    statistics = baseline.compute_objective(batch, noise)["statistics"]
    assert set(statistics) == {"mlm_loss_sum", "mlm_count", "gen_correct"}
    assert float(statistics["mlm_count"]) > 0
    with pytest.raises(AttributeError, match="only objective.kind 'electra' does"):
        baseline.generator


def test_only_the_encoder_and_its_head_exist_and_learn():
    baseline = MaskedLMPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    names = [v.path for v in baseline.trainable_variables]
    assert not any("generator" in name for name in names)
    assert any(name.startswith("mlm_head") for name in names)
    baseline.compile(optimizer=keras.optimizers.AdamW(3e-3))
    batch = make_batch(batch_size=8, seed=2)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    before = baseline.evaluate(dataset, steps=1, verbose=0, return_dict=True)
    assert set(before) == {"loss", "mlm_loss", "gen_accuracy"}
    baseline.fit(dataset, steps_per_epoch=100, verbose=0)
    after = baseline.evaluate(dataset, steps=1, verbose=0, return_dict=True)
    assert after["mlm_loss"] < 0.75 * before["mlm_loss"]


def test_accumulation_gives_the_whole_batch_gradients():
    batch = make_batch(batch_size=12, seed=3)
    whole = MaskedLMPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    accumulated = MaskedLMPretrainer(
        NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS, gradient_accumulation_steps=3
    )
    accumulated.set_weights(whole.get_weights())
    for model in (whole, accumulated):
        model.compile(optimizer=keras.optimizers.SGD(1.0))
    noise = whole.draw_noise(tf.constant([5, 6], tf.int64), 12, 24, 4)
    expected, _ = whole.compute_gradients(batch, noise=noise)
    got, _ = tf.function(lambda: accumulated.compute_gradients(batch, noise=noise))()
    scale = max(float(tf.reduce_max(tf.abs(g))) for g in expected)
    assert scale > 0
    for g_whole, g_accumulated in zip(expected, got):
        np.testing.assert_allclose(g_accumulated, g_whole, atol=1e-6 * scale)


def test_saved_and_reloaded_and_fine_tuned_like_a_discriminator(tmp_path):
    baseline = MaskedLMPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS, seed=4)
    batch = make_batch(batch_size=4, seed=5)
    baseline.save(tmp_path / "baseline.keras")
    reloaded = keras.models.load_model(tmp_path / "baseline.keras")
    assert isinstance(reloaded, ElectraPretrainer) and reloaded.seed == 4
    assert reloaded.objective_config.kind == "mlm"
    np.testing.assert_allclose(reloaded(batch), baseline(batch), atol=1e-6)
    classifier = ElectraClassifier(reloaded.discriminator, num_classes=3)
    assert classifier(batch).shape == (4, 3)
