"""open_pretrained: every format detected in one place, errors that say what was found."""

import keras
import keras_hub
import numpy as np
import pytest
import torch  # noqa: F401  (transformers needs it)
from test_huggingface import VOCABULARY
from test_huggingface import inputs_with_padding
from test_huggingface import make_pair
from test_official_and_presets import write_official_checkpoint

from electra_keras.config import ElectraConfig
from electra_keras.interop import CheckpointFormatError
from electra_keras.interop import huggingface
from electra_keras.interop import open_pretrained
from electra_keras.interop.keras_hub_presets import save_keras_hub_preset
from electra_keras.pretraining.trainer import ElectraPretrainer
from electra_keras.runs import RunFolder
from electra_keras.runs import save_checkpoint

MODEL = {"embedding_size": 24, "hidden_size": 32, "num_layers": 2, "num_heads": 2,
         "intermediate_size": 64, "max_position_embeddings": 64, "generator_size_fraction": 0.5}


def perturbed(pretrainer, seed=0):
    """Weights away from their initial values, so a wrong copy shows."""
    rng = np.random.default_rng(seed)
    for variable in pretrainer.weights:
        if "seed_generator" not in variable.path:
            variable.assign(variable.numpy() + rng.normal(0, 0.05, variable.shape).astype(variable.dtype))
    return pretrainer


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder as the pretraining job leaves it: config, vocabulary, final model, a checkpoint."""
    run = RunFolder(tmp_path_factory.mktemp("run"))
    config = ElectraConfig.from_dict(
        {"model": MODEL, "data": {"sequence_length": 32, "lowercase": True}, "objective": {"mask_probability": 0.2}}
    )
    run.write_config(config)
    run.write_vocabulary(VOCABULARY)
    model = {**MODEL, "vocabulary_size": len(VOCABULARY)}
    pretrainer = perturbed(ElectraPretrainer(model, config.objective, 4, [0, 2, 3, 4]))
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-3))
    checkpoint = save_checkpoint(pretrainer, run.checkpoints_dir, 7)
    final = ElectraPretrainer(model, config.objective, 4, [0, 2, 3, 4])
    final.set_weights(pretrainer.get_weights())
    perturbed(final, seed=1)
    run.save_pretrainer(final)
    return run, pretrainer, final, checkpoint


def test_a_run_folder_opens_with_its_own_vocabulary_casing_and_objective(run_folder):
    run, _, final, _ = run_folder
    source = open_pretrained([run.path])
    assert source.kind == "run" and source.has_generator
    assert source.vocabulary == VOCABULARY and source.lowercase is True and source.sequence_length == 32
    assert source.objective_config.mask_probability == 0.2
    assert source.model_config.vocabulary_size == len(VOCABULARY) and source.model_config.hidden_size == 32
    batch = inputs_with_padding()
    np.testing.assert_allclose(source.build_pretrainer()(batch), final(batch), atol=1e-6)


def test_a_run_checkpoint_opens_by_its_folder_or_by_name(run_folder):
    run, at_checkpoint, final, checkpoint = run_folder
    batch = inputs_with_padding()
    for source in (open_pretrained([checkpoint]), open_pretrained(run.path, checkpoint=checkpoint.name)):
        assert source.kind == "run"
        rebuilt = source.build_pretrainer()
        np.testing.assert_allclose(rebuilt(batch), at_checkpoint(batch), atol=1e-6)
        assert not np.allclose(rebuilt(batch), final(batch), atol=1e-3)


def test_a_preset_opens_whole_and_keras_hubs_own_as_a_discriminator(tmp_path):
    model = {**MODEL, "vocabulary_size": len(VOCABULARY)}
    pretrainer = perturbed(ElectraPretrainer(model, {}, 4, [0, 2, 3, 4]))
    folder = save_keras_hub_preset(pretrainer, VOCABULARY, tmp_path / "preset", lowercase=True)
    source = open_pretrained(folder)
    assert source.kind == "keras_hub" and source.has_generator and source.lowercase is True
    batch = inputs_with_padding()
    rebuilt = source.build_pretrainer()
    np.testing.assert_allclose(rebuilt(batch), pretrainer(batch), atol=1e-5)
    np.testing.assert_allclose(
        rebuilt.generator(batch)["sequence_output"], pretrainer.generator(batch)["sequence_output"], atol=1e-5
    )
    # keras-hub's own preset: a backbone and a tokenizer, no generator.
    plain = tmp_path / "keras_hub"
    pretrainer.discriminator.to_keras_hub_backbone().save_to_preset(str(plain))
    keras_hub.models.ElectraTokenizer(vocabulary=VOCABULARY).save_to_preset(str(plain))
    source = open_pretrained(plain)
    assert source.kind == "keras_hub" and not source.has_generator
    rebuilt = source.build_pretrainer().discriminator(batch)["sequence_output"]
    np.testing.assert_allclose(rebuilt, pretrainer.discriminator(batch)["sequence_output"], atol=1e-5)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    make_pair(folder, seed=5)
    return folder


def test_a_huggingface_pair_opens_from_one_folder_or_two(pair):
    expected, _, _ = huggingface.pretrainer_from_huggingface(pair)
    batch = inputs_with_padding()
    for paths in ([pair], [pair / "discriminator", pair / "generator"]):
        source = open_pretrained(paths)
        assert source.kind == "huggingface" and source.vocabulary == VOCABULARY
        np.testing.assert_allclose(source.build_pretrainer()(batch), expected(batch), atol=1e-6)


def test_a_huggingface_discriminator_alone_opens_without_its_generator(pair, tmp_path):
    import transformers

    expected, _, _ = huggingface.pretrainer_from_huggingface(pair)
    batch = inputs_with_padding()
    source = open_pretrained(pair / "discriminator")
    assert source.kind == "huggingface" and not source.has_generator
    rebuilt = source.build_pretrainer()
    np.testing.assert_allclose(rebuilt(batch), expected(batch), atol=1e-5)  # the replaced-token head too
    # ElectraModel's tensors carry no "electra." prefix, and it has no head.
    base = transformers.ElectraModel.from_pretrained(pair / "discriminator")
    base.save_pretrained(tmp_path / "base")
    (tmp_path / "base" / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n")
    encoder = open_pretrained(tmp_path / "base").build_pretrainer().discriminator
    np.testing.assert_allclose(
        encoder(batch)["sequence_output"], expected.discriminator(batch)["sequence_output"], atol=1e-5
    )


def test_an_official_checkpoint_opens_from_its_folder(pair, tmp_path):
    tensors = {part: huggingface.read_weights(pair / part) for part in ("generator", "discriminator")}
    write_official_checkpoint(tensors, tmp_path / "official" / "model.ckpt-5")
    (tmp_path / "official" / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n")
    source = open_pretrained(tmp_path / "official", lowercase=True)
    assert source.kind == "official" and source.lowercase is True
    assert source.model_config.hidden_size == 32 and source.model_config.generator_hidden_size == 16


def test_folders_that_are_no_format_say_what_was_found_and_what_was_expected(pair, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointFormatError, match=r"empty: not a pretrained ELECTRA; found nothing\. Expected an"):
        open_pretrained(empty)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "weights.npz").write_bytes(b"")
    with pytest.raises(CheckpointFormatError, match=r"found weights\.npz\. Expected .*keras-hub preset"):
        open_pretrained(tmp_path / "notes")
    with pytest.raises(CheckpointFormatError, match="a Hugging Face folder without an ELECTRA discriminator"):
        open_pretrained(pair / "generator")
    with pytest.raises(CheckpointFormatError, match="missing: not found"):
        open_pretrained(tmp_path / "missing")
    with pytest.raises(CheckpointFormatError, match="got 3"):
        open_pretrained([pair, pair, pair])
