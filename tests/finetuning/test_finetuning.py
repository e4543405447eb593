"""Classifier heads on the discriminator, layer-wise learning-rate decay, the fine-tuning job."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import FAST
from conftest import MASK
from conftest import ROOT
from conftest import TINY_MODEL
from conftest import make_batch
from conftest import run
from conftest import run_signature

from electra_keras.finetuning import ElectraClassifier
from electra_keras.finetuning import ElectraTokenClassifier
from electra_keras.finetuning import layerwise_decay_adamw
from electra_keras.finetuning import layerwise_multipliers
from electra_keras.pretraining.trainer import ElectraPretrainer


def encoder():
    return ElectraPretrainer(TINY_MODEL, {}, mask_token_id=MASK, special_token_ids=[0, 2, 3, 4]).discriminator


def test_multipliers_follow_the_official_depths():
    classifier = ElectraClassifier(encoder(), num_classes=2)
    multipliers = layerwise_multipliers(classifier, num_layers=2, decay=0.8)
    by_prefix = {}
    for path, factor in multipliers.items():
        by_prefix.setdefault(path.split("/")[0], set()).add(round(factor, 6))
    assert by_prefix["embedding"] == {round(0.8**4, 6)}
    assert by_prefix["embeddings_projection"] == {round(0.8**4, 6)}
    assert by_prefix["transformer_layer_0"] == {round(0.8**3, 6)}
    assert by_prefix["transformer_layer_1"] == {round(0.8**2, 6)}
    assert by_prefix["head_dense"] == by_prefix["head_logits"] == {1.0}


def test_one_step_moves_each_layer_by_its_decayed_rate():
    classifier = ElectraClassifier(encoder(), num_classes=2, dropout=0.0)
    optimizer = layerwise_decay_adamw(classifier, 1e-3, num_layers=2, decay=0.5, weight_decay=0.0)
    classifier.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True
    )
    batch = make_batch(batch_size=8)
    labels = np.arange(8) % 2
    before = {v.path: v.numpy().copy() for v in classifier.trainable_variables}
    classifier.fit(batch, labels, batch_size=8, epochs=1, verbose=0)
    # Adam's first step moves every coordinate with a gradient by about the rate.
    moved = {v.path: np.abs(v.numpy() - before[v.path]).max() for v in classifier.trainable_variables}
    assert moved["head_logits/bias"] == pytest.approx(1e-3, rel=0.02)
    assert moved["transformer_layer_1/feedforward_output_dense/bias"] == pytest.approx(1e-3 * 0.5**2, rel=0.02)
    assert moved["transformer_layer_0/feedforward_output_dense/bias"] == pytest.approx(1e-3 * 0.5**3, rel=0.02)
    assert moved["embedding/layer_norm/beta"] == pytest.approx(1e-3 * 0.5**4, rel=0.02)


def test_classifier_learns_a_token_presence_task_with_fit():
    rng = np.random.default_rng(0)
    batch = make_batch(batch_size=256, seed=5)
    labels = (batch["token_ids"] == 7).any(axis=1).astype("int32")
    if labels.mean() < 0.3:  # make the classes balanced enough
        rows = rng.choice(256, 100, replace=False)
        batch["token_ids"][rows, 1] = 7
        labels = (batch["token_ids"] == 7).any(axis=1).astype("int32")
    keras.utils.set_random_seed(0)
    classifier = ElectraClassifier(encoder(), num_classes=2)
    classifier.compile(
        optimizer=layerwise_decay_adamw(classifier, 3e-3, num_layers=2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = classifier.fit(batch, labels, batch_size=32, epochs=12, verbose=0).history
    assert history["accuracy"][-1] > 0.9
    assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_token_classifier_gives_a_label_per_token_and_trains():
    batch = make_batch(batch_size=16)
    tags = (batch["token_ids"] % 3).astype("int32")
    tagger = ElectraTokenClassifier(encoder(), num_classes=3)
    tagger.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert tagger.predict(batch, verbose=0).shape == (16, 24, 3)
    history = tagger.fit(batch, tags, batch_size=16, epochs=30, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0]


# --- Labelled data, metrics, and scripts/finetune.py -------------------------


from electra_keras.finetuning import LabelledDataError  # noqa: E402
from electra_keras.finetuning import classification_metrics  # noqa: E402
from electra_keras.finetuning import encode_pairs  # noqa: E402
from electra_keras.finetuning import read_labelled  # noqa: E402
from electra_keras.finetuning import regression_metrics  # noqa: E402


def test_metrics_on_hand_checked_values():
    metrics = classification_metrics([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], num_classes=2)
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert metrics["f1"] == pytest.approx(2 / 3)  # class 1: precision 2/3, recall 2/3
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)  # class 0: 1/2, 1/2
    correlations = regression_metrics([1, 2, 3, 4], [1, 3, 2, 4])
    assert correlations["spearman"] == pytest.approx(0.8)
    assert correlations["pearson"] == pytest.approx(0.8)
    tied = regression_metrics([1, 2, 2, 3], [10, 20, 20, 30])
    assert tied["spearman"] == pytest.approx(1.0) and tied["pearson"] == pytest.approx(1.0)


def test_labelled_files_in_three_formats_and_errors_naming_the_line(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"a, b",pos\nc,neg\n')
    (tmp_path / "a.tsv").write_text("text\tother\tlabel\na b\tx\tpos\n")
    (tmp_path / "a.jsonl").write_text('{"text": "a b", "second": "c", "label": 1}\n\n{"text": "d", "second": "e", "label": 0}\n')
    assert read_labelled(tmp_path / "a.csv") == (["a, b", "c"], [None, None], ["pos", "neg"])
    assert read_labelled(tmp_path / "a.tsv")[0] == ["a b"]
    assert read_labelled(tmp_path / "a.jsonl", pair_field="second") == (["a b", "d"], ["c", "e"], [1, 0])
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 1\n')
    with pytest.raises(LabelledDataError, match=r"bad.jsonl:2: not valid JSON"):
        read_labelled(tmp_path / "bad.jsonl")
    (tmp_path / "empty.csv").write_text("text,label\nx,1\n,0\n")
    with pytest.raises(LabelledDataError, match=r"empty.csv:3: empty or missing 'text'"):
        read_labelled(tmp_path / "empty.csv")
    with pytest.raises(LabelledDataError, match=r"a.csv:1: no column 'sentence'"):
        read_labelled(tmp_path / "a.csv", text_field="sentence")


def test_pairs_are_encoded_with_segments_and_trimmed_longest_first():
    from electra_keras.data import tokenizer as tokenization

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d"]
    tokenizer = tokenization.make_tokenizer(vocabulary, lowercase=True, strip_accents=False)
    encoded = encode_pairs(tokenizer, ["a b c d a b", "a"], ["c d", None], sequence_length=8)
    # [CLS] a b c [SEP] c d [SEP]: the longer first text lost three tokens.
    assert encoded["token_ids"][0].tolist() == [2, 5, 6, 7, 3, 7, 8, 3]
    assert encoded["segment_ids"][0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert encoded["token_ids"][1].tolist() == [2, 5, 3, 0, 0, 0, 0, 0]
    assert encoded["padding_mask"][1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


def test_default_rates_follow_the_paper_by_model_size():
    from electra_keras.finetuning.job import default_rates

    assert default_rates(256) == (3e-4, 0.8)  # ELECTRA-Small
    assert default_rates(768) == (1e-4, 0.8)  # Base
    assert default_rates(1024) == (5e-5, 0.9)  # Large
    assert default_rates(128)[0] == 1e-3  # tiny: see docs/finetuning.md


def test_keras_hub_embedding_names_get_the_embeddings_depth():
    from electra_keras.finetuning import layer_depth

    for path in ("token_embedding/embeddings", "embeddings_layer_norm/gamma", "embedding/token_embedding/embeddings"):
        assert layer_depth(path, 2) == 0
    assert layer_depth("transformer_layer_1/feedforward_output_dense/kernel", 2) == 2
    assert layer_depth("head_logits/kernel", 2) == 4


def settings(tmp_path, train_rows, eval_rows, **kwargs):
    from electra_keras.finetuning.job import FinetuningSettings

    for name, rows in (("train.jsonl", train_rows), ("eval.jsonl", eval_rows)):
        (tmp_path / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    return FinetuningSettings(str(tmp_path / "train.jsonl"), str(tmp_path / "eval.jsonl"), str(tmp_path / "out"),
                              **kwargs)


def test_label_problems_are_errors_naming_the_file(tmp_path):
    from electra_keras.tasks.classification import _targets

    one_class = settings(tmp_path, [{"text": "a", "label": "x"}] * 3, [{"text": "b", "label": "x"}])
    with pytest.raises(LabelledDataError, match=r"train.jsonl: the label field 'label' has one class \('x'\) in 3 rows"):
        _targets(one_class, ["x", "x", "x"], ["x"])
    two = settings(tmp_path, [], [])
    with pytest.raises(LabelledDataError, match=r"eval.jsonl: labels \['z'\] do not occur in .*train.jsonl"):
        _targets(two, ["x", "y"], ["z"])
    regression = settings(tmp_path, [], [], task="regression")
    with pytest.raises(LabelledDataError, match=r"train.jsonl: label 'high' is not a number"):
        _targets(regression, ["high"], ["1.0"])
    multi = settings(tmp_path, [], [], task="multi_label")
    names, train, held_out = _targets(multi, [["a", "b"], "b|c", []], ["c"])
    assert names == ["a", "b", "c"]
    assert train.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 0]] and held_out.tolist() == [[0, 0, 1]]
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(LabelledDataError, match=r"empty.jsonl: no rows"):
        read_labelled(tmp_path / "empty.jsonl")


def test_multi_label_metrics_and_thresholds_on_hand_checked_values():
    from electra_keras.finetuning.metrics import multi_label_metrics
    from electra_keras.finetuning.metrics import tune_thresholds

    targets = [[1, 0], [1, 1], [0, 1], [0, 0]]
    probabilities = [[0.9, 0.2], [0.6, 0.4], [0.3, 0.35], [0.1, 0.1]]
    at_half = multi_label_metrics(targets, probabilities, 0.5)
    assert at_half["micro_f1"] == pytest.approx(2 * 2 / (2 + 4))  # 2 right of 2 chosen, 4 true
    assert at_half["exact_match"] == pytest.approx(0.5)
    thresholds = tune_thresholds(targets, probabilities)
    assert 0.3 < thresholds[0] <= 0.6 and 0.1 < thresholds[1] <= 0.35
    tuned = multi_label_metrics(targets, probabilities, thresholds)
    assert tuned["micro_f1"] == pytest.approx(1.0) and tuned["exact_match"] == pytest.approx(1.0)


def _fit_with(scores, patience=2, min_epochs=0):
    from electra_keras.finetuning.job import BestEpoch

    scores = iter(scores)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    snapshots = []
    best = BestEpoch(lambda: next(scores), "classification", patience=patience, min_epochs=min_epochs)
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    model.fit(x, y, epochs=10, callbacks=[best, record], verbose=0)
    return model, best, snapshots


def test_the_best_epoch_is_kept_and_training_stops_after_patience():
    accuracies = [0.5, 0.8, 0.7, 0.6, 0.9]
    model, best, snapshots = _fit_with([{"accuracy": a, "loss": 1.0} for a in accuracies])
    assert [entry["epoch"] for entry in best.history] == [1, 2, 3, 4]  # stopped: 2 epochs without gain
    assert best.best_epoch == 2 and best.best["accuracy"] == 0.8
    best.restore(model)
    for restored, kept in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, kept)


def test_a_falling_dev_loss_keeps_training_on_the_majority_plateau():
    # Accuracy stuck at the majority share for three epochs while the loss falls,
    # then the model learns: stopping on accuracy alone would end at epoch 3.
    scores = [(0.65, 0.69), (0.65, 0.68), (0.65, 0.67), (0.65, 0.66), (0.72, 0.60), (0.70, 0.61), (0.71, 0.62),
              (0.99, 0.1)]
    _, best, _ = _fit_with([{"accuracy": a, "loss": loss} for a, loss in scores])
    assert [entry["epoch"] for entry in best.history] == [1, 2, 3, 4, 5, 6, 7]
    assert best.best_epoch == 5
    # On the plateau, equal accuracy: the epoch with the lower dev loss is kept.
    _, plateau, _ = _fit_with([{"accuracy": 0.65, "loss": loss} for loss in (0.69, 0.68, 0.68, 0.68)])
    assert plateau.best_epoch == 2 and len(plateau.history) == 4


def test_small_data_trains_the_minimum_steps_before_early_stopping_may_stop():
    from electra_keras.finetuning.settings import FinetuningSettings
    from electra_keras.finetuning.settings import TrainingPlan
    from electra_keras.finetuning.settings import compile_for_finetuning

    # A flat plateau would stop at epoch 3; the minimum keeps it going to epoch 6, then patience applies.
    _, best, _ = _fit_with([{"accuracy": 0.6, "loss": 0.7}] * 8 + [{"accuracy": 0.9, "loss": 0.2}], min_epochs=6)
    assert len(best.history) == 6
    _, learns, _ = _fit_with([{"accuracy": 0.6, "loss": 0.7}] * 4 + [{"accuracy": 0.9, "loss": 0.2}] * 5,
                             min_epochs=6)
    assert learns.best_epoch == 5 and len(learns.history) == 7

    classifier = ElectraClassifier(encoder(), num_classes=2)
    plan = TrainingPlan(learning_rate=1e-3, layer_decay=0.8, sequence_length=24)
    small = FinetuningSettings("a", "b", "c", epochs=10, batch_size=32, min_steps=600)
    # 1,350 rows are 43 steps an epoch: 14 epochs reach 600 steps, and the schedule spans them.
    assert compile_for_finetuning(classifier, classifier.encoder, plan, small, 1350) == (14, 14)
    assert classifier.optimizer._learning_rate.num_steps == 14 * 43
    large = FinetuningSettings("a", "b", "c", epochs=10, batch_size=32, min_steps=600)
    assert compile_for_finetuning(classifier, classifier.encoder, plan, large, 10000) == (10, 2)


FIXTURES = ROOT / "tests" / "fixtures" / "labelled"


def pretrain_on(task, tmp_path):
    """A few steps on a task's own texts: a run folder whose vocabulary covers them."""
    run_dir = tmp_path / f"run-{task}"
    result = run(
        "--corpus", FIXTURES / task / "train.jsonl", "--output", run_dir, "--steps", 4, *FAST,
        "--set", "data.vocabulary_size=1000",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def majority_share(path, field="label"):
    labels = [json.loads(line)[field] for line in open(path, encoding="utf-8")]
    return max(labels.count(label) for label in set(labels)) / len(labels)


@pytest.mark.slow
def test_the_finetune_script_learns_korean_help_topics_and_serves_what_it_scored(tmp_path):
    import base64

    task = FIXTURES / "libreoffice_ko"
    output = tmp_path / "topics"
    finetune = run(
        "--init-from", pretrain_on("libreoffice_ko", tmp_path), "--train", task / "train.jsonl",
        "--eval", task / "test.jsonl", "--output", output, "--batch-size", 16, "--min-steps", 0,
        script=ROOT / "scripts" / "finetune.py",
    )
    assert finetune.returncode == 0, finetune.stderr[-3000:]
    summary = json.loads((output / "metrics.json").read_text())
    assert summary["labels"] == ["sbasic", "smath"] and summary["learning_rate"] == 1e-3  # tiny's default
    best = summary["epochs"][summary["best_epoch"] - 1]
    assert best["accuracy"] == max(epoch["accuracy"] for epoch in summary["epochs"]) == summary["eval"]["accuracy"]
    assert summary["eval"]["accuracy"] > majority_share(task / "test.jsonl") + 0.04
    assert summary["eval"]["macro_f1"] > 0.7

    # Served through TF Serving's Classify API, the model scores what fine-tuning reported.
    rows = [json.loads(line) for line in open(task / "test.jsonl", encoding="utf-8")]
    examples = [
        base64.b64encode(tf.train.Example(features=tf.train.Features(feature={
            "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row["text"].encode()]))
        })).SerializeToString()).decode()
        for row in rows
    ]
    predicted = []
    for start in range(0, len(examples), 64):  # the export's default request limit
        answer = run_signature(summary["export"], tmp_path, "classify",
                               {"inputs": [{"b64": e} for e in examples[start : start + 64]]})
        predicted += [classes[i].decode() for classes, i in zip(answer["classes"], answer["scores"].argmax(-1))]
    assert np.mean([p == row["label"] for p, row in zip(predicted, rows)]) == pytest.approx(
        summary["eval"]["accuracy"], abs=1e-6
    )
    # scripts/predict.py gives the same labels from the folder and from the SavedModel.
    for model, name in ((output, "folder.jsonl"), (output / "export" / "classifier" / "1", "saved.jsonl")):
        result = run("--model", model, "--input", task / "test.jsonl", "--output", tmp_path / name,
                     script=ROOT / "scripts" / "predict.py")
        assert result.returncode == 0, result.stderr[-3000:]
    from_folder = [json.loads(line)["label"] for line in open(tmp_path / "folder.jsonl", encoding="utf-8")]
    from_saved = [json.loads(line)["label"] for line in open(tmp_path / "saved.jsonl", encoding="utf-8")]
    assert from_folder == from_saved == predicted

    (tmp_path / "other.jsonl").write_text(json.dumps({"text": "x", "label": "maybe"}) + "\n")
    refused = run("--init-from", output.parent / "run-libreoffice_ko", "--train", task / "train.jsonl",
                  "--eval", tmp_path / "other.jsonl", "--output", tmp_path / "x",
                  script=ROOT / "scripts" / "finetune.py")
    assert refused.returncode == 2 and "labels ['maybe'] do not occur" in refused.stderr


@pytest.mark.slow
def test_the_classifier_learns_chinese_help_topics(tmp_path):
    from electra_keras.finetuning.job import FinetuningSettings
    from electra_keras.finetuning.job import run_finetuning

    zh = FIXTURES / "libreoffice_zh"
    summary = run_finetuning(
        [pretrain_on("libreoffice_zh", tmp_path)],
        # 300 steps at least: from the majority plateau it leaves after about 100 (patience alone stopped at 75).
        FinetuningSettings(str(zh / "train.jsonl"), str(zh / "test.jsonl"), str(tmp_path / "zh"), batch_size=16,
                           min_steps=300),
        verbose=0,
    )
    labels = [json.loads(line)["label"] for line in open(zh / "test.jsonl", encoding="utf-8")]
    minority = min(labels.count(label) for label in set(labels))
    # Chinese tokenized through WordPiece's CJK split: the rarer class is found too.
    assert summary["eval"]["macro_f1"] > 0.55 and minority > 0


@pytest.mark.slow
def test_multi_label_and_regression_heads_learn_real_data(tmp_path):
    from electra_keras.finetuning.job import FinetuningSettings
    from electra_keras.finetuning.job import run_finetuning

    ko_run = pretrain_on("libreoffice_ko_modules", tmp_path)
    modules = FIXTURES / "libreoffice_ko_modules"
    multi = run_finetuning(
        [ko_run],
        FinetuningSettings(str(modules / "train.jsonl"), str(modules / "test.jsonl"), str(tmp_path / "modules"),
                           task="multi_label", batch_size=16, min_steps=0),
        verbose=0,
    )
    assert len(multi["eval"]["thresholds"]) == len(multi["labels"]) == 3
    # Better than naming the most frequent module for every paragraph.
    rows = [json.loads(line)["label"] for line in open(modules / "test.jsonl", encoding="utf-8")]
    common = max(multi["labels"], key=lambda label: sum(label in row for row in rows))
    hits = sum(common in row for row in rows)
    baseline_macro_f1 = 2 * hits / (len(rows) + hits) / len(multi["labels"])
    assert multi["eval"]["macro_f1"] > baseline_macro_f1 + 0.15

    hangul = FIXTURES / "libreoffice_ko_hangul"
    regression = run_finetuning(
        [ko_run],
        FinetuningSettings(str(hangul / "train.jsonl"), str(hangul / "test.jsonl"), str(tmp_path / "hangul"),
                           task="regression", batch_size=16, min_steps=0),
        verbose=0,
    )
    assert regression["eval"]["pearson"] > 0.5
