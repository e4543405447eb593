"""BERT's basic tokenization as TensorFlow ops, with byte offsets into the original text.

Every published ELECTRA (Google's, KoELECTRA, the Chinese ELECTRA models)
was pretrained with BERT's tokenizer; transformers' `BertTokenizer` (the
`tokenizers` library's `BertNormalizer` + `BertPreTokenizer` + `WordPiece`)
reproduces it. keras-hub's and tensorflow-text's WordPiece tokenizers differ
from it: they lowercase with NFKC case folding (full-width punctuation and
digits become ASCII), keep Unicode spaces and control characters, count the
longest word in bytes, and their regex and case-folding ops stop at a NUL.
`split_words` does BERT's steps instead, one character at a time, so each
word knows which characters of the original text it came from:

1. drop NUL, U+FFFD and every category-C character except tab, newline and
   carriage return; those and every category-Z character are whitespace;
2. a CJK ideograph (BERT's ranges) is a word of its own;
3. accents: NFD, then drop category Mn (when `strip_accents`);
4. Unicode lower-casing of each character (`tf.strings.lower`, as Rust's
   `char::to_lowercase`: no final-sigma rule, no NFKC);
5. split on whitespace; ASCII punctuation and category P are words alone.

The ops are core `tf.strings` and tensorflow-text's `normalize_utf8`, all in
the set the stock TF Serving model server links.
"""

import tensorflow as tf
import tensorflow_text as tf_text

# BERT's `_is_chinese_char` ranges (CJK Unified Ideographs and extensions A-E,
# compatibility ideographs). Hangul, kana and full-width forms are not in them.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# Tab, newline, CR and category Z (Zs, Zl, Zp): Rust's `char::is_whitespace`
# once control characters are gone, which is what the fast tokenizer uses.
WHITESPACE_CODEPOINTS = (
    0x09, 0x0A, 0x0D, 0x20, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
)
_REMOVED_CLASS_REGEX = r"[^\P{C}\t\n\r]"  # category C but tab, newline and CR
_PUNCTUATION_REGEX = r"[!-/:-@\[-`{-~\p{P}]"  # ASCII 33-47, 58-64, 91-96, 123-126 and category P
MAX_CHARS_PER_WORD = 100  # BERT's `max_input_chars_per_word`: a longer word is [UNK]


def resolve_strip_accents(strip_accents, lowercase):
    """BERT's meaning of `strip_accents`: `None` strips exactly when lowercasing.

    Example:
    ```python
    resolve_strip_accents(None, lowercase=True)  # True
    ```
    """
    return bool(lowercase) if strip_accents is None else bool(strip_accents)


def split_words(texts, lowercase=False, strip_accents=None, tokenize_chinese_chars=True):
    """BERT's words of a batch of strings, with where each character of each word came from.

    Args:
        texts: string tensor `[batch]` (invalid UTF-8 counts as U+FFFD, which is dropped).
        lowercase: bool, Unicode lower-casing of each character.
        strip_accents: bool, or `None` for BERT's default (strip when lowercasing).
        tokenize_chinese_chars: bool, CJK ideographs become words of their own.

    Returns:
        A dict of `words` (ragged `[batch, words]` normalised strings),
        `starts` / `ends` (ragged int64, UTF-8 byte offsets of each word in
        the original text), and for `BertWordPiece.tokenize_with_offsets`: `char_keys` (each
        kept character's first byte in the normalised words, as one sorted
        key over the batch), `char_starts` / `char_ends` (its bytes in the
        original text) and `word_keys` (each word's first key).

    Example:
    ```python
    split_words(tf.constant(["Beyoncé\u00a0서울！"]), lowercase=True)["words"]
    # [[b"beyonce", b"\xec\x84\x9c\xec\x9a\xb8", b"\xef\xbc\x81"]]
    ```
    """
    strip_accents = resolve_strip_accents(strip_accents, lowercase)
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    codepoints, starts = tf.strings.unicode_decode_with_offsets(
        texts, "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    batch_size = tf.shape(texts, out_type=tf.int64)[0]
    rows = _row_ids(codepoints.row_splits)
    points = codepoints.flat_values
    char_starts = starts.flat_values
    # A character ends where the next one of its row starts, the last at the text's end.
    next_rows = tf.concat([rows[1:], [-1]], axis=0)
    next_starts = tf.concat([char_starts[1:], [0]], axis=0)
    text_bytes = tf.cast(tf.strings.length(texts), tf.int64)
    char_ends = tf.where(rows == next_rows, next_starts, tf.gather(text_bytes, rows))

    # One string per character; the raw op takes flat values, where `unicode_encode` adds ~45 ops of ragged handling.
    chars = tf.raw_ops.UnicodeEncode(
        input_values=points, input_splits=tf.range(tf.size(points, out_type=tf.int64) + 1), output_encoding="UTF-8"
    )
    removed = (points == 0) | (points == 0xFFFD) | tf.strings.regex_full_match(chars, _REMOVED_CLASS_REGEX)
    space = tf.reduce_any(tf.expand_dims(points, 1) == tf.constant(WHITESPACE_CODEPOINTS, tf.int32), axis=1)
    alone = tf.zeros_like(space)
    if tokenize_chinese_chars:
        for low, high in CJK_RANGES:
            alone |= (points >= low) & (points <= high)
    normalized = tf.where(removed, "", chars)  # NUL would stop the ops below
    if strip_accents:
        normalized = tf.strings.regex_replace(tf_text.normalize_utf8(normalized, "NFD"), r"\p{Mn}", "")
    if lowercase:
        normalized = tf.strings.lower(normalized, encoding="utf-8")
    alone |= tf.strings.regex_full_match(normalized, _PUNCTUATION_REGEX)
    normalized_bytes = tf.cast(tf.strings.length(normalized), tf.int64)
    char_ends = _with_stripped_marks(char_ends, rows, removed, space, normalized_bytes)

    # What survives cleaning: spaces (which split) and non-empty characters.
    survives = ~removed & (space | (normalized_bytes > 0))
    survivor_rows = tf.boolean_mask(rows, survives)
    survivor_space = tf.boolean_mask(space, survives)
    survivor_alone = tf.boolean_mask(alone, survives)
    previous_rows = tf.concat([[-1], survivor_rows[:-1]], axis=0)
    previous_splits = tf.concat([[True], survivor_space[:-1] | survivor_alone[:-1]], axis=0)
    begins_word = (survivor_rows != previous_rows) | previous_splits | survivor_alone
    begins_word = tf.boolean_mask(begins_word, ~survivor_space)
    word_ids = tf.cumsum(tf.cast(begins_word, tf.int64)) - 1
    num_words = tf.reduce_sum(tf.cast(begins_word, tf.int64))

    survives_and_kept = survives & ~space  # the characters of words
    kept_rows = tf.boolean_mask(rows, survives_and_kept)
    kept_text = tf.boolean_mask(normalized, survives_and_kept)
    kept_starts = tf.boolean_mask(char_starts, survives_and_kept)
    kept_ends = tf.boolean_mask(char_ends, survives_and_kept)
    kept_bytes = tf.boolean_mask(normalized_bytes, survives_and_kept)
    kept_keys = tf.cumsum(kept_bytes, exclusive=True)

    words = tf.strings.unsorted_segment_join(kept_text, word_ids, num_words)
    word_rows = tf.math.unsorted_segment_min(kept_rows, word_ids, num_words)
    word_starts = tf.math.unsorted_segment_min(kept_starts, word_ids, num_words)
    word_ends = tf.math.unsorted_segment_max(kept_ends, word_ids, num_words)
    word_keys = tf.math.unsorted_segment_min(kept_keys, word_ids, num_words)

    def ragged(values):
        # Sorted row ids by construction; validation would add ~40 ops per tensor to every serving request.
        return tf.RaggedTensor.from_value_rowids(values, word_rows, nrows=batch_size, validate=False)

    return {
        "words": ragged(words),
        "starts": ragged(word_starts),
        "ends": ragged(word_ends),
        "char_keys": kept_keys,
        "char_ends_keys": kept_keys + kept_bytes,
        "char_starts": kept_starts,
        "char_ends": kept_ends,
        "word_keys": word_keys,
    }


def _row_ids(row_splits):
    """The row of each value of a ragged tensor with `row_splits`: `value_rowids()` in 3 ops instead of ~75."""
    return tf.searchsorted(row_splits[1:], tf.range(row_splits[-1]), side="right", out_type=tf.int64)


def _with_stripped_marks(char_ends, rows, removed, space, normalized_bytes):
    """Each character's end, extended over the accent marks stripped right after it.

    A stripped mark belongs to the letter before it: "Beyonce\u0301" ends
    after the mark, so a span never cuts a character from its accent.
    """
    stripped = ~removed & ~space & (normalized_bytes == 0)
    # Runs: a character that is not a stripped mark, then the marks after it.
    run = tf.cumsum(tf.cast(~stripped, tf.int64)) - 1
    positions = tf.range(tf.size(run, out_type=tf.int64))
    run_count = tf.maximum(tf.reduce_max(run) + 1, 0)  # 0 for an empty batch
    owner = tf.gather(tf.math.unsorted_segment_min(positions, tf.maximum(run, 0), run_count), tf.maximum(run, 0))
    attached = stripped & (run >= 0) & (tf.gather(rows, owner) == rows)
    owner = tf.where(attached, owner, positions)
    return tf.math.unsorted_segment_max(char_ends, owner, tf.size(char_ends, out_type=tf.int64))


class BertWordPiece(tf.Module):
    """BERT's tokenizer as TensorFlow ops: `split_words`, then WordPiece with a limit in characters.

    Args:
        vocabulary: list of tokens.
        lowercase, strip_accents, tokenize_chinese_chars: BERT's settings
            (`strip_accents=None` strips when lowercasing).
        unknown_token: the token of a word WordPiece cannot cover.
        max_chars_per_word: a longer word (in characters) is one unknown token.

    Example:
    ```python
    wordpiece = BertWordPiece(vocabulary, lowercase=True)
    ids, starts, ends = wordpiece.tokenize_with_offsets(tf.constant(["他说：“你好！”"]))
    ```
    """

    def __init__(self, vocabulary, lowercase=False, strip_accents=None, tokenize_chinese_chars=True,
                 unknown_token="[UNK]", max_chars_per_word=MAX_CHARS_PER_WORD, token_out_type=tf.int32):
        super().__init__()
        self.lowercase = bool(lowercase)
        self.strip_accents = resolve_strip_accents(strip_accents, lowercase)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.unknown_token = unknown_token
        self.max_chars_per_word = int(max_chars_per_word)
        self.fast_wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=list(vocabulary),
            token_out_type=token_out_type,
            suffix_indicator="##",
            # The limit is in characters and checked before; a character is at most 4 bytes.
            max_bytes_per_word=4 * self.max_chars_per_word,
            unknown_token=unknown_token,
            no_pretokenization=True,
            support_detokenization=True,
        )

    def _split(self, texts):
        split = split_words(texts, self.lowercase, self.strip_accents, self.tokenize_chinese_chars)
        words = split["words"]
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > self.max_chars_per_word
        split["too_long"] = too_long
        split["words"] = words.with_flat_values(tf.where(too_long, self.unknown_token, words.flat_values))
        return split

    def tokenize(self, texts):
        """Ragged `[batch, tokens]` ids of a `[batch]` string tensor."""
        words = self._split(texts)["words"]
        # WordPiece over the flat words, then each row's pieces counted: no ragged validation in the graph.
        pieces = self.fast_wordpiece.tokenize(words.flat_values)
        per_row = tf.math.unsorted_segment_sum(pieces.row_lengths(), words.value_rowids(), words.nrows())
        row_splits = tf.concat([tf.zeros([1], per_row.dtype), tf.cumsum(per_row)], axis=0)
        return tf.RaggedTensor.from_row_splits(pieces.flat_values, row_splits, validate=False)

    def tokenize_with_offsets(self, texts):
        """`(ids, starts, ends)`: ragged `[batch, tokens]`; UTF-8 byte offsets into the original texts.

        A piece spans the original characters its normalised bytes came from
        ("Beyoncé" -> "beyonce": the piece "##ce" spans "cé"); a piece that
        starts or ends inside one character's expansion spans that whole
        character, and an over-long word's [UNK] spans the word.
        """
        split = self._split(texts)
        ids, piece_starts, piece_ends = self.fast_wordpiece.tokenize_with_offsets(split["words"])
        pieces_of_words = piece_starts.values  # ragged [words, pieces]
        piece_word = pieces_of_words.value_rowids()
        word_key = tf.gather(split["word_keys"], piece_word)
        start_keys = word_key + tf.cast(pieces_of_words.flat_values, tf.int64)
        end_keys = word_key + tf.cast(piece_ends.values.flat_values, tf.int64)
        # The character holding a piece's first byte, and the one holding its last.
        first_char = tf.searchsorted(split["char_keys"], start_keys, side="right", out_type=tf.int64) - 1
        last_char = tf.searchsorted(split["char_ends_keys"], end_keys, side="left", out_type=tf.int64)
        last_char = tf.minimum(last_char, tf.size(split["char_ends_keys"], out_type=tf.int64) - 1)
        starts = tf.gather(split["char_starts"], tf.maximum(first_char, 0))
        ends = tf.gather(split["char_ends"], tf.maximum(last_char, 0))
        too_long = tf.gather(split["too_long"], piece_word)
        starts = tf.where(too_long, tf.gather(split["starts"].flat_values, piece_word), starts)
        ends = tf.where(too_long, tf.gather(split["ends"].flat_values, piece_word), ends)
        ids = ids.merge_dims(-2, -1)
        return (
            ids,
            tf.RaggedTensor.from_row_splits(starts, ids.row_splits, validate=False),
            tf.RaggedTensor.from_row_splits(ends, ids.row_splits, validate=False),
        )

    def detokenize(self, ids):
        """Strings of ragged ids, pieces joined (`##` removed), words by spaces."""
        return self.fast_wordpiece.detokenize(ids)
