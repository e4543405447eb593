import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import MASK
from conftest import TINY_MODEL
from conftest import make_batch

from electra_keras.config import OptimizerConfig
from electra_keras.pretraining import tf_step
from electra_keras.pretraining.metrics import BatchPairAUC
from electra_keras.pretraining.optimization import WarmupLinearDecay
from electra_keras.pretraining.optimization import build_optimizer
from electra_keras.pretraining.trainer import ElectraPretrainer

SPECIALS = [0, 2, 3, 4]
NO_DROPOUT = {**TINY_MODEL, "dropout": 0.0}


class ExampleSeededPretrainer(ElectraPretrainer):
    """Noise drawn per example from its content, whichever replica holds it."""

    def noise_for(self, inputs, seed):
        token_ids = inputs["token_ids"]
        length = token_ids.shape[1]
        max_predictions = self.objective_config.resolved_max_predictions(length)
        keys = tf.reduce_sum(
            tf.cast(token_ids, tf.int64) * tf.range(1, length + 1, dtype=tf.int64), axis=1
        )

        def per_example(key):
            noise = self.draw_noise(tf.stack([key, tf.constant(0, tf.int64)]), 1, length, max_predictions)
            return noise["select"][0], noise["mask"][0], noise["gumbel"][0]

        select, mask, gumbel = tf.map_fn(
            per_example, keys, fn_output_signature=(tf.float32, tf.float32, tf.float32)
        )
        return {"select": select, "mask": mask, "gumbel": gumbel}


def dataset_of(batch):
    return tf.data.Dataset.from_tensors(batch).repeat()


def test_fit_on_tf_data_reports_all_metrics_and_learns():
    pretrainer = ElectraPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    pretrainer.compile(optimizer=keras.optimizers.AdamW(3e-3))
    batch = make_batch(batch_size=16)
    history = pretrainer.fit(dataset_of(batch), steps_per_epoch=10, epochs=4, verbose=0).history
    for name in ("loss", "mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "replaced_fraction"):
        assert np.isfinite(history[name]).all(), name
    assert history["mlm_loss"][-1] < history["mlm_loss"][0]
    assert history["loss"][-1] < history["loss"][0]
    expected_loss = history["mlm_loss"][-1] + 50 * history["disc_loss"][-1]
    assert history["loss"][-1] == pytest.approx(expected_loss, rel=1e-4)
    evaluation = pretrainer.evaluate(dataset_of(batch).take(2), return_dict=True, verbose=0)
    again = pretrainer.evaluate(dataset_of(batch).take(2), return_dict=True, verbose=0)
    assert evaluation == again  # held-out masks depend on the data only


def test_held_out_auc_is_the_exact_mann_whitney_statistic_of_the_batch():
    pretrainer = ElectraPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    pretrainer.compile(optimizer=keras.optimizers.AdamW(3e-3))
    batch = make_batch(batch_size=32, seed=9)
    pretrainer.fit(dataset_of(batch), steps_per_epoch=20, verbose=0)
    evaluation = pretrainer.evaluate(dataset_of(batch).take(1), return_dict=True, verbose=0)

    inputs = {k: tf.constant(v) for k, v in batch.items()}
    results = pretrainer.compute_objective(inputs, pretrainer.evaluation_noise(inputs))
    real = batch["padding_mask"].astype(bool)
    labels = np.asarray(results["labels"])[real]
    scores = np.asarray(results["discriminator_logits"]).reshape(real.shape)[real]
    replaced, original = scores[labels == 1], scores[labels == 0]
    # Mann-Whitney: the chance a replaced token outscores an original one.
    exact = ((replaced[:, None] > original[None, :]).mean() + 0.5 * (replaced[:, None] == original[None, :]).mean())
    assert 0.0 < exact < 1.0 and len(replaced) > 5
    metric = BatchPairAUC()
    metric.update_state(results["labels"], np.asarray(results["discriminator_logits"]).reshape(real.shape),
                        batch["padding_mask"].astype("float32"))
    assert float(metric.result()) == pytest.approx(exact, abs=1e-6)
    # evaluate() runs the same step as a graph: logits agree to ~1e-6, which
    # can reorder near-ties of this barely trained discriminator.
    assert evaluation["disc_auc"] == pytest.approx(exact, abs=1e-3)


@pytest.mark.slow
def test_one_step_on_two_replicas_equals_one_step_on_one_device(two_replicas):
    batch = make_batch(batch_size=8, seed=4)
    single = ExampleSeededPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    initial = single.get_weights()
    single.compile(optimizer=keras.optimizers.SGD(0.5))
    single_logs = single.fit(dataset_of(batch), steps_per_epoch=1, verbose=0).history

    strategy = two_replicas
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        mirrored = ExampleSeededPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
        mirrored.set_weights(initial)
        mirrored.compile(optimizer=keras.optimizers.SGD(0.5))
    mirrored_logs = mirrored.fit(dataset_of(batch), steps_per_epoch=1, verbose=0).history

    for name in ("loss", "mlm_loss", "disc_loss", "disc_accuracy", "replaced_fraction"):
        assert mirrored_logs[name][0] == pytest.approx(single_logs[name][0], rel=1e-5), name
    moved = 0
    for before, after_single, after_mirrored in zip(initial, single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(after_mirrored, after_single, atol=2e-6)
        moved += np.abs(after_single - before).sum()
    assert moved > 0


def one_update(batch, accumulation_steps, strategy=None, initial=None, clip=None):
    """Weights and logs after one SGD step, noise fixed per example."""
    with (strategy or tf.distribute.get_strategy()).scope():
        pretrainer = ExampleSeededPretrainer(
            NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS,
            gradient_accumulation_steps=accumulation_steps, gradient_clip_norm=clip,
        )
        if initial is not None:
            pretrainer.set_weights(initial)
        # Plain SGD: Adam's first step would hide a wrongly scaled gradient.
        pretrainer.compile(optimizer=keras.optimizers.SGD(0.5))
    logs = pretrainer.fit(dataset_of(batch), steps_per_epoch=1, verbose=0).history
    return pretrainer, {k: v[0] for k, v in logs.items()}


@pytest.mark.slow
@pytest.mark.parametrize("replicas, accumulation_steps, clip", [(1, 4, None), (2, 2, 0.5)])
def test_accumulated_micro_batches_update_like_the_whole_batch(replicas, accumulation_steps, clip, two_replicas):
    # Rows of different lengths: per-micro-batch means would weigh them wrongly.
    batch = make_batch(batch_size=16, seed=7)
    initial = ExampleSeededPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS).get_weights()
    whole, whole_logs = one_update(batch, 1, initial=initial, clip=clip)
    strategy = two_replicas if replicas == 2 else tf.distribute.get_strategy()
    accumulated, accumulated_logs = one_update(batch, accumulation_steps, strategy, initial, clip)
    for name in ("loss", "mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "replaced_fraction"):
        assert accumulated_logs[name] == pytest.approx(whole_logs[name], rel=1e-5), name
    moved = 0
    for before, after_whole, after_accumulated in zip(initial, whole.get_weights(), accumulated.get_weights()):
        np.testing.assert_allclose(after_accumulated, after_whole, atol=2e-6)
        moved += np.abs(after_whole - before).sum()
    assert moved > 0


def test_accumulated_gradients_equal_whole_batch_gradients_with_fixed_noise():
    batch = make_batch(batch_size=12, seed=3)
    whole = ElectraPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    accumulated = ElectraPretrainer(
        NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS, gradient_accumulation_steps=3
    )
    accumulated.set_weights(whole.get_weights())
    for model in (whole, accumulated):
        model.compile(optimizer=keras.optimizers.SGD(1.0))
    noise = whole.draw_noise(tf.constant([5, 6], tf.int64), 12, 24, 4)
    expected, expected_statistics = whole.compute_gradients(batch, noise=noise)
    got, statistics = tf.function(lambda: accumulated.compute_gradients(batch, noise=noise))()
    assert set(statistics) == set(accumulated.objective.statistic_names)
    for name, value in expected_statistics.items():
        np.testing.assert_allclose(statistics[name], value, rtol=1e-5, err_msg=name)
    scale = max(float(tf.reduce_max(tf.abs(g))) for g in expected)
    for g_whole, g_accumulated in zip(expected, got):
        np.testing.assert_allclose(g_accumulated, g_whole, atol=1e-6 * scale)


def test_accumulation_must_divide_the_batch():
    pretrainer = ElectraPretrainer(
        TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS, gradient_accumulation_steps=3
    )
    pretrainer.compile(optimizer=keras.optimizers.SGD(1.0))
    with pytest.raises(ValueError, match="gradient_accumulation_steps=3 does not divide the per-replica batch of 8"):
        pretrainer.fit(dataset_of(make_batch(batch_size=8)), steps_per_epoch=1, verbose=0)


def test_replicas_draw_different_masks_and_noise(two_replicas):
    strategy = two_replicas
    with strategy.scope():
        pretrainer = ElectraPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS)

    @tf.function
    def draw(step):
        seed = tf_step.step_seed(pretrainer, step, tf_step.TRAIN_SALT)
        noise = pretrainer.draw_noise(seed, 4, 24, 4)
        return noise["select"], noise["gumbel"]

    first = [strategy.experimental_local_results(r) for r in strategy.run(draw, args=(tf.constant(3),))]
    again = [strategy.experimental_local_results(r) for r in strategy.run(draw, args=(tf.constant(3),))]
    later = [strategy.experimental_local_results(r) for r in strategy.run(draw, args=(tf.constant(4),))]
    for per_replica, repeated, next_step in zip(first, again, later):
        assert not np.allclose(per_replica[0], per_replica[1])  # replicas differ
        np.testing.assert_array_equal(per_replica[0], repeated[0])  # reproducible
        assert not np.allclose(per_replica[0], next_step[0])  # steps differ


def test_replicas_draw_different_dropout_masks(two_replicas):
    # keras-team/keras#20611: without the pretrainer's fix both replicas
    # would drop the same units of the same input.
    with two_replicas.scope():
        pretrainer = ElectraPretrainer(
            {**TINY_MODEL, "dropout": 0.5}, {}, mask_token_id=MASK, special_token_ids=SPECIALS
        )
    batch = make_batch(batch_size=1, seed=1)
    inputs = {"token_ids": tf.constant(batch["token_ids"]), "segment_ids": tf.constant(batch["segment_ids"])}

    @tf.function
    def embed(inputs):
        return pretrainer.embedding(inputs["token_ids"], inputs["segment_ids"], training=True)

    first, second = two_replicas.experimental_local_results(two_replicas.run(embed, args=(inputs,)))
    dropped_first, dropped_second = first.numpy() == 0, second.numpy() == 0
    assert dropped_first.mean() > 0.3 and dropped_second.mean() > 0.3
    assert not np.array_equal(dropped_first, dropped_second)


def test_gradients_are_clipped_by_global_norm():
    batch = make_batch(batch_size=8)
    moves = {}
    for clip in (0.01, None):
        pretrainer = ElectraPretrainer(
            NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS, gradient_clip_norm=clip
        )
        before = [v.numpy() for v in pretrainer.trainable_variables]
        pretrainer.compile(optimizer=keras.optimizers.SGD(1.0), run_eagerly=True)
        pretrainer.fit(dataset_of(batch), steps_per_epoch=1, verbose=0)
        after = [v.numpy() for v in pretrainer.trainable_variables]
        moves[clip] = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(after, before)))
    assert moves[0.01] == pytest.approx(0.01, rel=1e-3)
    assert moves[None] > 0.1


def test_pooler_is_not_trained_by_the_objective():
    pretrainer = ElectraPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    pooler = {id(v) for v in pretrainer.discriminator.pooled_dense.weights}
    assert not pooler & {id(v) for v in pretrainer.trainable_variables}


def test_weight_decay_skips_layer_norm_and_biases():
    pretrainer = ElectraPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    optimizer = build_optimizer(OptimizerConfig(), num_steps=100)
    optimizer.build(pretrainer.trainable_variables)
    decayed = {v.path for v in pretrainer.trainable_variables if optimizer._use_weight_decay(v)}
    assert "embedding/token_embedding/embeddings" in decayed
    assert any(path.endswith("query/kernel") for path in decayed)
    assert not any(path.endswith(("bias", "gamma", "beta")) for path in decayed)


@pytest.mark.parametrize(
    "form, step, expected",
    [
        ("paper", 0, 0.0),
        ("paper", 50, 0.5),
        ("paper", 100, 1.0),
        ("paper", 550, 0.5),
        ("paper", 1000, 0.0),
        ("official", 50, 0.5 * 0.95),
        ("official", 100, 0.9),
        ("official", 550, 0.45),
    ],
)
def test_learning_rate_schedules(form, step, expected):
    schedule = WarmupLinearDecay(1.0, warmup_steps=100, num_steps=1000, form=form)
    assert float(schedule(step)) == pytest.approx(expected, abs=1e-6)


def test_a_run_shorter_than_its_warmup_stays_on_the_warmup_ramp():
    from electra_keras.config import OptimizerConfig
    from electra_keras.pretraining.optimization import build_optimizer

    optimizer = build_optimizer(OptimizerConfig(learning_rate=1e-3, warmup_steps=100), num_steps=30)
    # The configured ramp (1e-5 a step), not a warmup squeezed into 30 steps, which reached 1e-3 at step 30.
    assert float(optimizer._learning_rate(30)) == pytest.approx(3e-4)
    assert float(optimizer._learning_rate(10)) == pytest.approx(1e-4)


def test_rejects_batches_without_required_keys():
    pretrainer = ElectraPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    pretrainer.compile(optimizer="sgd")
    batch = make_batch()
    del batch["segment_ids"]
    with pytest.raises(ValueError, match="segment_ids"):
        pretrainer.fit(dataset_of(batch), steps_per_epoch=1, verbose=0)


def test_weights_files_keep_the_layout_runs_of_0_1_0_wrote(tmp_path):
    """The objective owns the generator and heads, yet they are saved where
    0.1.0 saved them (as the pretrainer's own attributes), so older run
    folders still load."""
    import h5py

    pretrainer = ElectraPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    pretrainer.save_weights(tmp_path / "model.weights.h5")
    with h5py.File(tmp_path / "model.weights.h5") as saved:
        assert {"discriminator", "discriminator_head", "generator", "generator_head"} <= set(saved)
        assert "objective" not in saved
        head = saved["discriminator_head"]["logits_dense"]["vars"]["0"][()]
    np.testing.assert_array_equal(head, pretrainer.discriminator_head.logits_dense.kernel.numpy())
