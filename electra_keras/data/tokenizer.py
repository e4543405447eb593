"""WordPiece vocabularies and the tokenizer, on keras-hub and tensorflow-text.

Casing and accents are kept unless asked otherwise, and no normalisation
decomposes Hangul syllables into jamo, so Korean (KoELECTRA's vocab.txt, or
one built here) round-trips.
"""

import pathlib

import keras_hub

from electra_keras.files import atomic_path

# The tokens ELECTRA needs; a built vocabulary puts them at ids 0-4 (as
# KoELECTRA does); Google's vocab.txt has them elsewhere, found by name.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used."""


def load_vocabulary(path):
    """Reads a `vocab.txt` (one token per line) and checks it.

    Raises `VocabularyError` naming the file and line for an empty token, a
    duplicate, or a missing special token.

    Example:
    ```python
    vocabulary = electra_keras.data.load_vocabulary("vocab.txt")
    ```
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VocabularyError(f"{path}: vocabulary file not found") from None
    except UnicodeDecodeError as error:
        raise VocabularyError(f"{path}: not UTF-8 ({error})") from None
    vocabulary = text.split("\n")
    if vocabulary and vocabulary[-1] == "":
        vocabulary.pop()
    vocabulary = [token.rstrip("\r") for token in vocabulary]
    seen = {}
    for line_number, token in enumerate(vocabulary, start=1):
        if not token.strip():
            raise VocabularyError(f"{path}:{line_number}: empty token")
        if token in seen:
            raise VocabularyError(
                f"{path}:{line_number}: duplicate token {token!r} (first on line {seen[token]})"
            )
        seen[token] = line_number
    missing = [token for token in SPECIAL_TOKENS if token not in seen]
    if missing:
        raise VocabularyError(f"{path}: missing special tokens {missing}")
    return vocabulary


def save_vocabulary(vocabulary, path):
    """Writes `vocab.txt` atomically (a temporary file renamed into place).

    Example:
    ```python
    electra_keras.data.save_vocabulary(vocabulary, "out/vocab.txt")
    ```
    """
    with atomic_path(path) as temporary:
        temporary.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")


def build_vocabulary(lines, vocabulary_size, lowercase=False, strip_accents=False, trainer="keras_hub"):
    """Learns a cased (by default) WordPiece vocabulary.

    Args:
        lines: an iterable of strings (or, for `trainer="keras_hub"`, a
            `tf.data.Dataset` of strings).
        vocabulary_size: int, the maximum number of tokens.
        lowercase: bool, case-fold before learning.
        strip_accents: bool, drop accent marks before learning.
        trainer: "keras_hub" (`compute_word_piece_vocabulary`, tensorflow-
            text's learner: reproducible, about 50 s for the bundled 1.2M
            tokens on 2 cores) or "tokenizers" (Hugging Face's Rust WordPiece
            trainer: about 1 s for the same text, but it breaks ties between
            equally frequent merges in hash order, so two builds can differ
            in a few tokens at the cut-off).

    Returns:
        A list of tokens with `SPECIAL_TOKENS` at ids 0-4.

    Example:
    ```python
    vocabulary = electra_keras.data.build_vocabulary(["안녕하세요 세계", "hello world"], 100)
    ```
    """
    if trainer == "tokenizers":
        return _build_with_tokenizers(lines, vocabulary_size, lowercase, strip_accents)
    if trainer != "keras_hub":
        raise ValueError(f"trainer must be 'tokenizers' or 'keras_hub', got {trainer!r}")
    import tensorflow as tf  # only the keras-hub learner runs on tf.data

    if not isinstance(lines, tf.data.Dataset):
        lines = tf.data.Dataset.from_tensor_slices(tf.constant(list(lines), dtype=tf.string))
    return keras_hub.tokenizers.compute_word_piece_vocabulary(
        lines.batch(1024),
        vocabulary_size=vocabulary_size,
        lowercase=lowercase,
        strip_accents=strip_accents,
        split_on_cjk=True,
        reserved_tokens=list(SPECIAL_TOKENS),
    )


def _build_with_tokenizers(lines, vocabulary_size, lowercase, strip_accents):
    import tokenizers

    # BERT-style splitting on whitespace and punctuation, CJK ideographs
    # apart, like keras-hub's WordPiece pretokenization; no NFD, so Hangul
    # syllables stay composed.
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    trainer = tokenizers.trainers.WordPieceTrainer(
        vocab_size=vocabulary_size,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer=trainer)
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return [token for token, _ in vocabulary]


def make_tokenizer(vocabulary, lowercase=False, strip_accents=False):
    """A `keras_hub.models.ElectraTokenizer` over a vocabulary list or file.

    Example:
    ```python
    tokenizer = electra_keras.data.make_tokenizer("vocab.txt")
    tokenizer(["서울은 한국의 수도입니다."])
    ```
    """
    if isinstance(vocabulary, (str, pathlib.Path)):
        vocabulary = load_vocabulary(vocabulary)
    return keras_hub.models.ElectraTokenizer(
        vocabulary=list(vocabulary),
        lowercase=lowercase,
        strip_accents=strip_accents,
    )


def never_masked_ids(tokenizer):
    """Ids the objective never masks: [PAD], [CLS], [SEP] and [MASK].

    [UNK] stands for real text and stays maskable, as in the official code.

    Example:
    ```python
    special_token_ids = electra_keras.data.never_masked_ids(tokenizer)
    ```
    """
    return sorted(
        {
            tokenizer.pad_token_id,
            tokenizer.cls_token_id,
            tokenizer.sep_token_id,
            tokenizer.mask_token_id,
        }
    )


def special_ids_of(vocabulary):
    """`(mask_token_id, never_masked_ids)` of a token list, like `never_masked_ids`.

    Example:
    ```python
    mask_token_id, special_token_ids = special_ids_of(load_vocabulary("vocab.txt"))
    ```
    """
    index = {token: i for i, token in enumerate(vocabulary)}
    return index["[MASK]"], sorted(index[t] for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]"))
