import tensorflow as tf

from electra_keras import data
from electra_keras.data.offsets import OffsetTokenizer
from electra_keras.data.offsets import byte_to_char_offsets
from electra_keras.data.tokenizer import build_vocabulary
from electra_keras.data.tokenizer import make_tokenizer

TEXTS = [
    "대화 상자에 추가하는 콘트롤의 속성을 설정할 수 있습니다.",
    "The Fulton County Grand Jury said Friday, an investigation.",
    "在对话框中设置控件的属性。",
    "Mixed: 서울(Seoul) is 10km away!",
]


def _pieces(text, starts, ends):
    encoded = text.encode("utf-8")
    return [encoded[start:end].decode("utf-8") for start, end in zip(starts, ends)]


def test_ids_equal_keras_hub_and_offsets_cover_the_token_text():
    vocabulary = build_vocabulary(TEXTS * 30, 300)
    ids, starts, ends = OffsetTokenizer(vocabulary)(tf.constant(TEXTS))
    reference = make_tokenizer(vocabulary)(TEXTS)
    for row, text in enumerate(TEXTS):
        assert ids[row].numpy().tolist() == list(reference[row])
        pieces = _pieces(text, starts[row].numpy(), ends[row].numpy())
        tokens = [vocabulary[i] for i in ids[row].numpy()]
        for piece, token in zip(pieces, tokens):
            if token != "[UNK]":
                assert piece == token.removeprefix("##")


def test_case_folding_keeps_ids_and_word_offsets():
    vocabulary = build_vocabulary([t.lower() for t in TEXTS] * 30, 300)
    tokenizer = OffsetTokenizer(vocabulary, lowercase=True, strip_accents=True)
    texts = ["The CAFÉ on Grand Street", "Jury said Friday"]
    ids, starts, ends = tokenizer(tf.constant(texts))
    reference = make_tokenizer(vocabulary, lowercase=True, strip_accents=True)(texts)
    assert ids[1].numpy().tolist() == list(reference[1])
    assert ids[0].numpy().tolist() == list(reference[0])
    # Every token's span lies inside the original word it came from.
    assert _pieces(texts[1], starts[1].numpy(), ends[1].numpy())[0].lower().startswith("j")


def test_bundled_vocabulary_offsets_run_inside_a_graph():
    tokenizer = OffsetTokenizer(data.DEFAULT_VOCABULARY)
    graph_call = tf.function(tokenizer.__call__, input_signature=[tf.TensorSpec([None], tf.string)])
    ids, starts, ends = graph_call(tf.constant(TEXTS[:1]))
    assert ids.shape[0] == 1 and starts.shape == ends.shape
    pieces = _pieces(TEXTS[0], starts[0].numpy(), ends[0].numpy())
    assert "".join(pieces) == TEXTS[0].replace(" ", "")


def test_byte_to_char_offsets_maps_multibyte_characters():
    mapping = byte_to_char_offsets("a서울")
    assert mapping[0] == 0 and mapping[1] == 1 and mapping[4] == 2 and mapping[-1] == 3


def test_pieces_of_a_word_that_normalisation_resizes_slice_the_original_characters():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "beyon", "##ce", "caf", "##e", "istanbul", "20",
                  "##18", "sang", "##s", "２０", "##１８"]
    tokenizer = OffsetTokenizer(vocabulary, lowercase=True, strip_accents=True)
    text = "Beyoncé CAF\u200bÉ İstanbul ２０１８ SANGs"
    ids, starts, ends = tokenizer(tf.constant([text, ""]))
    # BERT keeps full-width digits full-width (no NFKC); the zero-width space is dropped, not a split.
    assert ids.to_list() == [[5, 6, 7, 8, 9, 14, 15, 12, 13], []]
    # Each piece slices the original characters its normalised text came from.
    assert _pieces(text, starts[0].numpy(), ends[0].numpy()) == [
        "Beyon", "cé", "CAF", "É", "İstanbul", "２０", "１８", "SANG", "s"]


def test_nul_and_control_characters_are_dropped_not_cut_at():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "before", "##after", "the", "end"]
    text = "before\x00after \x0bthe\u200b end"
    ids, starts, ends = OffsetTokenizer(vocabulary)(tf.constant([text]))
    assert [vocabulary[i] for i in ids[0].numpy()] == ["before", "##after", "the", "end"]
    assert _pieces(text, starts[0].numpy(), ends[0].numpy()) == ["before", "after", "the", "end"]
