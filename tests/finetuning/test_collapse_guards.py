"""Fine-tuning's collapse guards: the starting encoder is checked, a prior-only run is refused."""

import logging
import types

import numpy as np
import pytest
from collapsed import collapse
from collapsed import sample_inputs
from collapsed import small_encoder

from electra_keras.finetuning.health import CollapsedEncoderError
from electra_keras.finetuning.health import PriorOnlyGuard
from electra_keras.finetuning.health import checked_encoder
from electra_keras.finetuning.health import prior_entropy
from electra_keras.finetuning.settings import FinetuningSettings


class StubSource:
    """A `Pretrained` whose weights are a collapsed (or fresh) encoder; random init gives a fresh one."""

    def __init__(self, collapsed):
        self.collapsed = collapsed
        self.loads = []

    def build_pretrainer(self, load_weights=True):
        self.loads.append(load_weights)
        encoder = small_encoder()
        return types.SimpleNamespace(discriminator=collapse(encoder) if load_weights and self.collapsed else encoder)

    def describe(self):
        return "runs/thirty-steps (run)"


def settings(**overrides):
    return FinetuningSettings(train="train.csv", eval="dev.csv", output="out", **overrides)


def test_a_healthy_encoder_is_used_as_it_is():
    source = StubSource(collapsed=False)
    encoder, record = checked_encoder(source, settings(), sample_inputs())
    assert source.loads == [True] and record["action"] == "none" and record["collapsed"] is False


def test_a_collapsed_encoder_is_named_with_its_numbers_and_the_choices(caplog):
    source = StubSource(collapsed=True)
    with caplog.at_level(logging.WARNING):
        encoder, record = checked_encoder(source, settings(), sample_inputs())
    assert record["collapsed"] is True and record["action"] == "warned" and record["on_collapse"] == "warn"
    message = caplog.records[-1].getMessage()
    assert "runs/thirty-steps" in message and f"{record['token_spread']:.4f}" in message
    assert "--on-collapse fail" in message and "--on-collapse random-init" in message

    with pytest.raises(CollapsedEncoderError, match="collapsed"):
        checked_encoder(StubSource(collapsed=True), settings(on_collapse="fail"), sample_inputs())

    source = StubSource(collapsed=True)
    encoder, record = checked_encoder(source, settings(on_collapse="random-init"), sample_inputs())
    assert source.loads == [True, False] and record["action"] == "random-init"
    assert not checked_encoder(StubSource(collapsed=False), settings(), sample_inputs())[1]["collapsed"]


def test_random_weights_are_not_checked_and_a_bad_choice_is_refused():
    source = StubSource(collapsed=True)
    _, record = checked_encoder(source, settings(random_init=True), sample_inputs())
    assert source.loads == [False] and record["checked"] is False
    with pytest.raises(ValueError, match="on_collapse must be one of warn, fail, random-init"):
        checked_encoder(source, settings(on_collapse="ignore"), sample_inputs())


def test_prior_entropy_is_the_label_frequencies_cross_entropy():
    assert prior_entropy(np.array([0, 1])) == pytest.approx(np.log(2))
    assert prior_entropy(np.array([0, 0, 0, 2])) == pytest.approx(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))


@pytest.mark.parametrize(("loss", "spread", "stops"), [(2.0794, 1e-5, True), (1.2, 1e-5, False), (2.0794, 0.3, False)])
def test_the_guard_stops_only_a_run_at_the_prior_with_still_logits(loss, spread, stops):
    best = types.SimpleNamespace(history=[{"epoch": 3, "logit_spread": spread}])
    guard = PriorOnlyGuard(best, entropy=np.log(8), min_epochs=3, steps_per_epoch=10)
    guard.set_model(types.SimpleNamespace(stop_training=False))
    for epoch in range(9):  # before the minimum epochs, and before 100 steps: never
        guard.on_epoch_end(epoch, {"loss": loss})
    assert guard.message is None
    guard.on_epoch_end(9, {"loss": loss})
    assert (guard.message is not None) == stops and guard.model.stop_training == stops
    if stops:
        assert "none is saved" in guard.message and "--on-collapse random-init" in guard.message
