"""A checkpoint's tokenizer settings, read from and written to Hugging Face's files, BERT's way.

Published checkpoints carry their tokenizer as `vocab.txt` plus
`tokenizer_config.json` (`do_lower_case`, `strip_accents`,
`tokenize_chinese_chars`), or, as transformers 5 writes them, as
`tokenizer.json` (a `BertNormalizer`, a `BertPreTokenizer` and a `WordPiece`
model holding the vocabulary). Both are read with transformers' meanings:
`do_lower_case` defaults to true, `strip_accents: null` strips exactly when
lowercasing. A setting of the wrong type, a tokenizer that is not BERT's, or
two files that disagree is an error naming the file and key.
"""

import dataclasses
import json
import pathlib

from electra_keras.data import tokenizer as tokenization
from electra_keras.data.bert_text import MAX_CHARS_PER_WORD
from electra_keras.data.bert_text import resolve_strip_accents


class TokenizerFileError(ValueError):
    """A tokenizer file whose settings cannot be used, naming the file and key."""


@dataclasses.dataclass(frozen=True)
class TokenizerSettings:
    """BERT's tokenizer settings of a checkpoint.

    Attributes:
        lowercase: Unicode lower-casing.
        strip_accents: NFD and dropping category Mn (already resolved: never `None`).
        tokenize_chinese_chars: CJK ideographs are words of their own.

    Example:
    ```python
    settings = TokenizerSettings(lowercase=True, strip_accents=True)
    make_tokenizer(vocabulary, **settings.tokenizer_kwargs())
    ```
    """

    lowercase: bool
    strip_accents: bool
    tokenize_chinese_chars: bool = True

    @classmethod
    def of(cls, lowercase, strip_accents=None, tokenize_chinese_chars=True):
        """Settings from arguments as the savers take them (`strip_accents=None`: BERT's meaning)."""
        return cls(bool(lowercase), resolve_strip_accents(strip_accents, lowercase), bool(tokenize_chinese_chars))

    def tokenizer_kwargs(self):
        """The keyword arguments of `make_tokenizer`, `OffsetTokenizer`, the exporters and `Pretrained`."""
        return dataclasses.asdict(self)


def _json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise TokenizerFileError(f"{path}: not JSON ({error})") from None


def _setting(values, key, path, expected_type, default):
    value = values.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, expected_type) or (expected_type is int and isinstance(value, bool)):
        raise TokenizerFileError(
            f"{path}: {key} must be {expected_type.__name__}{' or null' if default is None else ''}, got {value!r}"
        )
    return value


def read_tokenizer_config(path):
    """The `TokenizerSettings` of a `tokenizer_config.json`, with transformers' defaults.

    Example:
    ```python
    read_tokenizer_config("electra_small/tokenizer_config.json").lowercase
    ```
    """
    return TokenizerSettings(**_from_tokenizer_config(pathlib.Path(path)))


def _from_tokenizer_config(path):
    values = _json(path)
    if not isinstance(values, dict):
        raise TokenizerFileError(f"{path}: expected a JSON object")
    lowercase = _setting(values, "do_lower_case", path, bool, True)  # BertTokenizer's default
    strip_accents = _setting(values, "strip_accents", path, bool, None)
    return {
        "lowercase": lowercase,
        "strip_accents": resolve_strip_accents(strip_accents, lowercase),
        "tokenize_chinese_chars": _setting(values, "tokenize_chinese_chars", path, bool, True),
    }


def _from_tokenizer_json(path):
    """`(settings, vocabulary)` of a `tokenizer.json` that is BERT's tokenizer."""
    values = _json(path)
    normalizer = values.get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer":
        raise TokenizerFileError(
            f"{path}: normalizer.type is {normalizer.get('type')!r}; only BERT's tokenizer "
            "(BertNormalizer, BertPreTokenizer, WordPiece) is supported"
        )
    if (values.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer":
        raise TokenizerFileError(
            f"{path}: pre_tokenizer.type is {(values.get('pre_tokenizer') or {}).get('type')!r}; expected BertPreTokenizer"
        )
    if not _setting(normalizer, "clean_text", f"{path} normalizer", bool, True):
        raise TokenizerFileError(f"{path}: normalizer.clean_text false is not supported (BERT cleans text)")
    model = values.get("model") or {}
    if model.get("type") != "WordPiece":
        raise TokenizerFileError(f"{path}: model.type is {model.get('type')!r}; expected WordPiece")
    if model.get("continuing_subword_prefix", "##") != "##":
        raise TokenizerFileError(
            f"{path}: model.continuing_subword_prefix {model['continuing_subword_prefix']!r} is not supported; expected '##'"
        )
    if model.get("unk_token", "[UNK]") != "[UNK]":
        raise TokenizerFileError(f"{path}: model.unk_token {model['unk_token']!r} is not supported; expected '[UNK]'")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or sorted(vocab.values()) != list(range(len(vocab))):
        raise TokenizerFileError(f"{path}: model.vocab must map each token to its id 0..n-1")
    lowercase = _setting(normalizer, "lowercase", f"{path} normalizer", bool, True)
    strip_accents = _setting(normalizer, "strip_accents", f"{path} normalizer", bool, None)
    settings = {
        "lowercase": lowercase,
        "strip_accents": resolve_strip_accents(strip_accents, lowercase),
        "tokenize_chinese_chars": _setting(normalizer, "handle_chinese_chars", f"{path} normalizer", bool, True),
    }
    longest = _setting(model, "max_input_chars_per_word", f"{path} model", int, MAX_CHARS_PER_WORD)
    if longest != MAX_CHARS_PER_WORD:
        raise TokenizerFileError(
            f"{path}: model.max_input_chars_per_word {longest} is not supported; BERT's is {MAX_CHARS_PER_WORD}"
        )
    return settings, [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]


def read_huggingface_tokenizer(folder):
    """`(vocabulary, TokenizerSettings)` of a Hugging Face model folder.

    Reads `vocab.txt` and `tokenizer_config.json`, and `tokenizer.json` where
    present (alone, it gives both the vocabulary and the settings). Where two
    files state the same thing they must agree.

    Example:
    ```python
    vocabulary, settings = read_huggingface_tokenizer("koelectra-base-v3-discriminator")
    settings.lowercase  # False
    ```
    """
    folder = pathlib.Path(folder)
    vocab_txt, config_json, tokenizer_json = (
        folder / "vocab.txt", folder / "tokenizer_config.json", folder / "tokenizer.json"
    )
    vocabulary = tokenization.load_vocabulary(vocab_txt) if vocab_txt.is_file() else None
    settings = {"lowercase": True, "strip_accents": True, "tokenize_chinese_chars": True}
    if config_json.is_file():
        settings = _from_tokenizer_config(config_json)
    if tokenizer_json.is_file():
        json_settings, json_vocabulary = _from_tokenizer_json(tokenizer_json)
        for key, value in json_settings.items():
            if config_json.is_file() and key in settings and settings[key] != value:
                raise TokenizerFileError(
                    f"{tokenizer_json} says {key}={value} but {config_json} says {settings[key]}"
                )
        settings.update(json_settings)
        if vocabulary is not None and vocabulary != json_vocabulary:
            raise TokenizerFileError(f"{tokenizer_json}: model.vocab differs from {vocab_txt}")
        vocabulary = json_vocabulary
    if vocabulary is None:
        raise TokenizerFileError(f"{folder}: no vocab.txt or tokenizer.json")
    for token in tokenization.SPECIAL_TOKENS:
        if token not in vocabulary:
            raise TokenizerFileError(f"{vocab_txt if vocab_txt.is_file() else tokenizer_json}: no {token} token")
    return vocabulary, TokenizerSettings(**settings)


def write_huggingface_tokenizer(folder, vocabulary, settings):
    """Writes `vocab.txt` and `tokenizer_config.json` so transformers' `BertTokenizer` gives our ids.

    Example:
    ```python
    write_huggingface_tokenizer("out/discriminator", vocabulary, TokenizerSettings(False, False))
    ```
    """
    folder = pathlib.Path(folder)
    tokenization.save_vocabulary(vocabulary, folder / "vocab.txt")
    config = {
        "tokenizer_class": "ElectraTokenizer",
        "do_lower_case": settings.lowercase,
        "strip_accents": settings.strip_accents,
        "tokenize_chinese_chars": settings.tokenize_chinese_chars,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
