"""Limits on a request's size, enforced inside the serving graph.

Nothing else bounds a request: TF Serving accepts gRPC messages up to 2 GiB,
and one request of 10,000 texts took 7.3 s and raised a server's peak
memory from 1.1 to 2.5 GB. Every text signature therefore refuses, before
tokenizing, a request with more than `max_texts` texts, a text longer than
`max_text_characters` characters, or more than `max_request_characters`
characters in all (per input; characters are counted after invalid UTF-8
becomes U+FFFD), and a text input not shaped `[batch]`. The server answers
INVALID_ARGUMENT with a message that names the input, the value and the
limit, and goes on serving. The defaults (see `docs/serving.md`, "Request
limits", for the measurements):

- 64 texts: twice the 32 rows the server's batching merges
  (`serving/batching.config`); 256 texts of 390 characters took 8.2 s and
  470 MB on the small discriminator, 64 texts that fill 128 tokens 1.5 s
  and 64 MB.
- 10,000 characters per text: 15x what a 128-token model reads of English
  text (the rest is cut), and longer than any SQuAD or KorQuAD 1.0 context.
- 100,000 characters per request: what tokenizing costs; 20,000 for an
  answerer, which runs the model once per `doc_stride` tokens of context.
"""

import tensorflow as tf

DEFAULT_MAX_TEXTS = 64
DEFAULT_MAX_TEXT_CHARACTERS = 10_000
DEFAULT_MAX_REQUEST_CHARACTERS = 100_000
# An answerer reads a window every `doc_stride` tokens of each context: its work follows the characters.
ANSWERER_MAX_REQUEST_CHARACTERS = 20_000


class RequestLimits:
    """The most texts a request may hold, and the most characters a text and a request may have.

    Args:
        max_texts: int, texts per request (per input: a pair's `text` and
            `text_pair` each).
        max_text_characters: int, Unicode characters per text.
        max_request_characters: int, Unicode characters of all the texts of
            one input together: what tokenizing costs.

    Example:
    ```python
    limits = RequestLimits(max_texts=64)
    text = limits.checked("text", tf.constant(["a", "b"]))  # raises InvalidArgumentError past a limit
    ```
    """

    def __init__(self, max_texts=DEFAULT_MAX_TEXTS, max_text_characters=DEFAULT_MAX_TEXT_CHARACTERS,
                 max_request_characters=DEFAULT_MAX_REQUEST_CHARACTERS):
        for name, value in (("max_texts", max_texts), ("max_text_characters", max_text_characters),
                            ("max_request_characters", max_request_characters)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.max_texts = max_texts
        self.max_text_characters = max_text_characters
        self.max_request_characters = max_request_characters

    @classmethod
    def of(cls, limits, **defaults):
        """`limits` (a `RequestLimits`, or a dict of its arguments) over `defaults` and the class's defaults.

        Example:
        ```python
        RequestLimits.of({"max_texts": 32}).max_text_characters  # 10000
        RequestLimits.of(None, max_request_characters=20_000).max_texts  # 64
        ```
        """
        if limits is None or isinstance(limits, dict):
            return cls(**{**defaults, **(limits or {})})
        return limits

    def fitted(self, request):
        """A request (dict of input name -> list of strings) cut to the limits, for the warmup file.

        TF Serving does not load a model whose warmup request fails.

        Example:
        ```python
        RequestLimits(2, 3).fitted({"text": ["abcd", "e", "f"]})  # {"text": ["abc", "e"]}
        ```
        """
        fitted = {}
        for name, texts in request.items():
            kept, total = [], 0
            for text in texts[: self.max_texts]:
                text = text[: min(self.max_text_characters, self.max_request_characters - total)]
                kept.append(text)
                total += len(text)
            fitted[name] = kept
        return fitted

    def get_config(self):
        return {"max_texts": self.max_texts, "max_text_characters": self.max_text_characters,
                "max_request_characters": self.max_request_characters}

    def checked_ids(self, name, token_ids, vocabulary_size):
        """`token_ids` once it is `[rows, length]` with at most `max_texts` rows of ids in the vocabulary.

        Otherwise InvalidArgumentError when run (a negative id would
        otherwise be read from the end of the embedding table).
        """
        rank = tf.raw_ops.Rank(input=token_ids)  # tf.rank would fold to the signature's static rank
        shaped = tf.debugging.Assert(tf.equal(rank, 2), [tf.strings.format(
            f"{name}: a tensor of shape {{}}; {name} must be shaped [batch, length]", tf.shape(token_ids))])
        rows = tf.shape(token_ids)[0]
        many = tf.debugging.Assert(rows <= self.max_texts, [tf.strings.format(
            f"{name}: {{}} rows in one request; the limit is {self.max_texts} "
            "(export option max_texts); split the request", rows)])
        least, most = tf.reduce_min(tf.concat([tf.reshape(token_ids, [-1]), [0]], 0)), tf.reduce_max(token_ids)
        known = tf.debugging.Assert((least >= 0) & (most < vocabulary_size), [tf.strings.format(
            f"{name}: ids from {{}} to {{}}; ids must be in [0, {vocabulary_size}), the vocabulary", (least, most))])
        with tf.control_dependencies([shaped, many, known]):
            return tf.identity(token_ids)

    def checked(self, name, text):
        """`text` (valid UTF-8 strings) once it is shaped `[batch]` and within the limits; else InvalidArgumentError when run."""
        # TF Serving feeds a request's tensor as it comes; a [rows, n] batch would be answered as rows * n texts.
        # Rank as a raw op: tf.rank would fold to the signature's static rank, 1.
        rank = tf.raw_ops.Rank(input=text)
        flat = tf.debugging.Assert(tf.equal(rank, 1), [tf.strings.format(
            f"{name}: a tensor of shape {{}}; {name} must be a list of strings, shape [batch]",
            tf.shape(text))])
        count = tf.size(text)
        many = tf.debugging.Assert(count <= self.max_texts, [tf.strings.format(
            f"{name}: {{}} texts in one request; the limit is {self.max_texts} "
            "(export option max_texts); split the request", count)])
        lengths = tf.reshape(tf.strings.length(text, unit="UTF8_CHAR"), [-1])
        longest = tf.argmax(tf.concat([lengths, [0]], axis=0), output_type=tf.int32)
        length = tf.concat([lengths, [0]], axis=0)[longest]
        long = tf.debugging.Assert(length <= self.max_text_characters, [tf.strings.format(
            f"{name}[{{}}]: {{}} characters; the limit is {self.max_text_characters} "
            "per text (export option max_text_characters); shorten or split the text", (longest, length))])
        total = tf.reduce_sum(lengths)
        heavy = tf.debugging.Assert(total <= self.max_request_characters, [tf.strings.format(
            f"{name}: {{}} characters in one request; the limit is {self.max_request_characters} "
            "(export option max_request_characters); split the request", total)])
        with tf.control_dependencies([flat, many, long, heavy]):
            return tf.identity(text)
