"""On the tiny config and the bundled corpus, ELECTRA visibly learns."""

import pathlib

import keras

from electra_keras import data
from electra_keras.config import ElectraConfig
from electra_keras.optimization import build_optimizer
from electra_keras.training import build_pretrainer
from electra_keras.training import prepare_data

TINY = pathlib.Path(__file__).resolve().parent.parent / "configs" / "tiny.yaml"
STEPS = 500


def test_a_few_hundred_steps_lower_mlm_loss_and_beat_the_all_original_baseline():
    keras.utils.set_random_seed(0)
    config = ElectraConfig.from_yaml(TINY)
    prepared = prepare_data(config, data.DEFAULT_CORPUS, data.DEFAULT_VOCABULARY)
    pretrainer = build_pretrainer(config, prepared["tokenizer"])
    pretrainer.compile(optimizer=build_optimizer(config.optimizer, STEPS))
    batch_size = config.training.batch_size
    held_out = data.make_dataset(prepared["eval"], batch_size, shuffle=False, repeat=False).take(8)
    before = pretrainer.evaluate(held_out, return_dict=True, verbose=0)
    pretrainer.fit(
        data.make_dataset(prepared["train"], batch_size), steps_per_epoch=STEPS, epochs=1, verbose=0
    )
    after = pretrainer.evaluate(held_out, return_dict=True, verbose=0)

    assert after["mlm_loss"] < before["mlm_loss"] - 1.0
    assert after["gen_accuracy"] > before["gen_accuracy"]
    all_original_accuracy = 1.0 - after["replaced_fraction"]
    assert after["disc_accuracy"] > all_original_accuracy + 0.005, (after, all_original_accuracy)
