"""Resumable checkpoints: everything a step depends on comes back."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import MASK
from conftest import TINY_MODEL
from conftest import make_batch

from electra_keras.pretraining.trainer import ElectraPretrainer
from electra_keras.runs.checkpoints import CheckpointError
from electra_keras.runs.checkpoints import list_checkpoints
from electra_keras.runs.checkpoints import restore_checkpoint
from electra_keras.runs.checkpoints import save_checkpoint

SPECIALS = [0, 2, 3, 4]


def pretrainer(model=TINY_MODEL):
    model = ElectraPretrainer(model, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    # A few steps each: eager runs them faster than tracing the step would.
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), run_eagerly=True)
    return model


def train(model, steps, seed=0):
    dataset = tf.data.Dataset.from_tensors(make_batch(seed=seed)).repeat()
    return model.fit(dataset, steps_per_epoch=steps, verbose=0).history


def test_a_restored_model_continues_exactly_as_the_saved_one(tmp_path):
    keras.utils.set_random_seed(0)
    original = pretrainer()  # dropout 0.1: its RNG state must come back too
    train(original, 3)
    save_checkpoint(original, tmp_path, 3, state={"batches_consumed": 3})

    restored = pretrainer()
    state = restore_checkpoint(restored, tmp_path / "ckpt-000000003")
    assert state["step"] == 3 and state["batches_consumed"] == 3
    assert int(restored.optimizer.iterations.numpy()) == 3
    for a, b in zip(original.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    original_logs = train(original, 2, seed=1)
    restored_logs = train(restored, 2, seed=1)
    assert restored_logs["loss"] == original_logs["loss"]
    for a, b in zip(original.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_dropout_state_matters_so_it_is_saved(tmp_path):
    keras.utils.set_random_seed(0)
    original = pretrainer()
    train(original, 2)
    save_checkpoint(original, tmp_path, 2)
    record = json.loads((tmp_path / "ckpt-000000002" / "state.json").read_text())
    assert record["seed_generators"]  # the encoders' dropout layers

    # Without the RNG state (fresh generators), the next step differs.
    forgetful = pretrainer()
    forgetful.optimizer.build(forgetful.trainable_variables)
    forgetful.load_weights(tmp_path / "ckpt-000000002" / "model.weights.h5")
    assert train(forgetful, 1, seed=1)["loss"] != train(original, 1, seed=1)["loss"]


def test_keeps_the_newest_and_never_leaves_a_half_written_checkpoint(tmp_path, monkeypatch):
    model = pretrainer()
    train(model, 1)
    for step in (1, 2, 3, 4):
        save_checkpoint(model, tmp_path, step, keep=3)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2, 3, 4]

    def broken_save(path, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model, "save_weights", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(model, tmp_path, 5, keep=3)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [2, 3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000002", "ckpt-000000003", "ckpt-000000004"]


def test_a_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    model = pretrainer()
    train(model, 1)
    save_checkpoint(model, tmp_path, 1)
    other = pretrainer({**TINY_MODEL, "num_layers": 3})
    with pytest.raises(CheckpointError, match="ckpt-000000001"):
        restore_checkpoint(other, tmp_path / "ckpt-000000001")
    with pytest.raises(CheckpointError, match="no state.json"):
        restore_checkpoint(other, tmp_path)
