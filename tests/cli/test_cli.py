"""The command line as a user runs it: one process per run."""

import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import FAST
from conftest import ROOT
from conftest import run

import electra_keras  # noqa: F401  (registers classes for load_model)

# Starts processes or trains for real: the slow tier.
pytestmark = pytest.mark.slow


def read_events(log_dir):
    """`({tag: {step: value}}, {tag: {step: text}})` of a TensorBoard folder."""
    scalars, texts = {}, {}
    for path in sorted(pathlib.Path(log_dir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "text":
                    texts.setdefault(value.tag, {})[event.step] = tensor.item().decode("utf-8")
                else:
                    scalars.setdefault(value.tag, {})[event.step] = float(tensor)
    return scalars, texts


def export_run(*args):
    return run(*args, script=ROOT / "scripts" / "export.py")


def test_end_to_end_on_the_tiny_config(small_corpus, tmp_path):
    from conftest import write_task

    output = tmp_path / "run"
    write_task(tmp_path / "probe_task")
    result = run(
        "--corpus", *small_corpus, "--output", output, "--steps", 30, *FAST,
        "--set", "training.steps_per_log=5", "--set", "training.steps_per_sample=10",
        "--probe", tmp_path / "probe_task",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "english.txt: replaced undecodable bytes on 1 lines (first: line" in result.stderr
    assert "done in" in result.stdout

    assert json.loads((output / "run_state.json").read_text())["status"] == "complete"
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["steps"] == 30
    assert [e["step"] for e in metrics["evaluations"]] == [15, 30]
    assert metrics["data"]["undecodable_bytes"] == 2 and metrics["data"]["files"] == 2
    for key in ("loss", "mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "replaced_fraction"):
        assert np.isfinite(metrics["eval"][key]) and np.isfinite(metrics["train"][key])
    assert 0.0 < metrics["eval"]["disc_auc"] < 1.0
    # What the run buys: its FLOPs against the paper's smallest point, said at start and end.
    compute = metrics["compute"]
    assert compute["training_flops"] == compute["flops_per_sequence"] * 8 * 30
    assert compute["times_below_smallest_point"] == pytest.approx(8.9e16 / compute["training_flops"])
    assert compute["steps_trained_here"] == 30 and compute["measured_flops_per_second"] > 0
    assert [p["glue"] for p in compute["points"]] == [74.1, 76.0, 77.7, 79.0, 79.9]
    assert all(p["hours_at_measured_rate"] > 0 for p in compute["points"])
    assert result.stderr.count("below the smallest published ELECTRA-Small point") == 2
    # Each evaluation covers training.eval_batches (2) batches of 8 held-out sequences of 32 tokens.
    assert metrics["held_out"]["examples"] == 16 and 16 * 3 <= metrics["held_out"]["tokens"] <= 16 * 32
    # The downstream probe is scored at every evaluation.
    assert all(0.0 <= e["probe_accuracy"] <= 1.0 for e in metrics["evaluations"])
    assert "probe_accuracy" in result.stdout
    vocabulary = (output / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert any("\uac00" <= ch <= "\ud7a3" for token in vocabulary for ch in token)
    assert "vocabulary_size: 1000" in (output / "config.yaml").read_text()
    checkpoints = sorted(p.name for p in (output / "checkpoints").iterdir())
    assert checkpoints == ["ckpt-000000010", "ckpt-000000020", "ckpt-000000030"]
    state = json.loads((output / "checkpoints" / "ckpt-000000020" / "state.json").read_text())
    assert state["step"] == 20 and state["batches_consumed"] == 20
    assert [e["step"] for e in state["evaluations"]] == [15]
    # TensorBoard: every metric and the learning rate per logged step, held-out
    # metrics per evaluation, and the generator/discriminator sample as text.
    train_scalars, train_texts = read_events(output / "logs" / "train")
    for key in ("loss", "mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "learning_rate"):
        assert sorted(train_scalars[key]) == [5, 10, 15, 20, 25, 30], key
    assert 0 < train_scalars["learning_rate"][5] < train_scalars["learning_rate"][10]  # warming up
    validation_scalars, _ = read_events(output / "logs" / "validation")
    assert sorted(validation_scalars["disc_accuracy"]) == [15, 30]
    assert sorted(validation_scalars["probe_accuracy"]) == [15, 30]
    assert sorted(train_texts["generator_and_discriminator"]) == [10, 20, 30]
    sample = train_texts["generator_and_discriminator"][30]
    assert "| original | input | top guess | sample | replaced | p(replaced) |" in sample
    assert "[MASK]" in sample and "the discriminator judged" in sample
    samples = [json.loads(line) for line in (output / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [10, 20, 30]
    assert any(row["top_guess"] for row in samples[0]["tokens"])
    # The same masks every time: only the model's answers change.
    assert [r["input"] for r in samples[0]["tokens"]] == [r["input"] for r in samples[-1]["tokens"]]

    # A finished run is not resumed or replaced without --overwrite.
    again = run("--corpus", *small_corpus, "--output", output, "--steps", 30, *FAST)
    assert again.returncode == 2 and "holds a complete run" in again.stderr

    # The exported SavedModel answers like the trained Keras model.
    pretrainer = keras.models.load_model(output / "pretrainer.keras")
    exported = tf.saved_model.load(str(output / "export" / "discriminator" / "1"))
    token_ids = tf.constant([[2, 10, 11, 12, 3, 0], [2, 40, 3, 41, 3, 0]], tf.int32)
    batch = {
        "token_ids": token_ids,
        "segment_ids": tf.constant([[0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0]], tf.int32),
        "padding_mask": tf.cast(token_ids != 0, tf.int32),
    }
    logits = exported.signatures["rtd"](token_ids=token_ids)["logits"]
    np.testing.assert_allclose(logits, pretrainer(batch), atol=1e-5)
    answer = exported.signatures["serving_default"](text=tf.constant(["The jury said.", "대화 상자"]))
    # As wide as the bucket of the longest text (16 of the buckets 16, 32), not the run's length.
    assert answer["replaced_probability"].shape == (2, 16)
    assert answer["tokens"][0, 0].numpy() == b"[CLS]"
    assert (output / "export" / "discriminator" / "1" / "assets.extra" / "tf_serving_warmup_requests").exists()
    assert not list((output / "export" / "discriminator").glob(".*"))  # no staging left

    # scripts/export.py: the final model, then a checkpoint, as new versions.
    base = tmp_path / "models"
    result = export_run("--run", output, "--base", base, "--name", "electra")
    assert result.returncode == 0, result.stderr[-3000:]
    result = export_run(
        "--run", output, "--base", base, "--checkpoint", output / "checkpoints" / "ckpt-000000020"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (base / "electra").iterdir()) == ["1", "2"]
    final = tf.saved_model.load(str(base / "electra" / "1")).signatures["rtd"](token_ids=token_ids)["logits"]
    earlier = tf.saved_model.load(str(base / "electra" / "2")).signatures["rtd"](token_ids=token_ids)["logits"]
    np.testing.assert_allclose(final, logits, atol=1e-6)
    assert np.abs(final - earlier).max() > 0
    result = export_run("--run", tmp_path, "--base", base)
    assert result.returncode == 2 and "not a pretrained ELECTRA" in result.stderr
    assert "run folder (config.yaml and vocab.txt)" in result.stderr

    # The same run for transformers, and as a keras-hub preset.
    import keras_hub
    import torch
    import transformers

    result = export_run("--run", output, "--base", tmp_path / "hf", "--format", "huggingface")
    assert result.returncode == 0, result.stderr[-3000:]
    hf_discriminator = transformers.ElectraForPreTraining.from_pretrained(tmp_path / "hf" / "discriminator").eval()
    with torch.no_grad():
        hf_logits = hf_discriminator(
            input_ids=torch.from_numpy(batch["token_ids"].numpy()).long(),
            token_type_ids=torch.from_numpy(batch["segment_ids"].numpy()).long(),
            attention_mask=torch.from_numpy(batch["padding_mask"].numpy()).long(),
        ).logits.numpy()
    real = batch["padding_mask"].numpy().astype(bool)
    np.testing.assert_allclose(hf_logits[real], np.asarray(pretrainer(batch))[real], atol=1e-4)
    result = export_run("--run", output, "--base", tmp_path / "preset", "--format", "keras-hub")
    assert result.returncode == 0, result.stderr[-3000:]
    backbone = keras_hub.models.ElectraBackbone.from_preset(str(tmp_path / "preset"))
    np.testing.assert_allclose(
        backbone(batch)["sequence_output"], pretrainer.discriminator(batch)["sequence_output"], atol=1e-5
    )


def test_refuses_to_overwrite_an_existing_run_without_flag(small_corpus, tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    (output / "keep.txt").write_text("precious")
    result = run("--corpus", *small_corpus, "--output", output, "--steps", 2, *FAST)
    assert result.returncode == 2
    assert "not an electra_keras run folder" in result.stderr
    result = run("--corpus", *small_corpus, "--output", output, "--steps", 2, "--overwrite", *FAST)
    assert result.returncode == 2 and "not an electra_keras run folder" in result.stderr
    assert (output / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--corpus", "{tmp}/missing.txt"], "missing.txt: corpus file not found"),
        (["--corpus", "{tmp}/empty.txt"], "corpus is empty"),
        (["--set", "model.hidden_sise=8"], "unknown key 'model.hidden_sise'"),
        (["--batch-size", "0"], "--batch-size: expected a positive integer, got '0'"),
        (["--batch-size", "many"], "--batch-size: expected a positive integer, got 'many'"),
        (["--steps", "-5"], "--steps: expected a positive integer, got '-5'"),
        (["--config", "{tmp}/nope.yaml"], "nope.yaml: config file not found"),
        (["--vocab", "{tmp}/empty.txt"], "empty.txt:1: empty token"),
    ],
)
def test_bad_input_gives_one_clear_error_and_no_complete_output(tmp_path, arguments, message):
    (tmp_path / "empty.txt").write_text("\n\n")
    output = tmp_path / "run"
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = run(*arguments, "--output", output, "--steps", "2")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (output / "metrics.json").exists()
    if (output / "run_state.json").exists():
        assert json.loads((output / "run_state.json").read_text())["status"] == "failed"


def test_a_non_finite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(small_corpus, tmp_path):
    output = tmp_path / "run"
    result = run(
        "--corpus", *small_corpus, "--output", output, "--steps", 60, *FAST,
        "--set", "optimizer.learning_rate=1e30", "--set", "optimizer.warmup_steps=0",
        "--set", "optimizer.clip_norm=1e30", "--set", "training.steps_per_checkpoint=1",
    )
    assert result.returncode == 3, result.stderr[-3000:]
    message = next(line for line in result.stderr.splitlines() if line.startswith("error: "))
    step = int(message.split(" at step ")[1].split(";")[0])
    assert message.startswith("error: the loss became nan") or "inf" in message
    # Checkpoints up to step - 2 stay; later ones gave the non-finite loss.
    kept = sorted(p.name for p in (output / "checkpoints").glob("ckpt-*"))
    assert kept == [f"ckpt-{s:09d}" for s in range(1, step - 1)]
    if kept:
        assert f"last good checkpoint: {output / 'checkpoints' / kept[-1]}" in message
    assert (output / "checkpoints" / "nonfinite" / f"ckpt-{step - 1:09d}" / "model.weights.h5").exists()
    assert "Traceback" not in result.stderr
    assert json.loads((output / "run_state.json").read_text())["status"] == "failed"
    assert not (output / "metrics.json").exists()
