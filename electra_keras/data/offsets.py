"""WordPiece with offsets: the ids keras-hub's `ElectraTokenizer` gives, and where each came from.

Tagging and question answering map predictions on subwords back to
characters of the original text, so they need every token's span. keras-hub
tokenizes in four steps (space out CJK characters, strip accents, split on
whitespace and punctuation, case-fold, then WordPiece); `OffsetTokenizer`
splits the original text with the same patterns using tensorflow-text's
`regex_split_with_offsets` (CJK characters become words of their own either
way), applies the same folding to each word, and runs WordPiece with
offsets. The ids are keras-hub's (tested on English, Korean and Chinese);
the offsets are UTF-8 byte offsets into the original string, exact to the
subword unless case-folding or accent stripping changes a word's length in
bytes; then every piece of that word spans the whole word. Every op is in the set the TF Serving model server
links, so the same code runs inside exported graphs.
"""

import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.src.tokenizers.word_piece_tokenizer import MAX_BYTES_PER_WORD
from keras_hub.src.tokenizers.word_piece_tokenizer import PUNCTUATION_AND_CJK_REGEX
from keras_hub.src.tokenizers.word_piece_tokenizer import WHITESPACE_PUNCTUATION_AND_CJK_REGEX

from electra_keras.data.tokenizer import load_vocabulary


class OffsetTokenizer(tf.Module):
    """WordPiece ids with the byte spans of the original text they cover.

    Args:
        vocabulary: list of tokens, or a `vocab.txt` path.
        lowercase, strip_accents: as the keras-hub tokenizer of the model.

    Example:
    ```python
    tokenizer = OffsetTokenizer("vocab.txt")
    ids, starts, ends = tokenizer(tf.constant(["서울은 한국의 수도입니다."]))
    # text.encode()[starts[0][i]:ends[0][i]] is the piece token i came from
    ```
    """

    def __init__(self, vocabulary, lowercase=False, strip_accents=False):
        super().__init__()
        if not isinstance(vocabulary, (list, tuple)):
            vocabulary = load_vocabulary(vocabulary)
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=list(vocabulary),
            token_out_type=tf.int32,
            suffix_indicator="##",
            max_bytes_per_word=MAX_BYTES_PER_WORD,
            unknown_token="[UNK]",
            no_pretokenization=True,
            support_detokenization=False,
        )

    def __call__(self, texts):
        """`(ids, starts, ends)`: ragged `[batch, tokens]` int32, byte offsets."""
        words, word_starts, word_ends = tf_text.regex_split_with_offsets(
            texts, WHITESPACE_PUNCTUATION_AND_CJK_REGEX, PUNCTUATION_AND_CJK_REGEX
        )
        if self.strip_accents:
            words = tf.strings.regex_replace(tf_text.normalize_utf8(words, "NFD"), r"\p{Mn}", "")
        if self.lowercase:
            words = tf_text.case_fold_utf8(words)
        ids, starts, ends = self.wordpiece.tokenize_with_offsets(words)
        folded_changed = tf.strings.length(words) != tf.cast(word_ends - word_starts, tf.int32)
        word_starts = tf.cast(tf.expand_dims(word_starts, -1), tf.int64)
        word_ends = tf.cast(tf.expand_dims(word_ends, -1), tf.int64)
        starts = tf.minimum(tf.cast(starts, tf.int64) + word_starts, word_ends)
        ends = tf.minimum(tf.cast(ends, tf.int64) + word_starts, word_ends)
        # Offsets inside a word that folding resized ("Beyoncé" -> "beyonce",
        # "２０" -> "20") count bytes of the folded word and can fall inside a
        # character of the original: every piece of such a word spans the word.
        piece_word = ends.values.value_rowids()
        changed = tf.gather(folded_changed.flat_values, piece_word)
        starts = starts.with_flat_values(tf.where(
            changed, tf.gather(tf.reshape(word_starts.flat_values, [-1]), piece_word), starts.flat_values))
        ends = ends.with_flat_values(tf.where(
            changed, tf.gather(tf.reshape(word_ends.flat_values, [-1]), piece_word), ends.flat_values))
        return (
            ids.merge_dims(-2, -1),
            tf.cast(starts.merge_dims(-2, -1), tf.int32),
            tf.cast(ends.merge_dims(-2, -1), tf.int32),
        )


def byte_to_char_offsets(text):
    """A list mapping each UTF-8 byte offset of `text` (and its end) to a character offset.

    Example:
    ```python
    byte_to_char_offsets("서울")[3]  # 1: the second syllable starts at byte 3
    ```
    """
    mapping = []
    for index, character in enumerate(text):
        mapping.extend([index] * len(character.encode("utf-8")))
    mapping.append(len(text))
    return mapping
