"""Our tokenizer against transformers' `BertTokenizer`, id for id, on folders transformers wrote.

Four settings (the published checkpoints' styles) x two folder layouts
(`vocab.txt` + `tokenizer_config.json`, and transformers 5's
`tokenizer.json`), each read the way `--init-from` reads it, then tokenized
by every in-process path: the keras-hub tokenizer called eagerly, the
fine-tuning preprocessor inside `tf.data`, and `OffsetTokenizer` (tagging,
QA). The SavedModel path is in `tests/export/test_bert_parity_serving.py`.
"""

import numpy as np
import pytest
import tensorflow as tf
from bert_parity import PARITY_STRINGS
from bert_parity import STYLES
from bert_parity import reference_ids
from bert_parity import reference_tokenizer
from bert_parity import save_folder

from electra_keras.data.offsets import OffsetTokenizer
from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.interop.tokenizer_files import TokenizerFileError
from electra_keras.interop.tokenizer_files import read_huggingface_tokenizer
from electra_keras.models.preprocessors import ElectraTextClassifierPreprocessor

FOLDERS = [(style, layout) for style in STYLES for layout in ("vocab_txt", "tokenizer_json")]


@pytest.fixture(scope="module", params=FOLDERS, ids=[f"{s}-{layout}" for s, layout in FOLDERS])
def folder(request, tmp_path_factory):
    style, layout = request.param
    path = save_folder(style, tmp_path_factory.mktemp(f"{style}-{layout}") / "model", layout)
    vocabulary, settings = read_huggingface_tokenizer(path)
    return path, vocabulary, settings, reference_ids(path, PARITY_STRINGS)


def _mismatches(texts, expected, got):
    return [(text, want, have) for text, want, have in zip(texts, expected, got) if list(want) != list(have)]


def test_settings_are_read_as_transformers_reads_them(folder):
    path, vocabulary, settings, _ = folder
    reference = reference_tokenizer(path)
    assert vocabulary == [token for token, _ in sorted(reference.get_vocab().items(), key=lambda item: item[1])]
    assert settings.lowercase == reference.do_lower_case
    assert settings.strip_accents == (reference.do_lower_case if reference.strip_accents is None
                                      else reference.strip_accents)


def test_eager_keras_hub_tokenizer_gives_transformers_ids(folder):
    _, vocabulary, settings, expected = folder
    tokenizer = make_tokenizer(vocabulary, **settings.tokenizer_kwargs())
    got = [list(np.asarray(ids)) for ids in tokenizer(PARITY_STRINGS)]
    assert _mismatches(PARITY_STRINGS, expected, got) == []
    # One string at a time too (the scalar path).
    assert [list(np.asarray(tokenizer(text))) for text in PARITY_STRINGS[:12]] == expected[:12]


def test_preprocessor_inside_tf_data_gives_transformers_ids(folder):
    _, vocabulary, settings, expected = folder
    tokenizer = make_tokenizer(vocabulary, **settings.tokenizer_kwargs())
    preprocessor = ElectraTextClassifierPreprocessor(tokenizer, sequence_length=256)
    dataset = tf.data.Dataset.from_tensor_slices(PARITY_STRINGS).batch(16).map(preprocessor)
    token_ids = np.concatenate([batch["token_ids"].numpy() for batch in dataset])
    got = []
    for row in token_ids:
        real = row[row != tokenizer.pad_token_id].tolist()
        assert real[0] == tokenizer.cls_token_id and real[-1] == tokenizer.sep_token_id
        got.append(real[1:-1])
    assert _mismatches(PARITY_STRINGS, expected, got) == []


def test_offset_tokenizer_gives_transformers_ids_and_offsets_into_the_original_text(folder):
    path, vocabulary, settings, expected = folder
    tokenizer = OffsetTokenizer(vocabulary, **settings.tokenizer_kwargs())
    ids, starts, ends = tokenizer(tf.constant(PARITY_STRINGS))
    assert _mismatches(PARITY_STRINGS, expected, ids.to_list()) == []
    # Every piece's span is inside its text, in order, and on character boundaries;
    # transformers' own offsets (characters of the original text) agree on where each word starts.
    reference = reference_tokenizer(path)
    for text, row_starts, row_ends in zip(PARITY_STRINGS, starts.to_list(), ends.to_list()):
        encoded = text.encode("utf-8")
        assert all(0 <= s < e <= len(encoded) for s, e in zip(row_starts, row_ends))
        assert row_starts == sorted(row_starts)
        pieces = [encoded[s:e].decode("utf-8") for s, e in zip(row_starts, row_ends)]  # raises inside a character
        offsets = reference(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        char_starts = [len(encoded[:s].decode("utf-8")) for s in row_starts]
        assert char_starts == [start for start, _ in offsets], (text, pieces)


def test_nul_is_removed_not_cut_at_on_every_path(folder):
    _, vocabulary, settings, _ = folder
    texts = ["before\x00after the NUL", "before after the NUL"]
    eager = make_tokenizer(vocabulary, **settings.tokenizer_kwargs())(texts)
    graph = tf.function(make_tokenizer(vocabulary, **settings.tokenizer_kwargs()))(tf.constant(texts))
    offsets, _, _ = OffsetTokenizer(vocabulary, **settings.tokenizer_kwargs())(tf.constant(texts))
    for ids in (list(eager[0]), graph[0].numpy().tolist(), offsets[0].numpy().tolist()):
        # "beforeafter" is one word; the words after the NUL are all there.
        assert len(ids) > 3 and list(ids[-3:]) == list(np.asarray(eager[1])[-3:])


def test_exported_huggingface_tokenizer_files_round_trip_through_transformers(folder, tmp_path):
    from electra_keras.interop.tokenizer_files import write_huggingface_tokenizer

    _, vocabulary, settings, expected = folder
    write_huggingface_tokenizer(tmp_path, vocabulary, settings)
    assert reference_ids(tmp_path, PARITY_STRINGS) == expected
    assert read_huggingface_tokenizer(tmp_path) == (vocabulary, settings)


def test_contradictory_or_unknown_settings_name_the_file_and_key(tmp_path):
    import json

    folder = save_folder("korean_cased", tmp_path / "model", "tokenizer_json")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=r"tokenizer.json says lowercase=False but .*tokenizer_config.json"):
        read_huggingface_tokenizer(folder)
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": "no"}), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=r"tokenizer_config.json: do_lower_case must be bool"):
        read_huggingface_tokenizer(folder)
    (folder / "tokenizer_config.json").unlink()
    tokenizer_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer_json["normalizer"] = {"type": "NFKC"}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=r"tokenizer.json: normalizer.type is 'NFKC'"):
        read_huggingface_tokenizer(folder)
