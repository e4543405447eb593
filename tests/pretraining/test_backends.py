"""The same objective on every installed Keras backend, and the JAX loop.

This process runs TensorFlow; JAX and PyTorch run in subprocesses (a
process has one Keras backend). JAX runs with `import tensorflow` made to
fail, as on an accelerator machine without TensorFlow.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import HELPERS
from conftest import MASK
from conftest import ROOT
from conftest import TINY_MODEL
from conftest import make_batch

import electra_keras

# Subprocesses on each backend: the slow tier.
pytestmark = pytest.mark.slow

SPECIALS = [0, 2, 3, 4]
NO_DROPOUT = {**TINY_MODEL, "dropout": 0.0}
BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(
        importlib.util.find_spec(module) is None, reason=f"{module} is not installed"))
    for name, module in (("jax", "jax"), ("torch", "torch"))
]


def run_backend(backend, *arguments, timeout=600):
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
                   "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, *map(str, arguments)], capture_output=True, text=True, env=environment,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed


@pytest.fixture(scope="module")
def tensorflow_step(tmp_path_factory):
    """Weights, a batch and its noise, and this process's TensorFlow step."""
    folder = tmp_path_factory.mktemp("backends")
    model = electra_keras.ElectraPretrainer(NO_DROPOUT, {}, mask_token_id=MASK, special_token_ids=SPECIALS)
    # Trained weights would do as well; random ones keep every term non-trivial.
    weights = folder / "model.weights.h5"
    model.save_weights(weights)
    batch = make_batch(batch_size=4, length=24)
    rng = np.random.default_rng(3)
    max_predictions = model.objective_config.resolved_max_predictions(24)
    noise = {
        "select": rng.random((4, 24), dtype=np.float32),
        "mask": rng.random((4, max_predictions), dtype=np.float32),
        "gumbel": rng.random((4, max_predictions, TINY_MODEL["vocabulary_size"]), dtype=np.float32),
    }
    settings = {"model": NO_DROPOUT, "mask_token_id": MASK, "special_token_ids": SPECIALS}
    inputs = folder / "inputs.npz"
    np.savez(inputs, settings=json.dumps(settings), **batch, **{"noise_" + k: v for k, v in noise.items()})
    reference = folder / "tensorflow.npz"
    run_backend("tensorflow", HELPERS / "backend_step.py", weights, inputs, reference)
    return folder, weights, inputs, dict(np.load(reference))


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_step_gives_the_same_loss_and_gradients_as_tensorflow(backend, tensorflow_step):
    folder, weights, inputs, reference = tensorflow_step
    output = folder / f"{backend}.npz"
    extra = ["--no-tensorflow"] if backend == "jax" else []
    run_backend(backend, HELPERS / "backend_step.py", weights, inputs, output, *extra)
    other = dict(np.load(output))
    assert str(other["backend"]) == backend
    if backend == "jax":
        assert not other["tensorflow_loaded"]
    # Same masks and samples: the corrupted input is identical, token for token.
    np.testing.assert_array_equal(other["corrupted_ids"], reference["corrupted_ids"])
    assert reference["stat:replaced"] > 0  # some tokens were replaced
    for name in ("loss", "mlm_loss", "disc_loss"):
        np.testing.assert_allclose(other[name], reference[name], rtol=1e-5, err_msg=name)
    statistic_names = sorted(k for k in reference if k.startswith("stat:"))
    assert statistic_names == sorted(k for k in other if k.startswith("stat:")) and len(statistic_names) == 7
    for name in statistic_names:
        np.testing.assert_allclose(other[name], reference[name], rtol=1e-5, err_msg=name)
    gradient_names = sorted(k for k in reference if k.startswith("grad:"))
    assert gradient_names == sorted(k for k in other if k.startswith("grad:"))
    assert len(gradient_names) > 20
    for name in gradient_names:
        scale = max(np.abs(reference[name]).max(), 1e-6)
        np.testing.assert_allclose(other[name], reference[name], rtol=1e-4, atol=1e-5 * scale, err_msg=name)
    # The shared embedding gets gradient from both the generator and the discriminator.
    embedding = [n for n in gradient_names if "token_embedding" in n]
    assert embedding and np.abs(reference[embedding[0]]).max() > 0


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_fit_without_tensorflow_trains_and_its_weights_serve_on_tensorflow(built_dataset, tmp_path):
    run_backend("jax", HELPERS / "jax_train.py", built_dataset, tmp_path / "one", "--steps", "30")
    result = json.loads((tmp_path / "one" / "history.json").read_text())
    assert not result["tensorflow_loaded"]
    train, evaluation = result["train"], result["eval"]
    assert train["disc_loss"][-1] < train["disc_loss"][0] < 0.7  # down from ln 2, the start
    assert train["mlm_loss"][-1] < np.log(8000) and 0.05 < train["replaced_fraction"][-1] < 0.2
    assert set(evaluation) >= {"loss", "disc_auc", "gen_accuracy"} and np.isfinite(evaluation["loss"])

    # The weights JAX trained load on TensorFlow and give the logits JAX gave.
    from electra_keras.data.shard_format import read_manifest

    vocabulary = read_manifest(built_dataset)["vocabulary_size"]
    tensorflow_model = electra_keras.ElectraPretrainer(
        {**NO_DROPOUT, "vocabulary_size": vocabulary}, {}, mask_token_id=4, special_token_ids=SPECIALS,
    )
    tensorflow_model.load_weights(tmp_path / "one" / "final.weights.h5")
    probe = dict(np.load(tmp_path / "one" / "probe.npz"))
    jax_logits = probe.pop("logits")
    assert np.abs(jax_logits).max() > 0.1
    np.testing.assert_allclose(np.asarray(tensorflow_model(probe)), jax_logits, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_data_parallel_over_two_devices_matches_one_device(built_dataset, tmp_path):
    run_backend("jax", HELPERS / "jax_train.py", built_dataset, tmp_path / "single", "--steps", "10")
    run_backend("jax", HELPERS / "jax_train.py", built_dataset, tmp_path / "sharded", "--steps", "10",
                "--devices", "2")
    single = json.loads((tmp_path / "single" / "history.json").read_text())
    sharded = json.loads((tmp_path / "sharded" / "history.json").read_text())
    assert single["devices"] == 1 and sharded["devices"] == 2
    # Same global batch, masks and samples: sharding changes only the order of sums.
    for name in ("loss", "mlm_loss", "disc_loss", "replaced_fraction"):
        np.testing.assert_allclose(sharded["train"][name], single["train"][name], rtol=1e-4, err_msg=name)
    np.testing.assert_allclose(sharded["eval"]["loss"], single["eval"]["loss"], rtol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_documented_jax_example_runs_as_written_without_tensorflow(built_dataset, tmp_path):
    import re

    root = ROOT
    readme = (root / "docs" / "training.md").read_text(encoding="utf-8")
    section = readme.split("## Other Keras backends", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # Same code, a tiny model and two steps.
    replacements = {
        '"configs/small.yaml"': repr(str(root / "configs" / "tiny.yaml")),
        '"data/built"': repr(str(built_dataset)),
        "batch_size=128": "batch_size=8",
        "steps_per_epoch=10000)": "steps_per_epoch=2)",
    }
    for old, new in replacements.items():
        assert old in code, old
        code = code.replace(old, new)
    script = tmp_path / "example.py"
    script.write_text(
        "import sys\nsys.modules['tensorflow'] = None\n" + code
        + "\nassert int(pretrainer.optimizer.iterations) == 2\n",
        encoding="utf-8",
    )
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(root)}
    completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                               env=environment, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert (tmp_path / "electra.weights.h5").exists()


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_trains_the_masked_lm_baseline_with_the_same_loop(built_dataset, tmp_path):
    run_backend("jax", HELPERS / "jax_train.py", built_dataset, tmp_path / "mlm", "--steps", "30",
                "--objective", "mlm")
    result = json.loads((tmp_path / "mlm" / "history.json").read_text())
    assert set(result["train"]) == {"loss", "mlm_loss", "gen_accuracy"}
    assert set(result["eval"]) == {"loss", "mlm_loss", "gen_accuracy"}
    mlm_loss = result["train"]["mlm_loss"]
    assert mlm_loss[-1] < mlm_loss[0] < np.log(8000) + 0.5  # it learns from the ~15% masked


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_gradient_accumulation_gives_the_whole_batch_update(built_dataset, tmp_path):
    for accumulate in (1, 2):
        run_backend("jax", HELPERS / "jax_train.py", built_dataset, tmp_path / f"k{accumulate}", "--steps", "3",
                    "--accumulate", str(accumulate), "--row-noise")
    whole = json.loads((tmp_path / "k1" / "history.json").read_text())
    accumulated = json.loads((tmp_path / "k2" / "history.json").read_text())
    for name in ("loss", "mlm_loss", "disc_loss", "gen_accuracy", "replaced_fraction"):
        np.testing.assert_allclose(accumulated["train"][name], whole["train"][name], rtol=1e-5, err_msg=name)
    models = [list(np.load(tmp_path / f"k{k}" / "final_weights.npz").values()) for k in (1, 2)]
    assert len(models[0]) == len(models[1]) > 20
    for one, two in zip(*models):
        np.testing.assert_allclose(two, one, atol=2e-6)
