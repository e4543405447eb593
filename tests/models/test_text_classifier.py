"""ElectraTextClassifier: a keras-hub TextClassifier that fits and predicts on raw strings."""

import keras
import keras_hub
import numpy as np
import pytest

import electra_keras
from electra_keras import data
from electra_keras.models import ElectraEncoder
from electra_keras.models import ElectraTextClassifier
from electra_keras.models import ElectraTextClassifierPreprocessor

WORDS = ["film", "plot", "actor", "scene", "music", "story"]


def texts_and_labels(count, seed=0):
    """The label is which of two words a text holds, among four others."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    texts = [" ".join([*rng.choice(WORDS, 4), ["wonderful", "dreadful"][label]]) for label in labels]
    return texts, labels


def keras_hub_backbone():
    return keras_hub.models.ElectraBackbone(
        vocab_size=len(data.load_vocabulary(data.DEFAULT_VOCABULARY)), num_layers=2, num_heads=2, hidden_dim=32,
        embedding_dim=16, intermediate_dim=64, max_sequence_length=64,
    )


def classifier_preprocessor():
    tokenizer = keras_hub.models.ElectraTokenizer(vocabulary=str(data.DEFAULT_VOCABULARY))
    return ElectraTextClassifierPreprocessor(tokenizer, sequence_length=16)


@pytest.mark.slow  # trains until it classifies
def test_fits_and_predicts_raw_strings():
    keras.utils.set_random_seed(0)
    classifier = ElectraTextClassifier(keras_hub_backbone(), 2, preprocessor=classifier_preprocessor())
    classifier.compile(optimizer=keras.optimizers.Adam(3e-3))
    texts, labels = texts_and_labels(96)
    history = classifier.fit(texts, labels, batch_size=16, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    test_texts, test_labels = texts_and_labels(32, seed=1)
    accuracy = np.mean(classifier.predict(test_texts, verbose=0).argmax(-1) == test_labels)
    assert accuracy > 0.8


def test_a_preset_round_trips_through_keras_hub(tmp_path):
    classifier = ElectraTextClassifier(keras_hub_backbone(), 3, preprocessor=classifier_preprocessor())
    classifier.save_to_preset(str(tmp_path))
    texts = ["a wonderful film", "서울은 한국의 수도입니다."]
    reloaded = ElectraTextClassifier.from_preset(str(tmp_path))
    np.testing.assert_allclose(reloaded.predict(texts, verbose=0), classifier.predict(texts, verbose=0), atol=1e-6)
    through_keras_hub = keras_hub.models.TextClassifier.from_preset(str(tmp_path))
    assert isinstance(through_keras_hub, ElectraTextClassifier)
    backbone = keras_hub.models.ElectraBackbone.from_preset(str(tmp_path))
    inputs = classifier.preprocessor(texts)
    np.testing.assert_allclose(
        backbone(inputs)["sequence_output"], classifier.backbone(inputs)["sequence_output"], atol=1e-6
    )
    # A new head on the same backbone: keras-hub's from_preset(num_classes=...).
    fresh = ElectraTextClassifier.from_preset(str(tmp_path), num_classes=5)
    assert fresh.predict(texts, verbose=0).shape == (2, 5)


def test_an_exact_gelu_encoder_works_as_backbone_and_saves(tmp_path):
    vocabulary_size = len(data.load_vocabulary(data.DEFAULT_VOCABULARY))
    encoder = ElectraEncoder(
        vocabulary_size=vocabulary_size, embedding_dim=16, hidden_dim=32, num_layers=1, num_heads=2,
        intermediate_dim=64, activation="gelu", max_sequence_length=32,
    )
    classifier = ElectraTextClassifier(encoder, 1, preprocessor=classifier_preprocessor(), head_activation="gelu")
    assert isinstance(classifier.loss, keras.losses.MeanSquaredError)  # one output: regression
    classifier.save_to_preset(str(tmp_path))
    reloaded = ElectraTextClassifier.from_preset(str(tmp_path))
    assert reloaded.backbone.activation == "gelu"
    np.testing.assert_allclose(
        reloaded.predict(["a film"], verbose=0), classifier.predict(["a film"], verbose=0), atol=1e-6
    )


def test_a_long_default_length_is_capped_to_the_position_table():
    tokenizer = keras_hub.models.ElectraTokenizer(vocabulary=str(data.DEFAULT_VOCABULARY))
    classifier = ElectraTextClassifier(keras_hub_backbone(), 2, preprocessor=ElectraTextClassifierPreprocessor(tokenizer))
    assert classifier.preprocessor.sequence_length == 64
    assert electra_keras.ElectraTextClassifier is ElectraTextClassifier


@pytest.mark.parametrize("head", ["gelu_approximate", "gelu"])
def test_the_head_reads_the_first_token_not_the_pooler(head):
    classifier = ElectraTextClassifier(keras_hub_backbone(), 2, head_activation=head)
    trainable = {v.path for v in classifier.trainable_variables}
    assert not any("pooled_dense" in path for path in trainable)
    assert {"head_dense/kernel", "head_logits/kernel"} <= trainable


class LabelRecorder:
    """The labels of every training batch, in the order `fit` fed them (needs `run_eagerly`)."""

    def __init__(self, model):
        self.batches = []
        original = model.train_step

        def recording_step(data):
            self.batches.append(keras.ops.convert_to_numpy(data[1]).tolist())
            return original(data)

        model.train_step = recording_step


def epoch_orders(shuffle, **fit_kwargs):
    keras.utils.set_random_seed(0)
    classifier = ElectraTextClassifier(keras_hub_backbone(), 2, preprocessor=classifier_preprocessor())
    classifier.compile(optimizer=keras.optimizers.SGD(0.0), run_eagerly=True)
    # A file sorted by label: without shuffling, every batch holds one class.
    texts, labels = texts_and_labels(24)
    order = np.argsort(labels, kind="stable")
    recorder = LabelRecorder(classifier)
    classifier.fit([texts[i] for i in order], labels[order], batch_size=8, epochs=2, shuffle=shuffle, verbose=0,
                   **fit_kwargs)
    per_epoch = len(recorder.batches) // 2
    epochs = [[label for batch in recorder.batches[e * per_epoch:(e + 1) * per_epoch] for label in batch] for e in range(2)]
    return epochs, labels[order].tolist()


def test_fit_shuffles_in_memory_rows_every_epoch_as_keras_does():
    (first, second), sorted_labels = epoch_orders(shuffle=True)
    assert sorted(first) == sorted(second) == sorted(sorted_labels)
    assert first != sorted_labels and first != second
    (first, second), sorted_labels = epoch_orders(shuffle=False)
    assert first == second == sorted_labels


def test_validation_split_holds_out_the_last_rows_before_shuffling():
    (first, _), sorted_labels = epoch_orders(shuffle=True, validation_split=0.25)
    # The last quarter of the label-sorted rows (all label 1) is held out.
    assert len(first) == 18 and sorted(first) == sorted(sorted_labels[:18])
