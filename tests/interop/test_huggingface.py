"""Hugging Face ELECTRA pairs in and out, checked against transformers itself."""

import json

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from safetensors.numpy import load_file
from safetensors.numpy import save_file

from electra_keras.interop import huggingface

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(115)]
COMMON = dict(
    vocab_size=len(VOCABULARY), embedding_size=24, max_position_embeddings=64, type_vocab_size=2,
    hidden_act="gelu", layer_norm_eps=1e-12,
)


def make_pair(folder, seed=0):
    """A random generator/discriminator pair with shared embeddings, saved by transformers."""
    torch.manual_seed(seed)
    discriminator = transformers.ElectraForPreTraining(transformers.ElectraConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **COMMON
    ))
    generator = transformers.ElectraForMaskedLM(transformers.ElectraConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=1, intermediate_size=32, **COMMON
    ))
    with torch.no_grad():
        # Initial LayerNorms are 1/0 and biases 0: perturb every tensor so
        # a wrong mapping of any of them shows.
        for model in (discriminator, generator):
            for parameter in model.parameters():
                parameter.add_(0.2 * torch.randn_like(parameter))
        generator.electra.embeddings.load_state_dict(discriminator.electra.embeddings.state_dict())
    for model, name in ((generator, "generator"), (discriminator, "discriminator")):
        model.save_pretrained(folder / name)
        (folder / name / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n")
        (folder / name / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    return generator.eval(), discriminator.eval()


def inputs_with_padding():
    token_ids = np.array([
        [2, 10, 11, 12, 3, 20, 21, 3, 0, 0, 0, 0],
        [2, 40, 41, 4, 43, 44, 45, 46, 47, 3, 0, 0],
        [2, 70, 71, 72, 73, 3, 80, 81, 82, 83, 84, 3],
    ], dtype="int32")
    segment_ids = np.zeros_like(token_ids)
    segment_ids[0, 5:8] = 1
    segment_ids[2, 6:] = 1
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": (token_ids != 0).astype("int32")}


def torch_outputs(generator, discriminator, batch):
    arguments = dict(
        input_ids=torch.from_numpy(batch["token_ids"]).long(),
        token_type_ids=torch.from_numpy(batch["segment_ids"]).long(),
        attention_mask=torch.from_numpy(batch["padding_mask"]).long(),
    )
    with torch.no_grad():
        return generator(**arguments).logits.numpy(), discriminator(**arguments).logits.numpy()


def keras_outputs(pretrainer, batch):
    discriminator_logits = np.asarray(pretrainer(batch))
    sequence = pretrainer.generator(batch)["sequence_output"]
    length = batch["token_ids"].shape[1]
    every_position = np.tile(np.arange(length, dtype="int32"), (len(batch["token_ids"]), 1))
    generator_logits = np.asarray(pretrainer.generator_head(sequence, mask_positions=every_position))
    return generator_logits, discriminator_logits.reshape(len(batch["token_ids"]), length)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf")
    generator, discriminator = make_pair(folder)
    return folder, generator, discriminator


def test_imported_pair_matches_transformers_on_padded_inputs(pair):
    folder, generator, discriminator = pair
    pretrainer, vocabulary, lowercase = huggingface.pretrainer_from_huggingface(
        folder / "discriminator", folder / "generator"  # any order
    )
    assert vocabulary == VOCABULARY and lowercase is False
    assert pretrainer.model_config.hidden_activation == "gelu"
    assert pretrainer.mask_token_id == 4
    batch = inputs_with_padding()
    expected_generator, expected_discriminator = torch_outputs(generator, discriminator, batch)
    got_generator, got_discriminator = keras_outputs(pretrainer, batch)
    real = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(got_discriminator[real], expected_discriminator[real], atol=1e-4)
    np.testing.assert_allclose(got_generator[real], expected_generator[real], atol=1e-4)
    assert np.abs(expected_discriminator).max() > 0.5 and np.abs(expected_generator).max() > 0.5


def test_export_loads_in_transformers_and_round_trips_exactly(pair, tmp_path):
    folder, generator, discriminator = pair
    pretrainer, vocabulary, _ = huggingface.pretrainer_from_huggingface(folder)
    exported = huggingface.save_huggingface(pretrainer, vocabulary, tmp_path / "out")
    reloaded_generator = transformers.ElectraForMaskedLM.from_pretrained(exported / "generator").eval()
    reloaded_discriminator = transformers.ElectraForPreTraining.from_pretrained(exported / "discriminator").eval()
    batch = inputs_with_padding()
    for before, after in zip(
        torch_outputs(generator, discriminator, batch), torch_outputs(reloaded_generator, reloaded_discriminator, batch)
    ):
        np.testing.assert_allclose(after, before, atol=1e-5)
    original = load_file(str(folder / "discriminator" / "model.safetensors"))
    written = load_file(str(exported / "discriminator" / "model.safetensors"))
    for key, value in original.items():
        np.testing.assert_array_equal(written[key], value, err_msg=key)
    again, _, _ = huggingface.pretrainer_from_huggingface(exported)
    # Everything but the pooler, which Hugging Face's ElectraForPreTraining lacks.
    pooler = {id(v) for v in pretrainer.discriminator.pooled_dense.weights} | {
        id(v) for v in again.discriminator.pooled_dense.weights
    }
    kept = [(a, b) for a, b in zip(pretrainer.weights, again.weights) if id(a) not in pooler]
    assert len(kept) == len(pretrainer.weights) - 2
    for a, b in kept:
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_pytorch_bin_files_load_with_weights_only(tmp_path):
    generator, discriminator = make_pair(tmp_path, seed=1)
    for model, name in ((generator, "generator"), (discriminator, "discriminator")):
        (tmp_path / name / "model.safetensors").unlink()
        torch.save(model.state_dict(), tmp_path / name / "pytorch_model.bin")
    pretrainer, _, _ = huggingface.pretrainer_from_huggingface(tmp_path)
    batch = inputs_with_padding()
    _, expected = torch_outputs(generator, discriminator, batch)
    _, got = keras_outputs(pretrainer, batch)
    real = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(got[real], expected[real], atol=1e-4)


class RunsCode:
    """Unpickling this would run `os.system`: what weights_only refuses."""

    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > pwned.txt",))


def test_a_pickle_that_would_run_code_is_refused(pair, tmp_path, monkeypatch):
    folder = copy_pair(pair[0], tmp_path / "pair")
    (folder / "generator" / "model.safetensors").unlink()
    torch.save({"generator_lm_head.bias": RunsCode()}, folder / "generator" / "pytorch_model.bin")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(huggingface.CheckpointFormatError, match="pytorch_model.bin: refused or unreadable"):
        huggingface.pretrainer_from_huggingface(folder)
    assert not (tmp_path / "pwned.txt").exists()


def copy_pair(source, target):
    import shutil

    shutil.copytree(source / "generator", target / "generator")
    shutil.copytree(source / "discriminator", target / "discriminator")
    return target


def test_a_missing_tensor_is_named(pair, tmp_path):
    folder = copy_pair(pair[0], tmp_path)
    path = folder / "discriminator" / "model.safetensors"
    tensors = load_file(str(path))
    del tensors["electra.encoder.layer.1.attention.self.key.weight"]
    save_file(tensors, str(path))
    with pytest.raises(huggingface.CheckpointFormatError, match="electra.encoder.layer.1.attention.self.key.weight is missing"):
        huggingface.pretrainer_from_huggingface(folder)


def test_a_wrong_shape_is_named(pair, tmp_path):
    folder = copy_pair(pair[0], tmp_path)
    path = folder / "generator" / "model.safetensors"
    tensors = load_file(str(path))
    tensors["generator_predictions.dense.bias"] = np.zeros(7, "float32")
    save_file(tensors, str(path))
    with pytest.raises(huggingface.CheckpointFormatError, match=r"generator_predictions.dense.bias has shape \(7,\)"):
        huggingface.pretrainer_from_huggingface(folder)


def test_a_vocabulary_of_another_size_is_refused(pair, tmp_path):
    folder = copy_pair(pair[0], tmp_path)
    (folder / "discriminator" / "vocab.txt").write_text("\n".join(VOCABULARY[:-3]) + "\n")
    with pytest.raises(huggingface.CheckpointFormatError, match="117 tokens, but config.json says vocab_size 120"):
        huggingface.pretrainer_from_huggingface(folder)


def test_untied_embeddings_are_refused(pair, tmp_path):
    folder = copy_pair(pair[0], tmp_path)
    path = folder / "generator" / "model.safetensors"
    tensors = load_file(str(path))
    tensors["electra.embeddings.position_embeddings.weight"] = tensors["electra.embeddings.position_embeddings.weight"] + 1
    save_file(tensors, str(path))
    with pytest.raises(huggingface.CheckpointFormatError, match="position_embeddings.weight differs from the discriminator"):
        huggingface.pretrainer_from_huggingface(folder)


def test_a_generator_that_does_not_scale_uniformly_is_refused(pair, tmp_path):
    folder = copy_pair(pair[0], tmp_path)
    path = folder / "generator" / "config.json"
    config = json.loads(path.read_text())
    config["intermediate_size"] = 48
    path.write_text(json.dumps(config))
    with pytest.raises(huggingface.CheckpointFormatError, match="generator intermediate_size 48"):
        huggingface.pretrainer_from_huggingface(folder)


def test_imported_models_run_in_a_tf_function(pair):
    pretrainer, _, _ = huggingface.pretrainer_from_huggingface(pair[0])
    batch = {k: tf.constant(v) for k, v in inputs_with_padding().items()}
    eager = np.asarray(pretrainer(batch))
    traced = np.asarray(tf.function(lambda b: pretrainer(b))(batch))
    np.testing.assert_allclose(traced, eager, atol=1e-6)


@pytest.mark.slow
def test_continued_pretraining_from_an_imported_pair_lowers_the_held_out_loss(small_corpus, tmp_path):
    """The domain-adaptation flow of the README, on a pair made here."""
    from conftest import FAST
    from conftest import run

    from electra_keras import data

    vocabulary = data.DEFAULT_VOCABULARY.read_text(encoding="utf-8").splitlines()
    torch.manual_seed(0)
    sizes = dict(COMMON, vocab_size=len(vocabulary))
    discriminator = transformers.ElectraForPreTraining(transformers.ElectraConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **sizes
    ))
    generator = transformers.ElectraForMaskedLM(transformers.ElectraConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=1, intermediate_size=32, **sizes
    ))
    generator.electra.embeddings.load_state_dict(discriminator.electra.embeddings.state_dict())
    pair = tmp_path / "published"
    for model, name in ((generator, "generator"), (discriminator, "discriminator")):
        model.save_pretrained(pair / name)
        (pair / name / "vocab.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
        (pair / name / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))

    output = tmp_path / "adapted"
    result = run(
        "--init-from", pair / "generator", pair / "discriminator", "--corpus", small_corpus[1],
        "--output", output, "--steps", 40, *FAST, "--set", "training.steps_per_eval=20",
        "--set", "optimizer.learning_rate=2e-3", "--set", "optimizer.warmup_steps=5",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"initialised from {pair / 'generator'} and {pair / 'discriminator'}" in result.stderr
    metrics = json.loads((output / "metrics.json").read_text())
    steps = [e["step"] for e in metrics["evaluations"]]
    assert steps == [0, 20, 40]
    assert metrics["evaluations"][-1]["loss"] < metrics["evaluations"][0]["loss"]
    assert metrics["evaluations"][-1]["mlm_loss"] < metrics["evaluations"][0]["mlm_loss"]
    assert (output / "vocab.txt").read_text(encoding="utf-8").splitlines() == vocabulary
    written = (output / "config.yaml").read_text()
    assert "hidden_size: 32" in written and "hidden_activation: gelu\n" in written

    refused = run("--init-from", pair, "--vocab", small_corpus[0], "--output", tmp_path / "x", "--steps", 2)
    assert refused.returncode == 2 and "cannot be used with --init-from" in refused.stderr
