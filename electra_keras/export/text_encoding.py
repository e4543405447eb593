"""Strings to model inputs inside a serving graph: one builder for every export.

Tokenized BERT's way (`BertWordPieceTokenizer`: core `tf.strings` ops and
tensorflow-text's normalisation and WordPiece), framed `[CLS] text [SEP]` or `[CLS] text [SEP]
text_pair [SEP]` and trimmed to the model's length as keras-hub's
`MultiSegmentPacker` does with `truncate="waterfall"` (`ServingTextEncoder.pack`: the
same ids in about 20 ops instead of its 300, which every request pays).
Only TensorFlow core ops and the tensorflow-text ops the stock TF Serving
model server links are used.
"""

import tensorflow as tf

from electra_keras.data.tokenizer import load_vocabulary
from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.export.request_limits import RequestLimits


class ServingTextEncoder:
    """Tokenizer and packer of a serving graph, built once per export.

    Args:
        vocabulary: list of WordPiece tokens, or a `vocab.txt` path.
        sequence_length: int, the length texts are trimmed and padded to.
        lowercase, strip_accents, tokenize_chinese_chars: BERT's tokenizer settings, as in training.
        request_limits: a `RequestLimits` (or a dict of its arguments) that
            `encode` enforces; default 64 texts, 10,000 characters each, 100,000 in all.

    Example:
    ```python
    encoder = ServingTextEncoder("vocab.txt", 128)
    inputs = encoder.encode(tf.constant(["ELECTRA learns from all tokens."]))
    inputs["token_ids"].shape  # (1, 128)
    ```
    """

    def __init__(self, vocabulary, sequence_length, lowercase=False, strip_accents=None, tokenize_chinese_chars=True,
                 request_limits=None):
        self.request_limits = RequestLimits.of(request_limits)
        if not isinstance(vocabulary, (list, tuple)):
            vocabulary = load_vocabulary(vocabulary)
        self.vocabulary = list(vocabulary)
        self.tokenizer = make_tokenizer(self.vocabulary, lowercase, strip_accents, tokenize_chinese_chars)
        self.tokenizer(tf.constant([""]))  # builds the layer, which an export needs
        self.sequence_length = int(sequence_length)
        self.cls_token_id = self.tokenizer.cls_token_id
        self.pad_token_id = self.tokenizer.pad_token_id
        self.sep_token_id = self.tokenizer.sep_token_id

    @property
    def resources(self):
        """What an `ExportArchive` must track for the graph to load."""
        return (self.tokenizer,)

    def tokenize(self, text):
        """WordPiece ids of a batch of strings; invalid UTF-8 becomes U+FFFD
        (it would otherwise stop the tokenizer's ops)."""
        return self.tokenizer(valid_utf8(text))

    def encode(self, text, text_pair=None):
        """int32 `token_ids`, `segment_ids` and `padding_mask` of a batch of
        texts (or pairs; an over-long pair is trimmed from the end of
        `text_pair` first, then `text`). A request over the
        `request_limits` fails with InvalidArgumentError."""
        # The scope names this part in op counts (`serving/graph_mode_check.ops_by_part`).
        with tf.name_scope("tokenization"):
            text = self.request_limits.checked("text", valid_utf8(text))
            if text_pair is None:
                return self.pack(self.tokenizer.wordpiece.tokenize(text))
            text_pair = self.request_limits.checked("text_pair", valid_utf8(text_pair))
            text, text_pair = same_batch(text, text_pair, "text and text_pair need the same batch size")
            return self.pack(self.tokenizer.wordpiece.tokenize(text), self.tokenizer.wordpiece.tokenize(text_pair))

    def pack(self, first, second=None):
        """`[CLS] first [SEP]` or `[CLS] first [SEP] second [SEP]`, trimmed and padded to the sequence length.

        Trimmed as keras-hub's `MultiSegmentPacker(truncate="waterfall")`:
        `first` keeps as many tokens as fit, `second` what is left.

        Args:
            first, second: ragged `[batch, tokens]` ids.

        Returns:
            int32 `token_ids`, `segment_ids` and `padding_mask`, `[batch, sequence_length]`.
        """
        length = self.sequence_length
        batch = first.nrows(out_type=tf.int32)
        specials = 2 if second is None else 3
        first_kept = tf.minimum(tf.cast(first.row_lengths(), tf.int32), length - specials)
        first_ids = tf.cast(first.to_tensor(self.pad_token_id, shape=[None, length - 1]), tf.int32)
        # Column j holds first token j - 1: [CLS] then the text.
        framed = tf.concat([tf.fill(tf.stack([batch, 1]), self.cls_token_id), first_ids], axis=1)
        column = tf.range(length)[None, :]
        first_sep = first_kept[:, None] + 1
        token_ids = tf.where(column <= first_kept[:, None], framed, self.pad_token_id)
        if second is None:
            token_ids = tf.where(column == first_sep, self.sep_token_id, token_ids)
            return {
                "token_ids": token_ids,
                "segment_ids": tf.zeros_like(token_ids),
                "padding_mask": tf.cast(column <= first_sep, tf.int32),
            }
        second_kept = tf.minimum(tf.cast(second.row_lengths(), tf.int32), length - specials - first_kept)
        second_ids = tf.cast(second.to_tensor(self.pad_token_id, shape=[None, length]), tf.int32)
        second_sep = first_sep + second_kept[:, None] + 1
        in_second = (column > first_sep) & (column < second_sep)
        from_second = tf.gather(second_ids, tf.clip_by_value(column - first_sep - 1, 0, length - 1), batch_dims=1)
        token_ids = tf.where(in_second, from_second, token_ids)
        token_ids = tf.where((column == first_sep) | (column == second_sep), self.sep_token_id, token_ids)
        return {
            "token_ids": token_ids,
            "segment_ids": tf.cast((column > first_sep) & (column <= second_sep), tf.int32),
            "padding_mask": tf.cast(column <= second_sep, tf.int32),
        }


def same_batch(first, second, message):
    """`first` and `second` (`[batch]` strings) once their batch sizes are checked equal.

    The check runs before anything that reads the returned tensors, which
    would otherwise fail first with a shape error; unequal sizes fail with
    InvalidArgumentError naming `message`.

    Example:
    ```python
    text, text_pair = same_batch(text, text_pair, "text and text_pair need the same batch size")
    ```
    """
    check = tf.debugging.assert_equal(tf.shape(first), tf.shape(second), message=message)
    with tf.control_dependencies([check]):
        return tf.identity(first), tf.identity(second)


def one_token_word(vocabulary):
    """A vocabulary word that tokenizes to itself alone, to build texts of a given length (None if there is none).

    Example:
    ```python
    one_token_word(["[PAD]", "[CLS]", "##s", "the", "cat"])  # "the"
    ```
    """
    for token in vocabulary:
        if token.isalpha() and token.isascii():
            return token
    for token in vocabulary:
        if token.isalnum():
            return token
    return None


_ROW = 2**32  # row * _ROW + byte offset: one sorted key over a whole batch


def valid_utf8(text):
    """A batch of strings with invalid UTF-8 replaced by U+FFFD (it would otherwise stop the tokenizer's ops)."""
    return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def char_offsets(text, rows, byte_offsets):
    """Character offsets of UTF-8 byte offsets: `byte_offsets[i]` into `text[rows[i]]` (int64, any number per row).

    Example:
    ```python
    char_offsets(tf.constant(["서울 is"]), tf.constant([0], tf.int64), tf.constant([7], tf.int64))  # [3]
    ```
    """
    _, char_starts = tf.strings.unicode_decode_with_offsets(text, "UTF-8")
    char_keys = tf.cast(char_starts.value_rowids(), tf.int64) * _ROW + char_starts.flat_values
    # The characters of its row that start before the byte.
    before = tf.searchsorted(char_keys, rows * _ROW + tf.cast(byte_offsets, tf.int64), out_type=tf.int64)
    return before - tf.gather(char_starts.row_splits, rows)
