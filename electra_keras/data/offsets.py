"""WordPiece with offsets: the ids `BertWordPieceTokenizer` gives, and where each came from.

Tagging and question answering map predictions on subwords back to
characters of the original text, so they need every token's span.
`OffsetTokenizer` runs the same BERT tokenization (`bert_text.BertWordPiece`)
and keeps, for every piece, the UTF-8 bytes of the original text its
normalised characters came from: exact to the character when normalisation
drops characters (controls, accents) or rewrites them (case, full-width
forms stay full-width). Every op is in the set the TF Serving model server
links, so the same code runs inside exported graphs.
"""

import tensorflow as tf

from electra_keras.data.bert_text import BertWordPiece
from electra_keras.data.tokenizer import load_vocabulary
from electra_keras.data.tokenizer import tokenizer_kwargs


class OffsetTokenizer(tf.Module):
    """WordPiece ids with the byte spans of the original text they cover.

    Args:
        vocabulary: list of tokens, or a `vocab.txt` path.
        lowercase, strip_accents, tokenize_chinese_chars: as the model's
            tokenizer (`strip_accents=None`: BERT's default, strip when lowercasing).

    Example:
    ```python
    tokenizer = OffsetTokenizer("vocab.txt")
    ids, starts, ends = tokenizer(tf.constant(["서울은 한국의 수도입니다."]))
    # text.encode()[starts[0][i]:ends[0][i]] is the piece token i came from
    ```
    """

    def __init__(self, vocabulary, lowercase=False, strip_accents=None, tokenize_chinese_chars=True):
        super().__init__()
        if not isinstance(vocabulary, (list, tuple)):
            vocabulary = load_vocabulary(vocabulary)
        self.wordpiece = BertWordPiece(list(vocabulary), lowercase, strip_accents, tokenize_chinese_chars)
        self.lowercase = self.wordpiece.lowercase
        self.strip_accents = self.wordpiece.strip_accents

    @classmethod
    def like(cls, tokenizer):
        """The offsets tokenizer of a built `BertWordPieceTokenizer`: its vocabulary list and casing.

        Example:
        ```python
        offsets = OffsetTokenizer.like(make_tokenizer("vocab.txt", lowercase=True))
        ```
        """
        return cls(tokenizer.get_vocabulary(), **tokenizer_kwargs(tokenizer))

    def __call__(self, texts):
        """`(ids, starts, ends)`: ragged `[batch, tokens]` int32, byte offsets."""
        ids, starts, ends = self.wordpiece.tokenize_with_offsets(texts)
        return ids, tf.cast(starts, tf.int32), tf.cast(ends, tf.int32)


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
