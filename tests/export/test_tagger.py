"""The `tag` signature: entity spans read from first-subword tags as conlleval reads them."""

import json
import random

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import graph_mode
from conftest import run_signature

from electra_keras.export.tagger import TaggerServingModule
from electra_keras.export.tagger import export_tagger
from electra_keras.tasks.formats.tagging import entity_spans

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TAGS = ["B-LOC", "I-LOC", "B-PER", "I-PER", "E-PER", "S-ORG", "O"]
# Each word's first subword decides its tag; "Black ##burn" and "서울 ##시" are two subwords.
WORD_TAGS = {"Seoul": "B-LOC", "Busan": "I-LOC", "Kim": "B-PER", "Lee": "I-PER", "Park": "E-PER",
             "UN": "S-ORG", "went": "O", "to": "O", "서울": "B-LOC", "北": "I-LOC", "Black": "B-PER"}
VOCABULARY = SPECIAL + list(WORD_TAGS) + ["##burn", "##시", "京", "."]
SUBWORD_TAGS = {"##burn": "O", "##시": "O", "京": "S-ORG", ".": "O"}  # never a word's first piece below
WORDS = ["Seoul", "Busan", "Kim", "Lee", "Park", "UN", "went", "to", "서울", "北京", "Blackburn", "서울시"]


def token_tagger():
    """A 'model' whose logits pick each token's fixed tag: the signature's decoding is all that is tested."""
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
              for name in ("token_ids", "segment_ids", "padding_mask")}
    table = np.zeros((len(VOCABULARY), len(TAGS)), dtype="float32")
    for token, tag in {**WORD_TAGS, **SUBWORD_TAGS}.items():
        table[VOCABULARY.index(token), TAGS.index(tag)] = 10.0
    table[:5, TAGS.index("O")] = 10.0
    logits = keras.layers.Embedding(len(VOCABULARY), len(TAGS), weights=[table], name="head_logits")(
        inputs["token_ids"])
    # Keras before 3.13 refuses inputs the outputs do not use: connect them with a zero.
    unused = keras.ops.cast(inputs["segment_ids"] + inputs["padding_mask"], "float32")
    return keras.Model(inputs, logits + 0.0 * keras.ops.expand_dims(unused, -1))


def first_piece(word):
    return {"北京": "北", "Blackburn": "Black", "서울시": "서울"}.get(word, word)


def expected_entities(text):
    words = text.split()
    starts = [text.index(words[0])] if words else []
    for word in words[1:]:
        starts.append(text.index(word, starts[-1] + len(words[len(starts) - 1])))
    tags = [WORD_TAGS[first_piece(word)] for word in words]
    return [(kind, starts[first], starts[last - 1] + len(words[last - 1])) for kind, first, last in entity_spans(tags)]


@pytest.fixture(scope="module")
def module32():
    # The tests send 204 texts in one request: more than the default 64.
    return TaggerServingModule(token_tagger(), VOCABULARY, 32, TAGS, request_limits={"max_texts": 256})


def test_entities_follow_conlleval_chunks_with_character_offsets_in_every_script(module32):
    module = module32
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))) for _ in range(200)]
    texts += ["", "  Kim   Lee\tPark  ", "went to", "서울시 北京 went Blackburn Lee"]
    answer = {k: v.numpy() for k, v in module.tag(tf.constant(texts)).items()}
    for row, text in enumerate(texts):
        found = [(answer["entity_labels"][row, i].decode(), int(answer["entity_starts"][row, i]),
                  int(answer["entity_ends"][row, i])) for i in range(answer["num_entities"][row])]
        assert found == expected_entities(text), text
        for i, (_, start, end) in enumerate(found):
            assert answer["entity_texts"][row, i].decode() == text[start:end]
            assert answer["entity_scores"][row, i] > 0.99
        padding = slice(answer["num_entities"][row], None)
        assert (answer["entity_starts"][row, padding] == -1).all()
        assert all(label == b"" for label in answer["entity_labels"][row, padding])
    # Tabs and runs of spaces separate words too; the entity keeps the text between its words.
    assert expected_entities("  Kim   Lee\tPark  ") == [("PER", 2, 16)]
    assert answer["num_entities"][-4:].tolist() == [0, 1, 0, 2]


def test_words_past_the_model_length_get_no_entity_and_bad_utf8_is_replaced():
    module = TaggerServingModule(token_tagger(), VOCABULARY, 6, TAGS)
    # 4 subwords fit: Kim Lee went UN | UN (cut)
    answer = module.tag(tf.constant(["Kim Lee went UN UN", b"Kim \xff Seoul"]))
    assert answer["num_entities"].numpy().tolist() == [2, 2]
    assert [t.decode() for t in answer["entity_texts"].numpy()[0]] == ["Kim Lee", "UN"]
    assert answer["entity_texts"].numpy()[1, 1].decode() == "Seoul"


def test_labels_that_do_not_fit_the_tagger_are_refused():
    with pytest.raises(ValueError, match="3 labels given for a tagger of 7 outputs"):
        TaggerServingModule(token_tagger(), VOCABULARY, 16, TAGS[:3])
    with pytest.raises(ValueError, match=r"tags \['PER-B'\] are not O or B-"):
        TaggerServingModule(token_tagger(), VOCABULARY, 16, TAGS[:-1] + ["PER-B"])


def test_unicode_spaces_separate_words_as_python_splits_them(module32):
    module = module32
    text = "Kim\u3000Seoul\u00a0went"
    answer = module.tag(tf.constant([text]))
    found = [(label.decode(), int(s), int(e)) for label, s, e in
             zip(answer["entity_labels"][0].numpy(), answer["entity_starts"][0], answer["entity_ends"][0])]
    assert found == expected_entities(" ".join(text.split())) == [("PER", 0, 3), ("LOC", 4, 9)]


@pytest.mark.slow
def test_the_exported_tag_signature_serves_in_graph_mode(tmp_path):
    export_dir = export_tagger(token_tagger(), tmp_path / "ner" / "1", VOCABULARY, 32, TAGS,
                               warmup_texts=["Kim went to Seoul"])
    signatures = json.loads(graph_mode("describe", export_dir).stdout)
    assert set(signatures) == {"tag", "serving_default"}
    assert signatures["tag"]["outputs"]["entity_starts"] == {"dtype": "int32", "shape": [-1, -1]}
    ops = json.loads(graph_mode("ops", export_dir).stdout)
    assert ops["unknown"] == [] and set(ops["tensorflow_text_ops"]) <= {
        "FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"}
    texts = ["서울시 北京 went Blackburn Lee", "went to"]
    answer = run_signature(export_dir, tmp_path, "tag", {"text": texts})
    assert answer["num_entities"].tolist() == [2, 0]
    found = [(label.decode(), int(s), int(e)) for label, s, e in
             zip(answer["entity_labels"][0], answer["entity_starts"][0], answer["entity_ends"][0])]
    assert found == expected_entities(texts[0])
    assert (export_dir / "assets.extra" / "tf_serving_warmup_requests").is_file()
