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
from electra_keras.pretrainer import ElectraPretrainer


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
    classifier.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
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
