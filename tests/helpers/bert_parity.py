"""Strings and Hugging Face folders for the BERT tokenization parity suite.

`PARITY_STRINGS` are ordinary-but-tricky texts in the scripts and Unicode
classes real users send; `save_folder` writes a model folder's tokenizer
files with transformers' own `save_pretrained`, in the three styles of the
published checkpoints: cased Korean (KoELECTRA), uncased Chinese (the
Chinese ELECTRA models: single CJK characters, full-width punctuation) and
uncased English (Google's, accents stripped).
"""

import gzip
import pathlib
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parents[2]

_SPACES = [chr(c) for c in (0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)]
_CONTROLS = ["\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f"]
_FORMAT = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\u2066", "\ufeff", "\U000e0001"]

PARITY_STRINGS = [
    # Korean
    "서울은 한국의 수도입니다.",
    "KoELECTRA는 한국어 전처리에 강합니다!",
    "서울\xa0한국",
    "서울\u3000한국",
    "가나다라마바사아자차카타파하" * 3,  # 42 syllables, one word: 126 bytes, under 100 characters
    "가" * 101,  # over 100 characters: [UNK]
    "한국어(韓國語)와 漢字 混用",
    "\u1100\u1161\u11a8 자모 분리형",  # conjoining jamo stay as they are
    "ＬＧ전자 ２０２４년 ３분기",
    "(주)삼성전자·LG전자 - 매출 1,234억 원",
    # Chinese
    "他说：“你好！”",
    "价格：￥１２３．４５元",
    "今天天气很好，我们去公园吧。",
    "《红楼梦》是中国古典小说",
    "ELECTRA模型在中文任务上表现很好",
    "数据：2024年3月15日（星期五）",
    "繁體中文與简体中文",
    "\U00020000\U0002a700 扩展区汉字",
    "兀 豈 更",  # compatibility ideographs
    # Japanese
    "東京は日本の首都です。",
    "カタカナとひらがな、ﾊﾝｶｸｶﾀｶﾅ",
    "「こんにちは」と言った",
    # Accents and case
    "Beyoncé sang at the café in São Paulo",
    "Ångström, naïve, façade, jalapeño, Zürich",
    "ÉCOLE ÉLÉMENTAIRE",
    "ΟΔΟΣ ΣΟΦΙΑΣ",
    "İstanbul ve IĞDIR",
    "Straße STRASSE",
    "ǅemal ǈubica",
    "e\u0301 combining acute, \u0301 alone",
    "Ａｂｃ ＡＢＣ ａｂｃ",
    "ﬁnance ﬂow",
    "Ⅻ ⅻ ½ ² ①",
    "K Kelvin sign, Ω ohm sign",
    # Spaces, controls, format characters
    *(f"a{space}b" for space in _SPACES),
    *(f"left{c}right" for c in _CONTROLS),
    *(f"in{c}side" for c in _FORMAT),
    "tab\tnew\nline\rreturn\r\n",
    "   leading and trailing   ",
    "",
    " ",
    "\x00",
    "before\x00after the NUL",
    "replacement \ufffd char",
    "private\ue000use",
    # Punctuation and symbols
    "Hello, world! (It's 3:45 p.m.) -- \"quoted\" & <tagged>",
    "email@example.com https://example.com/path?q=1&r=2#frag",
    "C++ and C# and F#; x^2 + y_1 = $100 `code` ~tilde| {braces} [SEP] [CLS]",
    "¿Qué? ¡Sí! «Guillemets» „Anführung“ ‹single›",
    "em—dash en–dash … ellipsis ‰ †‡ § ¶",
    "€100 £50 ¥20 ₩1000 ₹5 © ® ™ ° ± × ÷",
    "math: ∑ ∫ √ ∞ ≤ ≥ ≠ ≈",
    # Emoji and mixed scripts
    "I love it 😍🔥👍🏽 👨‍👩‍👧",
    "flags 🇰🇷🇨🇳 and keycap 1️⃣",
    "Русский текст, Ελληνικά, עברית, العربية",
    "हिन्दी और ไทย ภาษา",
    "Tiếng Việt có dấu",
    "mixed한국語English混合",
    "a" * 120,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "Pneumonoultramicroscopicsilicovolcanoconiosis" * 2,
    "numbers 3.14159 1,000,000 1e-5 0x1F",
    "don't won't y'all O'Brien",
    "\U0001d400\U0001d401 math bold",
    "z\u0335a\u0334l\u0337g\u0336o\u0338 text",
    "\u00e9" * 60 + " accents over the limit in bytes",
]


def corpus_lines(limit=4000):
    """Lines of the bundled English and Korean corpora, to learn test vocabularies from."""
    lines = []
    for name in ("brown_en.txt.gz", "libreoffice_help_ko.txt.gz"):
        with gzip.open(ROOT / "electra_keras" / "data" / "corpora" / name, "rt", encoding="utf-8") as file:
            for line, _ in zip(file, range(limit)):
                lines.append(line.strip())
    return lines


# Chinese text for the Chinese-style vocabulary: its characters, one token each.
CHINESE_TEXT = "".join(s for s in PARITY_STRINGS if any("\u4e00" <= c <= "\u9fff" for c in s))

STYLES = {
    # name: (do_lower_case, strip_accents)
    "korean_cased": (False, None),
    "chinese_uncased": (True, None),
    "english_uncased": (True, None),
    "lowercase_keep_accents": (True, False),
}


def learn_vocabulary(style, size=3000):
    """A WordPiece vocabulary of a style, learned by Hugging Face `tokenizers` with BERT's normaliser.

    Every character of the suite is in it (as a word start and as `##`
    continuation), in both its raw and normalised forms, so that a
    normalisation difference shows as different ids rather than as [UNK].
    """
    from electra_keras.data.tokenizer import build_vocabulary

    lowercase, strip_accents = STYLES[style]
    # Hugging Face's trainer with BERT's own normaliser, nothing of ours but the call.
    vocabulary = build_vocabulary(corpus_lines() + PARITY_STRINGS * 3, size, lowercase, strip_accents,
                                  trainer="tokenizers")
    seen = set(vocabulary)
    for text in PARITY_STRINGS:
        for variant in (text, text.lower(), unicodedata.normalize("NFKC", text).casefold()):
            for character in variant:
                if character.isspace() or unicodedata.category(character).startswith("C"):
                    continue
                for token in (character, "##" + character):
                    if token not in seen:
                        seen.add(token)
                        vocabulary.append(token)
    return vocabulary


def save_folder(style, folder, layout="vocab_txt"):
    """A tokenizer folder of a style, written by transformers' `save_pretrained`.

    `layout="vocab_txt"`: `vocab.txt` and `tokenizer_config.json`, the layout
    of the published checkpoints (written by transformers' `BertTokenizerLegacy`).
    `layout="tokenizer_json"`: what transformers 5's `BertTokenizer` writes,
    `tokenizer.json` and `tokenizer_config.json`, no `vocab.txt`.
    """
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lowercase, strip_accents = STYLES[style]
    vocabulary = learn_vocabulary(style)
    if layout == "vocab_txt":
        vocabulary_file = folder.parent / f"{folder.name}.source_vocab.txt"
        vocabulary_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
        tokenizer = BertTokenizerLegacy(str(vocabulary_file), do_lower_case=lowercase, strip_accents=strip_accents)
        tokenizer.save_pretrained(str(folder))
        vocabulary_file.unlink()
    else:
        tokenizer = BertTokenizer(
            vocab={token: index for index, token in enumerate(vocabulary)},
            do_lower_case=lowercase,
            strip_accents=strip_accents,
        )
        tokenizer.save_pretrained(str(folder))
    return folder


def reference_tokenizer(folder, legacy=False):
    """transformers' tokenizer of a folder: the fast `BertTokenizer`, or the slow `BertTokenizerLegacy`.

    Typed special-token text ("[SEP]") is split as plain text, as ours does.
    """
    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    cls = BertTokenizerLegacy if legacy else BertTokenizer
    return cls.from_pretrained(str(folder), split_special_tokens=True)


def reference_ids(folder, texts, legacy=False):
    """transformers' ids for each text, without [CLS] and [SEP]."""
    tokenizer = reference_tokenizer(folder, legacy)
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
