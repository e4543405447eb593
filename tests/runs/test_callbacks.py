import logging

import keras
import numpy as np

from electra_keras.runs.callbacks import PlateauWarning


def _model_at_step(step):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.iterations.assign(step)
    return model


def _evaluate(callback, model, accuracies, replaced=0.13):
    for epoch, accuracy in enumerate(accuracies):
        callback.on_epoch_end(epoch, {"val_disc_accuracy": np.float32(accuracy), "val_replaced_fraction": replaced,
                                      "loss": 1.0})


def test_plateau_warning_after_two_stuck_evaluations_past_warmup(caplog):
    callback = PlateauWarning(warmup_steps=100)
    callback.set_model(_model_at_step(250))
    with caplog.at_level(logging.WARNING, logger="electra_keras.runs.callbacks"):
        _evaluate(callback, callback.model, [0.872])  # one stuck evaluation: not yet
        assert not callback.warnings
        _evaluate(callback, callback.model, [0.873, 0.871])  # still stuck: one warning per stretch
    assert len(callback.warnings) == 1
    assert "plateau" in caplog.text and "0.8700" in caplog.text and "fetch_corpus" in caplog.text


def test_no_warning_when_learning_or_during_warmup():
    learning = PlateauWarning(warmup_steps=100)
    learning.set_model(_model_at_step(500))
    _evaluate(learning, learning.model, [0.90, 0.92, 0.95])  # clearly above the 0.87 baseline
    assert not learning.warnings

    warming = PlateauWarning(warmup_steps=1000)
    warming.set_model(_model_at_step(500))
    _evaluate(warming, warming.model, [0.87, 0.87, 0.87])
    assert not warming.warnings

    # A run that leaves the plateau and falls back warns again.
    relapse = PlateauWarning(warmup_steps=0)
    relapse.set_model(_model_at_step(10))
    _evaluate(relapse, relapse.model, [0.87, 0.87, 0.95, 0.87, 0.871])
    assert len(relapse.warnings) == 2
