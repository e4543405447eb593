"""Mixed precision: bfloat16 and float16 compute, float32 variables and losses."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import MASK
from conftest import TINY_MODEL
from conftest import make_batch

from electra_keras import export
from electra_keras.pretraining.trainer import ElectraPretrainer


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_with_float32_variables_and_losses(precision, tmp_path):
    pretrainer = ElectraPretrainer(
        TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=[0, 2, 3, 4], dtype=precision
    )
    pretrainer.compile(optimizer=keras.optimizers.AdamW(3e-3))
    if precision == "mixed_float16":
        assert isinstance(pretrainer.optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(v.dtype == "float32" for v in pretrainer.trainable_variables)
    batch = make_batch(batch_size=16)
    noise = pretrainer.draw_noise(tf.constant([0, 0], tf.int64), 16, 24, 4)
    results = pretrainer.compute_objective(batch, noise)
    compute = precision.removeprefix("mixed_")
    assert results["generator_logits"].dtype == compute
    assert results["loss"].dtype == tf.float32 and results["mlm_loss"].dtype == tf.float32
    history = pretrainer.fit(
        tf.data.Dataset.from_tensors(batch).repeat(), steps_per_epoch=10, epochs=3, verbose=0
    ).history
    assert np.isfinite(history["loss"]).all()
    assert history["mlm_loss"][-1] < history["mlm_loss"][0]

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(115)]
    path = export.export_discriminator(pretrainer, tmp_path / "m" / "1", vocabulary, 24)
    answer = tf.saved_model.load(str(path)).signatures["serving_default"](text=tf.constant(["w1 w2 w3"]))
    for key in ("replaced_probability", "pooled_output", "mean_pooled_output"):
        assert answer[key].dtype == tf.float32
