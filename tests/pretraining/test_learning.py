"""On the tiny config and the bundled corpus, ELECTRA visibly learns."""


import keras
import pytest
from conftest import ROOT

from electra_keras import data
from electra_keras.config import ElectraConfig
from electra_keras.data.prepared import prepare_corpus
from electra_keras.pretraining.optimization import build_optimizer
from electra_keras.pretraining.trainer import build_pretrainer

# Starts processes or trains for real: the slow tier.
pytestmark = pytest.mark.slow

TINY = ROOT / "configs" / "tiny.yaml"
STEPS = 500


def test_a_few_hundred_steps_lower_mlm_loss_and_beat_the_all_original_baseline():
    keras.utils.set_random_seed(0)
    config = ElectraConfig.from_yaml(TINY)
    prepared = prepare_corpus(config, data.DEFAULT_CORPUS, data.DEFAULT_VOCABULARY)
    pretrainer = build_pretrainer(config, prepared.tokenizer)
    pretrainer.compile(optimizer=build_optimizer(config.optimizer, STEPS))
    batch_size = config.training.batch_size
    held_out = data.make_dataset(prepared.eval, batch_size, shuffle=False, repeat=False).take(8)
    before = pretrainer.evaluate(held_out, return_dict=True, verbose=0)
    pretrainer.fit(
        data.make_dataset(prepared.train, batch_size), steps_per_epoch=STEPS, epochs=1, verbose=0
    )
    after = pretrainer.evaluate(held_out, return_dict=True, verbose=0)

    assert after["mlm_loss"] < before["mlm_loss"] - 1.0
    assert after["gen_accuracy"] > before["gen_accuracy"]
    all_original_accuracy = 1.0 - after["replaced_fraction"]
    assert after["disc_accuracy"] > all_original_accuracy + 0.005, (after, all_original_accuracy)


def test_the_discriminator_learns_to_spot_obvious_replacements():
    """Each sequence repeats one token: any other token was put there by the generator.

    Past its all-original plateau the discriminator must rank replaced tokens
    almost perfectly; on real text the tiny config stays on that plateau for
    thousands of steps (README, ELECTRA against MLM), so this shows the
    detection signal itself works.
    """
    import numpy as np
    import tensorflow as tf

    from electra_keras.pretraining.trainer import ElectraPretrainer

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)

    def repeated_token_batches(count):
        token_ids = rng.integers(5, 120, size=(count, 1)).repeat(24, axis=1).astype("int32")
        token_ids[:, 0], token_ids[:, -1] = 2, 3
        rows = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids), "padding_mask": np.ones_like(token_ids)}
        return tf.data.Dataset.from_tensor_slices(rows).batch(32, drop_remainder=True)

    pretrainer = ElectraPretrainer(
        {"vocabulary_size": 120, "embedding_size": 32, "hidden_size": 64, "num_layers": 2, "num_heads": 2,
         "intermediate_size": 128, "generator_size_fraction": 0.25},
        {}, mask_token_id=4, special_token_ids=[0, 2, 3, 4],
    )
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-3))
    held_out = repeated_token_batches(256)
    before = pretrainer.evaluate(held_out, return_dict=True, verbose=0)
    pretrainer.fit(repeated_token_batches(4096).repeat(), steps_per_epoch=300, verbose=0)
    after = pretrainer.evaluate(held_out, return_dict=True, verbose=0)
    assert before["disc_auc"] < 0.6
    assert after["disc_auc"] > 0.9, after
    assert after["disc_accuracy"] > 1.0 - after["replaced_fraction"] + 0.05, after
