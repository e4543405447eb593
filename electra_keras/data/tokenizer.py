"""WordPiece vocabularies and the tokenizer: BERT's tokenization inside a keras-hub tokenizer.

`BertWordPieceTokenizer` is a `keras_hub.models.ElectraTokenizer` (presets,
preprocessors, `tf.data`, SavedModels) whose splitting and normalisation are
BERT's (`electra_keras.data.bert_text`), so a published checkpoint gets the
ids it was pretrained with. Casing and accents are kept unless asked
otherwise, and no normalisation decomposes Hangul syllables into jamo, so
Korean (KoELECTRA's vocab.txt, or one built here) round-trips.
"""

import pathlib

import keras
import keras_hub
from keras_hub.src.utils.tensor_utils import preprocessing_function

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


def build_vocabulary(lines, vocabulary_size, lowercase=False, strip_accents=None, trainer="keras_hub"):
    """Learns a cased (by default) WordPiece vocabulary from text split BERT's way.

    Words are what `BertWordPieceTokenizer` splits (BERT's cleaning, spaces,
    punctuation and CJK characters), so every word the tokenizer sees was
    counted the same way.

    Args:
        lines: an iterable of strings (or, for `trainer="keras_hub"`, a
            `tf.data.Dataset` of strings).
        vocabulary_size: int, the maximum number of tokens.
        lowercase: bool, lower-case (Unicode, as BERT) before learning.
        strip_accents: bool, drop accent marks before learning (`None`:
            BERT's default, strip when lowercasing).
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

    from electra_keras.data.bert_text import split_words

    if not isinstance(lines, tf.data.Dataset):
        lines = tf.data.Dataset.from_tensor_slices(tf.constant(list(lines), dtype=tf.string))
    words = lines.batch(1024).map(lambda batch: split_words(batch, lowercase, strip_accents)["words"])
    return keras_hub.tokenizers.compute_word_piece_vocabulary(
        words,
        vocabulary_size=vocabulary_size,
        split=False,  # already split BERT's way
        reserved_tokens=list(SPECIAL_TOKENS),
    )


def _build_with_tokenizers(lines, vocabulary_size, lowercase, strip_accents):
    import tokenizers

    # BERT's own normaliser and splitting (the tokenizer's); NFD only when
    # stripping accents, so Hangul syllables stay composed otherwise.
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


@keras.saving.register_keras_serializable(package="electra_keras")
class BertWordPieceTokenizer(keras_hub.models.ElectraTokenizer):
    """keras-hub's `ElectraTokenizer` with BERT's exact splitting and normalisation.

    Gives transformers' `BertTokenizer` ids (see `electra_keras.data.bert_text`
    for the steps and `docs/interop.md` for what is matched), in eager calls,
    in `tf.data` and in exported graphs alike. Text typed by a user that
    looks like a special token (`"[SEP]"`) is split as ordinary text.

    Args:
        vocabulary: list of tokens, or a `vocab.txt` path.
        lowercase: bool, Unicode lower-casing (not NFKC case folding).
        strip_accents: bool, or `None` for BERT's default (strip when lowercasing).
        tokenize_chinese_chars: bool, CJK ideographs become words of their own.
        max_chars_per_word: a longer word (in characters) is `[UNK]`.

    Example:
    ```python
    tokenizer = BertWordPieceTokenizer("vocab.txt", lowercase=True)
    tokenizer(["价格：￥１２３．４５元", "Beyoncé"])
    ```
    """

    def __init__(self, vocabulary=None, lowercase=False, strip_accents=None, tokenize_chinese_chars=True,
                 max_chars_per_word=100, **kwargs):
        from electra_keras.data.bert_text import resolve_strip_accents

        if kwargs.get("special_tokens_in_strings"):
            raise ValueError("BertWordPieceTokenizer splits typed special-token text as ordinary text, "
                             "as BERT's basic tokenizer does; special_tokens_in_strings=True is not supported")
        # Set before keras-hub's __init__, which builds the WordPiece op from them.
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.max_chars_per_word = int(max_chars_per_word)
        super().__init__(
            vocabulary=vocabulary,
            lowercase=bool(lowercase),
            strip_accents=resolve_strip_accents(strip_accents, lowercase),
            split_on_cjk=self.tokenize_chinese_chars,
            **kwargs,
        )

    # Public methods only below: keras-hub's internals differ between the
    # versions we support (0.21 tokenizes in `tokenize` itself, 0.32 through
    # `_tokenize_tf`), so our own op is set and called from these.
    def set_vocabulary(self, vocabulary):
        from electra_keras.data.bert_text import BertWordPiece

        super().set_vocabulary(vocabulary)
        self._bert_wordpiece = None
        if self.vocabulary is not None:
            self._bert_wordpiece = BertWordPiece(
                self.vocabulary, self.lowercase, self.strip_accents, self.tokenize_chinese_chars,
                unknown_token=self.oov_token, max_chars_per_word=self.max_chars_per_word,
                token_out_type=self.compute_dtype,
            )
            # keras-hub's detokenize uses it.
            self._fast_word_piece = self._bert_wordpiece.fast_wordpiece

    @property
    def wordpiece(self):
        """The `BertWordPiece` (TensorFlow ops) this layer tokenizes with; ragged ids without keras-hub's
        output conversion, for graphs such as the serving signatures.

        Example:
        ```python
        ids = tokenizer.wordpiece.tokenize(tf.constant(["Hello there."]))  # ragged [1, tokens]
        ```
        """
        self._check_vocabulary()
        return self._bert_wordpiece

    def _set_vocabulary_tf(self):
        # keras-hub >= 0.32 builds its op through this (from its set_vocabulary,
        # before ours exists, and lazily after): ours replaces it once built.
        bert_wordpiece = getattr(self, "_bert_wordpiece", None)
        self._fast_word_piece = bert_wordpiece.fast_wordpiece if bert_wordpiece is not None else None

    def _use_tf_workflow(self):
        # BERT's normalisation exists here only as TensorFlow ops: one code path everywhere.
        return True

    def tokenize(self, inputs):
        self._check_vocabulary()
        return self._tokenize_bert(inputs)

    @preprocessing_function
    def _tokenize_bert(self, inputs):
        import tensorflow as tf

        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        unbatched = inputs.shape.rank == 0
        tokens = self._bert_wordpiece.tokenize(tf.reshape(inputs, [-1]))
        # Back to the input's outer shape: [batch, k, ...] strings give [batch, k, ..., tokens].
        for size in reversed(inputs.shape[1:]):
            tokens = tf.RaggedTensor.from_uniform_row_length(tokens, size)
        if self.sequence_length:
            output_shape = tokens.shape.as_list()
            output_shape[-1] = self.sequence_length
            tokens = tokens.to_tensor(shape=output_shape)
        if unbatched:
            tokens = tf.squeeze(tokens, 0)
            tf.ensure_shape(tokens, shape=[self.sequence_length])
        return tokens

    def get_config(self):
        config = super().get_config()
        config.update({
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "max_chars_per_word": self.max_chars_per_word,
        })
        return config


def make_tokenizer(vocabulary, lowercase=False, strip_accents=None, tokenize_chinese_chars=True):
    """A `BertWordPieceTokenizer` (a keras-hub `ElectraTokenizer`) over a vocabulary list or file.

    Example:
    ```python
    tokenizer = electra_keras.data.make_tokenizer("vocab.txt")
    tokenizer(["서울은 한국의 수도입니다."])
    ```
    """
    if isinstance(vocabulary, (str, pathlib.Path)):
        vocabulary = load_vocabulary(vocabulary)
    return BertWordPieceTokenizer(
        vocabulary=list(vocabulary),
        lowercase=lowercase,
        strip_accents=strip_accents,
        tokenize_chinese_chars=tokenize_chinese_chars,
    )


def tokenizer_kwargs(tokenizer):
    """`lowercase`, `strip_accents`, `tokenize_chinese_chars` of a built tokenizer: for exports and writers.

    What was read with the vocabulary travels with the tokenizer object, so
    nothing that receives it opens a vocabulary file again.

    Example:
    ```python
    tokenizer = make_tokenizer(vocabulary, lowercase=True)
    OffsetTokenizer(tokenizer.vocabulary, **tokenizer_kwargs(tokenizer))
    ```
    """
    return {
        "lowercase": tokenizer.lowercase,
        "strip_accents": tokenizer.strip_accents,
        "tokenize_chinese_chars": getattr(tokenizer, "tokenize_chinese_chars", True),
    }


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
