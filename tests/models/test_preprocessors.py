"""keras-hub-style preprocessors: raw strings to ELECTRA's inputs, in tf.data and through presets."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from conftest import CLS
from conftest import PAD
from conftest import SEP

from electra_keras import data
from electra_keras.models import ElectraPretrainingPreprocessor

TEXTS = ["The jury praised the city.", "서울은 한국의 수도입니다.", ""]


def preprocessor(length=16):
    return ElectraPretrainingPreprocessor.from_vocabulary(data.DEFAULT_VOCABULARY, sequence_length=length)


def test_strings_become_framed_padded_examples():
    layer = preprocessor()
    tokenizer = data.make_tokenizer(data.DEFAULT_VOCABULARY)
    out = {k: keras.ops.convert_to_numpy(v) for k, v in layer(TEXTS).items()}
    assert out["token_ids"].shape == (3, 16) and out["token_ids"].dtype == np.int32
    for row, text in enumerate(TEXTS):
        expected = [CLS, *keras.ops.convert_to_numpy(tokenizer([text])[0]).tolist(), SEP]
        assert out["token_ids"][row, : len(expected)].tolist() == expected
        assert out["padding_mask"][row].sum() == len(expected)
        assert (out["token_ids"][row, len(expected):] == PAD).all()
    assert (out["segment_ids"] == 0).all()
    assert layer.special_token_ids == [0, 2, 3, 4] and layer.mask_token_id == 4


def test_pairs_get_two_segments_and_long_texts_are_trimmed():
    layer = preprocessor(length=10)
    out = layer((tf.constant(["one two three four five six seven"]), tf.constant(["eight nine"])), y=None)
    token_ids = keras.ops.convert_to_numpy(out["token_ids"])[0]
    segments = keras.ops.convert_to_numpy(out["segment_ids"])[0]
    assert (token_ids == SEP).sum() == 2 and token_ids[-1] == SEP
    assert segments.tolist() == [0] * (int(np.argmax(token_ids == SEP)) + 1) + [1] * (10 - int(np.argmax(token_ids == SEP)) - 1)


def test_it_maps_over_tf_data_and_round_trips_through_a_preset(tmp_path):
    layer = preprocessor()
    dataset = tf.data.Dataset.from_tensor_slices(TEXTS).batch(2).map(layer)
    first = next(iter(dataset))
    assert first["token_ids"].shape == (2, 16)  # static length: the pretrainer needs it
    config = layer.get_config()
    # BERT's tokenization in a keras-hub ElectraTokenizer subclass, serialised under our package.
    assert config["sequence_length"] == 16 and config["tokenizer"]["class_name"] == "BertWordPieceTokenizer"
    assert isinstance(layer.tokenizer, keras_hub.models.ElectraTokenizer)
    # A preset folder always holds a backbone; keras-hub reads its class first.
    keras_hub.models.ElectraBackbone(
        vocab_size=layer.tokenizer.vocabulary_size(), num_layers=1, num_heads=1, hidden_dim=8,
        embedding_dim=8, intermediate_dim=8, max_sequence_length=16,
    ).save_to_preset(str(tmp_path))
    layer.save_to_preset(str(tmp_path))
    again = ElectraPretrainingPreprocessor.from_preset(str(tmp_path))
    assert again.sequence_length == 16
    np.testing.assert_array_equal(again(TEXTS)["token_ids"], layer(TEXTS)["token_ids"])
    assert type(again.tokenizer) is type(layer.tokenizer)
    # keras-hub's own loader gives back our tokenizer, settings included.
    tokenizer = keras_hub.models.ElectraTokenizer.from_preset(str(tmp_path))
    assert type(tokenizer) is type(layer.tokenizer) and tokenizer.get_config() == layer.tokenizer.get_config()


def test_a_vocabulary_is_learned_from_corpus_files(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\n\nthe dog sat on the log\n" * 20, encoding="utf-8")
    layer = ElectraPretrainingPreprocessor.from_corpus([corpus], vocabulary_size=60, sequence_length=8)
    vocabulary = layer.tokenizer.get_vocabulary()
    assert vocabulary[:5] == list(data.SPECIAL_TOKENS) and "cat" in vocabulary
    ids = keras.ops.convert_to_numpy(layer(["the cat sat"])["token_ids"])[0]
    assert [vocabulary[i] for i in ids[:5]] == ["[CLS]", "the", "cat", "sat", "[SEP]"]
