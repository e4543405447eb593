import unicodedata

import pytest

from electra_keras import data
from electra_keras.data.tokenizer import SPECIAL_TOKENS
from electra_keras.data.tokenizer import VocabularyError
from electra_keras.data.tokenizer import build_vocabulary
from electra_keras.data.tokenizer import load_vocabulary
from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.data.tokenizer import never_masked_ids
from electra_keras.data.tokenizer import save_vocabulary

KOREAN = ["대화 상자에 추가하는 콘트롤의 속성을 설정할 수 있습니다.", "한국어 텍스트를 그대로 유지합니다."]
ENGLISH = ["The Fulton County Grand Jury said Friday.", "Café owners were not accented away."]


def test_built_vocabulary_has_specials_first_and_is_reproducible():
    lines = (KOREAN + ENGLISH) * 20
    first = build_vocabulary(lines, 300)
    second = build_vocabulary(lines, 300)
    assert first == second
    assert tuple(first[:5]) == SPECIAL_TOKENS
    # Hangul syllables stay composed: no jamo-decomposed entries.
    assert "대화" in first or "##화" in first
    assert all(unicodedata.normalize("NFC", token) == token for token in first)


def test_korean_and_accents_round_trip_through_tokenizer():
    vocabulary = build_vocabulary((KOREAN + ENGLISH) * 20, 400)
    tokenizer = make_tokenizer(vocabulary)
    for sentence in KOREAN:
        ids = tokenizer([sentence])  # eager: lists of ids
        assert tokenizer.token_to_id("[UNK]") not in ids[0]
        text = tokenizer.detokenize(ids)[0]
        assert text.replace(" ", "") == sentence.replace(" ", "")
    assert "Café" in tokenizer.detokenize(tokenizer([ENGLISH[1]]))[0]


def test_bundled_vocabulary_covers_the_bundled_korean_text():
    tokenizer = make_tokenizer(data.DEFAULT_VOCABULARY)
    ids = tokenizer([KOREAN[0]])[0]
    assert ids.count(tokenizer.token_to_id("[UNK]")) / len(ids) < 0.05


def test_google_style_vocabulary_ids_are_found_by_name(tmp_path):
    # Google's vocab.txt: [PAD] 0, [unused*], [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103.
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello"]
    path = tmp_path / "vocab.txt"
    save_vocabulary(tokens, path)
    tokenizer = make_tokenizer(path)
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id) == (101, 102, 103)
    assert never_masked_ids(tokenizer) == [0, 101, 102, 103]


@pytest.mark.parametrize(
    "content, message",
    [
        ("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", r"missing special tokens \['\[MASK\]'\]"),
        ("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhi\nhi\n", "vocab.txt:7: duplicate token 'hi'"),
        ("[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n[MASK]\n", "vocab.txt:3: empty token"),
    ],
)
def test_bad_vocabulary_files_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(VocabularyError, match=message):
        load_vocabulary(path)


def test_fast_trainer_gives_a_usable_cased_vocabulary():
    lines = (KOREAN + ENGLISH) * 20
    vocabulary = build_vocabulary(lines, 300, trainer="tokenizers")
    assert tuple(vocabulary[:5]) == SPECIAL_TOKENS
    assert len(vocabulary) == len(set(vocabulary)) <= 300
    tokenizer = make_tokenizer(vocabulary)
    for sentence in KOREAN + ENGLISH:
        ids = tokenizer([sentence])[0]
        assert tokenizer.token_to_id("[UNK]") not in ids
        assert tokenizer.detokenize([ids])[0].replace(" ", "") == sentence.replace(" ", "")
    with pytest.raises(ValueError, match="trainer must be"):
        build_vocabulary(lines, 300, trainer="sentencepiece")
