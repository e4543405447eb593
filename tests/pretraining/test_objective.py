import numpy as np
import pytest
import tensorflow as tf
from conftest import CLS
from conftest import MASK
from conftest import PAD
from conftest import SEP
from conftest import make_batch

from electra_keras.config import max_predictions_per_seq
from electra_keras.pretraining import objective

SPECIALS = [PAD, CLS, SEP, MASK]


def draw_masks(batch, seed, mask_probability=0.15, max_predictions=None):
    length = batch["token_ids"].shape[1]
    max_predictions = max_predictions or max_predictions_per_seq(length, mask_probability)
    candidates = objective.candidate_mask(batch["token_ids"], batch["padding_mask"], SPECIALS)
    uniform = tf.random.stateless_uniform(batch["token_ids"].shape, [seed, 0])
    positions, weights = objective.select_masked_positions(
        candidates, uniform, mask_probability, max_predictions
    )
    return candidates.numpy(), positions.numpy(), weights.numpy()


def test_max_predictions_matches_official_formula():
    assert max_predictions_per_seq(128, 0.15) == 19
    assert max_predictions_per_seq(512, 0.15) == 79
    assert max_predictions_per_seq(512, 0.25) == 130


def test_masking_rate_specials_padding_and_uniqueness_over_many_draws():
    batch = make_batch(batch_size=32, length=128, seed=1)
    masked_total, candidate_total = 0, 0
    for seed in range(50):
        candidates, positions, weights = draw_masks(batch, seed)
        for row in range(len(positions)):
            chosen = positions[row][weights[row] > 0]
            # Unique: drawn without replacement.
            assert len(set(chosen.tolist())) == len(chosen)
            # Never a special token or padding.
            assert candidates[row, chosen].all()
            assert not np.isin(batch["token_ids"][row, chosen], SPECIALS).any()
            assert batch["padding_mask"][row, chosen].all()
            expected = min(19, max(1, round(candidates[row].sum() * 0.15)))
            assert len(chosen) == expected
        masked_total += weights.sum()
        candidate_total += candidates.sum()
    assert masked_total / candidate_total == pytest.approx(0.15, abs=0.01)


def test_every_candidate_is_chosen_about_equally_often():
    batch = make_batch(batch_size=1, length=40, seed=2)
    batch["padding_mask"][:] = 1
    batch["token_ids"][0, 1:] = 7
    counts = np.zeros(40)
    for seed in range(2000):
        _, positions, weights = draw_masks(batch, seed)
        np.add.at(counts, positions[0][weights[0] > 0], 1)
    assert counts[0] == 0  # [CLS]
    chosen = counts[1:]
    assert chosen.min() > 0.7 * chosen.mean() and chosen.max() < 1.3 * chosen.mean()


def test_mask_token_split_is_85_15_and_no_random_tokens():
    batch = make_batch(batch_size=64, length=64, seed=3)
    became_mask, kept, total = 0, 0, 0
    for seed in range(20):
        _, positions, weights = draw_masks(batch, seed)
        uniform = tf.random.stateless_uniform(positions.shape, [seed, 1])
        masked = objective.apply_masking(
            batch["token_ids"], positions, weights, uniform, MASK, 0.85
        ).numpy()
        original_at = np.take_along_axis(batch["token_ids"], positions, axis=1)
        masked_at = np.take_along_axis(masked, positions, axis=1)
        real = weights > 0
        became_mask += (masked_at[real] == MASK).sum()
        kept += (masked_at[real] == original_at[real]).sum()
        total += real.sum()
        # Outside the chosen positions nothing changes.
        unchanged = np.ones_like(masked, dtype=bool)
        for row in range(len(positions)):
            unchanged[row, positions[row][real[row]]] = False
        np.testing.assert_array_equal(masked[unchanged], batch["token_ids"][unchanged])
    assert became_mask + kept == total
    assert became_mask / total == pytest.approx(0.85, abs=0.02)


def test_sequence_without_candidates_masks_nothing():
    token_ids = np.array([[CLS, SEP, PAD, PAD]], dtype="int32")
    padding_mask = np.array([[1, 1, 0, 0]], dtype="int32")
    candidates = objective.candidate_mask(token_ids, padding_mask, SPECIALS)
    _, weights = objective.select_masked_positions(candidates, tf.random.uniform((1, 4)), 0.15, 2)
    assert weights.numpy().sum() == 0


def test_replace_positions_ignores_zero_weights():
    token_ids = np.array([[10, 11, 12, 13]], dtype="int32")
    positions = np.array([[2, 0]], dtype="int32")
    weights = np.array([[1.0, 0.0]], dtype="float32")
    new_ids = np.array([[99, 98]], dtype="int32")
    result = objective.replace_positions(token_ids, positions, weights, new_ids).numpy()
    np.testing.assert_array_equal(result, [[10, 11, 99, 13]])


def test_sampled_token_equal_to_original_is_labelled_original():
    token_ids = np.array([[CLS, 20, 21, 22, SEP, PAD]], dtype="int32")
    padding_mask = np.array([[1, 1, 1, 1, 1, 0]], dtype="int32")
    positions = np.array([[1, 2, 3]], dtype="int32")
    weights = np.ones((1, 3), dtype="float32")
    sampled = np.array([[20, 50, 22]], dtype="int32")  # 1 and 3 sample the original
    corrupted = objective.replace_positions(token_ids, positions, weights, sampled)
    labels = objective.replaced_token_labels(token_ids, corrupted, padding_mask).numpy()
    np.testing.assert_array_equal(labels, [[0, 0, 1, 0, 0, 0]])


def test_gumbel_sample_follows_the_softmax_and_temperature():
    logits = tf.constant([[2.0, 1.0, 0.0, -1.0]])
    draws = 20000
    tiled = tf.tile(logits, [draws, 1])
    for temperature in (1.0, 2.0):
        uniform = tf.random.stateless_uniform(tiled.shape, [7, int(temperature)])
        samples = objective.gumbel_sample(tiled, uniform, temperature).numpy()
        frequencies = np.bincount(samples, minlength=4) / draws
        expected = tf.nn.softmax(logits[0] / temperature).numpy()
        np.testing.assert_allclose(frequencies, expected, atol=0.015)


def test_gumbel_sample_passes_no_gradient():
    logits = tf.Variable([[1.0, 2.0, 3.0]])
    with tf.GradientTape() as tape:
        sample = objective.gumbel_sample(logits, tf.random.uniform((1, 3)))
        value = tf.reduce_sum(tf.cast(sample, tf.float32) * logits)
    gradient = tape.gradient(value, logits).numpy()
    # Only the explicit product carries gradient; the sample itself is constant.
    np.testing.assert_array_equal(gradient, [[float(sample.numpy()[0])] * 3])


def test_losses_match_numpy_reference():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 7)).astype("float32")
    targets = rng.integers(0, 7, (2, 3)).astype("int32")
    weights = np.array([[1, 1, 0], [1, 0, 0]], dtype="float32")
    loss_sum, count = objective.masked_lm_loss(logits, targets, weights)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(np.take_along_axis(log_probs, targets[..., None], -1)[..., 0] * weights).sum()
    assert float(loss_sum) == pytest.approx(expected, rel=1e-5)
    assert float(count) == 3

    disc_logits = rng.normal(size=(2, 4)).astype("float32") * 5
    labels = rng.integers(0, 2, (2, 4)).astype("float32")
    padding = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], dtype="int32")
    loss_sum, count = objective.replaced_token_detection_loss(disc_logits, labels, padding)
    probability = 1 / (1 + np.exp(-disc_logits))
    per_token = -(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))
    assert float(loss_sum) == pytest.approx((per_token * padding).sum(), rel=1e-5)
    assert float(count) == 5
