"""The served path against transformers: a Hugging Face ELECTRA folder written by transformers,
exported with `export_pretrained` and loaded as TF Serving loads it, gives `BertTokenizer`'s ids;
its Hugging Face export round-trips through transformers; served offsets slice the sent text."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from bert_parity import PARITY_STRINGS
from bert_parity import STYLES
from bert_parity import reference_ids
from bert_parity import save_folder
from conftest import run_signature

from electra_keras.export.job import export_pretrained
from electra_keras.export.tagger import export_tagger

pytestmark = pytest.mark.slow


def huggingface_discriminator(style, folder):
    """A tiny `ElectraForPreTraining` and the style's tokenizer files, all saved by transformers."""
    import transformers

    save_folder(style, folder)
    vocabulary_size = len(transformers.BertTokenizer.from_pretrained(str(folder)).get_vocab())
    config = transformers.ElectraConfig(
        vocab_size=vocabulary_size, embedding_size=16, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=256,
    )
    transformers.ElectraForPreTraining(config).save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("style", list(STYLES))
def test_served_discriminator_gives_transformers_ids_and_its_huggingface_export_round_trips(style, tmp_path):
    folder = huggingface_discriminator(style, tmp_path / "model")
    expected = reference_ids(folder, PARITY_STRINGS)
    # All the parity strings in one request: more than the default 64 texts.
    export_dir = export_pretrained([folder], tmp_path / "serving", sequence_length=256,
                                   request_limits={"max_texts": len(PARITY_STRINGS)})
    answer = run_signature(export_dir, tmp_path, "serving_default", {"text": PARITY_STRINGS})
    served = [row[mask > 0].tolist()[1:-1] for row, mask in zip(answer["token_ids"], answer["padding_mask"])]
    mismatches = [(text, want, got) for text, want, got in zip(PARITY_STRINGS, expected, served) if want != got]
    assert mismatches == []
    # A NUL is dropped, not cut at: the words after it are served.
    nul = PARITY_STRINGS.index("before\x00after the NUL")
    assert len(served[nul]) == len(expected[nul]) > 3

    exported = export_pretrained([folder], tmp_path / "huggingface", format="huggingface")
    assert reference_ids(exported / "discriminator", PARITY_STRINGS) == expected
    # As a user loads it: AutoTokenizer picks BertTokenizer from our tokenizer_config.json.
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(exported / "discriminator"), split_special_tokens=True)
    assert [auto(text, add_special_tokens=False)["input_ids"] for text in PARITY_STRINGS] == expected
    config = json.loads((exported / "discriminator" / "tokenizer_config.json").read_text(encoding="utf-8"))
    lowercase, strip_accents = STYLES[style]
    assert config["do_lower_case"] == lowercase
    assert config["strip_accents"] == (lowercase if strip_accents is None else strip_accents)


def test_served_tags_slice_the_sent_text_when_normalisation_drops_and_rewrites_characters(tmp_path):
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "beyonce", "sang", "in", "seoul", "##ite", "ｓｅｏｕｌ"]
    tags = ["B-PER", "B-LOC", "O"]
    word_tags = {"beyonce": "B-PER", "seoul": "B-LOC", "ｓｅｏｕｌ": "B-LOC"}
    table = np.zeros((len(vocabulary), len(tags)), dtype="float32")
    for index, token in enumerate(vocabulary):
        table[index, tags.index(word_tags.get(token, "O"))] = 10.0
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
              for name in ("token_ids", "segment_ids", "padding_mask")}
    tagger = keras.Model(inputs, keras.layers.Embedding(len(vocabulary), len(tags), weights=[table],
                                                        name="head_logits")(inputs["token_ids"]))
    export_dir = export_tagger(tagger, tmp_path / "tagger" / "1", vocabulary, 32, tags, lowercase=True)
    texts = ["BEYONCÉ\x00 sang in\u200b Seoulite", "beyonce sang in ＳＥＯＵＬ", "\u00a0Beyonce\u0301\u3000sang"]
    answer = run_signature(export_dir, tmp_path, "tag", {"text": texts})
    found = []
    for row, text in enumerate(texts):
        spans = [(label.decode(), int(start), int(end)) for label, start, end in
                 zip(answer["entity_labels"][row], answer["entity_starts"][row], answer["entity_ends"][row])
                 if label]
        found.append([(label, text[start:end]) for label, start, end in spans])
    assert found == [
        [("PER", "BEYONCÉ"), ("LOC", "Seoulite")],
        [("PER", "beyonce"), ("LOC", "ＳＥＯＵＬ")],
        [("PER", "Beyonce\u0301")],
    ]
    assert tf.io.gfile.exists(str(export_dir / "saved_model.pb"))
