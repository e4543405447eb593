"""Classifier heads on the discriminator, and layer-wise learning-rate decay."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import MASK
from conftest import TINY_MODEL
from conftest import make_batch

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

import json  # noqa: E402

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


@pytest.mark.slow
def test_finetune_script_learns_a_labelled_task_from_a_run(small_corpus, tmp_path):
    import base64
    import subprocess
    import sys

    from conftest import FAST
    from conftest import ROOT
    from conftest import run

    pretrained = tmp_path / "run"
    result = run("--corpus", small_corpus[0], "--output", pretrained, "--steps", 4, *FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(small_corpus[0], "rb") as file:
        lines = [l for l in file.read().decode("utf-8", "replace").splitlines() if len(l.split()) > 6][:260]
    rng = np.random.default_rng(0)
    rows = []
    for line in lines:
        label = int(rng.integers(0, 2))
        text = " ".join(line.split()[:12]) + (" Atlanta jury" if label else "")
        rows.append({"text": text, "label": "yes" if label else "no"})
    for name, part in (("train.jsonl", rows[:200]), ("dev.jsonl", rows[200:])):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in part))
    finetune = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "finetune.py"), "--run", str(pretrained),
         "--train", str(tmp_path / "train.jsonl"), "--eval", str(tmp_path / "dev.jsonl"),
         "--output", str(tmp_path / "sentiment"), "--epochs", "8", "--batch-size", "16",
         "--learning-rate", "2e-3"],
        capture_output=True, text=True, timeout=600,
    )
    assert finetune.returncode == 0, finetune.stderr[-3000:]
    summary = json.loads((tmp_path / "sentiment" / "metrics.json").read_text())
    assert summary["labels"] == ["no", "yes"] and summary["eval_rows"] == 60
    assert summary["eval"]["accuracy"] > 0.8 and summary["eval"]["f1"] > 0.8
    assert (tmp_path / "sentiment" / "classifier.weights.h5").exists()

    # The exported model, loaded as TF Serving loads it, classifies the held-out
    # rows through the Classify API exactly as the fine-tuned Keras model did.
    from conftest import run_signature

    examples = [
        base64.b64encode(tf.train.Example(features=tf.train.Features(feature={
            "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row["text"].encode()]))
        })).SerializeToString()).decode()
        for row in rows[200:]
    ]
    answer = run_signature(summary["export"], tmp_path, "classify", {"inputs": [{"b64": e} for e in examples]})
    predicted = [classes[i].decode() for classes, i in zip(answer["classes"], answer["scores"].argmax(-1))]
    served_accuracy = np.mean([p == row["label"] for p, row in zip(predicted, rows[200:])])
    assert served_accuracy == pytest.approx(summary["eval"]["accuracy"], abs=1e-6)

    (tmp_path / "other.jsonl").write_text(json.dumps({"text": "x", "label": "maybe"}) + "\n")
    refused = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "finetune.py"), "--run", str(pretrained),
         "--train", str(tmp_path / "train.jsonl"), "--eval", str(tmp_path / "other.jsonl"),
         "--output", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=600,
    )
    assert refused.returncode == 2 and "labels ['maybe'] do not occur" in refused.stderr
