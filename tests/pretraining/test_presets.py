"""The pretrainer on raw strings, and as a keras-hub preset folder."""

import gzip

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import electra_keras
from electra_keras import data
from electra_keras.models import ElectraPretrainingPreprocessor
from electra_keras.pretraining import presets

MODEL = {"embedding_size": 16, "hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
         "max_position_embeddings": 64, "generator_size_fraction": 0.5}


@pytest.fixture(scope="module")
def lines():
    with gzip.open(data.DEFAULT_CORPUS[0], "rt", encoding="utf-8") as file:
        return [line for line in file.read().splitlines()[:200] if line.strip()]


def new_pretrainer(**kwargs):
    preprocessor = ElectraPretrainingPreprocessor.from_vocabulary(data.DEFAULT_VOCABULARY, sequence_length=32)
    return electra_keras.ElectraPretrainer(MODEL, preprocessor=preprocessor, **kwargs)


def test_sizes_and_special_ids_come_from_the_preprocessor():
    pretrainer = new_pretrainer()
    assert pretrainer.model_config.vocabulary_size == len(data.load_vocabulary(data.DEFAULT_VOCABULARY))
    assert pretrainer.mask_token_id == 4 and pretrainer.special_token_ids == [0, 2, 3, 4]
    with pytest.raises(ValueError, match="needs mask_token_id and special_token_ids, or a preprocessor"):
        electra_keras.ElectraPretrainer({**MODEL, "vocabulary_size": 100})


@pytest.mark.slow  # trains
def test_fit_takes_a_list_of_strings_and_a_dataset_of_string_batches(lines, tmp_path):
    pretrainer = new_pretrainer()
    pretrainer.compile(optimizer=keras.optimizers.AdamW(2e-3), run_eagerly=True)
    history = pretrainer.fit(lines[:32], batch_size=8, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and history["mlm_loss"][-1] < history["mlm_loss"][0]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines[:16]), encoding="utf-8")
    history = pretrainer.fit(tf.data.TextLineDataset(str(path)).batch(16), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    evaluation = pretrainer.evaluate(lines[32:48], batch_size=16, verbose=0, return_dict=True)
    assert 0.0 <= evaluation["disc_auc"] <= 1.0
    assert pretrainer.predict(["A jury said so."], verbose=0).shape == (1, 32)


def test_strings_without_a_preprocessor_are_a_clear_error():
    pretrainer = electra_keras.ElectraPretrainer({**MODEL, "vocabulary_size": 100}, {}, 4, [0, 2, 3, 4])
    pretrainer.compile(optimizer="adam")
    with pytest.raises(ValueError, match="got raw strings but has no preprocessor"):
        pretrainer.fit(["some text"], batch_size=1)


def perturbed(pretrainer):
    rng = np.random.default_rng(0)
    for variable in pretrainer.weights:
        if "seed_generator" not in variable.path:
            variable.assign(variable.numpy() + rng.normal(0, 0.05, variable.shape).astype(variable.dtype))
    return pretrainer


def test_a_saved_preset_gives_back_the_whole_pretrainer_and_a_keras_hub_backbone(tmp_path):
    pretrainer = perturbed(new_pretrainer(seed=3, objective_config={"mask_probability": 0.2}))
    pretrainer.save_to_preset(str(tmp_path / "preset"))
    texts = ["The jury praised the city.", "서울은 한국의 수도입니다."]
    batch = pretrainer.preprocessor(texts)

    reloaded = electra_keras.ElectraPretrainer.from_preset(str(tmp_path / "preset"))
    assert reloaded.seed == 3 and reloaded.objective_config.mask_probability == 0.2
    np.testing.assert_allclose(reloaded.predict(texts, verbose=0), pretrainer.predict(texts, verbose=0), atol=1e-6)
    noise = pretrainer.draw_noise(tf.constant([1, 2], tf.int64), 2, 32, 6)
    np.testing.assert_allclose(
        reloaded.compute_objective(batch, noise)["generator_logits"],
        pretrainer.compute_objective(batch, noise)["generator_logits"], atol=1e-5,
    )
    backbone = keras_hub.models.ElectraBackbone.from_preset(str(tmp_path / "preset"))
    np.testing.assert_allclose(
        backbone(batch)["sequence_output"], pretrainer.discriminator(batch)["sequence_output"], atol=1e-5
    )


def test_keras_hubs_own_preset_starts_a_pretrainer_with_a_fresh_generator(tmp_path):
    tokenizer = keras_hub.models.ElectraTokenizer(vocabulary=str(data.DEFAULT_VOCABULARY))
    backbone = keras_hub.models.ElectraBackbone(
        vocab_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2, hidden_dim=32, embedding_dim=16,
        intermediate_dim=64, max_sequence_length=64,
    )
    backbone.save_to_preset(str(tmp_path))
    tokenizer.save_to_preset(str(tmp_path))
    assert not presets.preset_holds_generator(tmp_path)
    pretrainer = electra_keras.ElectraPretrainer.from_preset(str(tmp_path), generator_size_fraction=0.5)
    assert pretrainer.model_config.hidden_size == 32 and pretrainer.generator.hidden_dim == 16
    batch = pretrainer.preprocessor(["The jury praised the city."])
    np.testing.assert_allclose(
        pretrainer.discriminator(batch)["sequence_output"], backbone(batch)["sequence_output"], atol=1e-6
    )


def test_presets_need_the_tokenizer_and_keras_hubs_activation(tmp_path):
    bare = electra_keras.ElectraPretrainer({**MODEL, "vocabulary_size": 100}, {}, 4, [0, 2, 3, 4])
    with pytest.raises(presets.PresetError, match="a preset stores the tokenizer"):
        bare.save_to_preset(str(tmp_path / "a"))
    exact = new_pretrainer().__class__(
        {**MODEL, "hidden_activation": "gelu"}, preprocessor=new_pretrainer().preprocessor
    )
    with pytest.raises(ValueError, match="tanh-approximate"):
        exact.save_to_preset(str(tmp_path / "b"))
    assert not (tmp_path / "b").exists()


def test_a_keras_file_keeps_the_preprocessor(tmp_path):
    pretrainer = new_pretrainer()
    pretrainer.save(tmp_path / "pretrainer.keras")
    reloaded = keras.models.load_model(tmp_path / "pretrainer.keras")
    assert isinstance(reloaded.preprocessor, ElectraPretrainingPreprocessor)
    texts = ["The jury praised the city."]
    np.testing.assert_allclose(reloaded.predict(texts, verbose=0), pretrainer.predict(texts, verbose=0), atol=1e-6)
