"""Pay for the tokens a request has: the model runs at a few bucket widths, not at the full length.

A serving graph packs every text to the model's length, then runs the model
on only as many columns as the texts need, rounded up to a bucket width
(8, 16, 24, 32, 48, 64, ... up to the length by default), so the server sees few
shapes. With `group_by_length`, a batch is split by each text's own bucket
and every group runs at its width, so one long text does not make 31 short
ones pay for its padding; results come back in request order.

Outputs on the real tokens equal the fixed-length path's: the encoder masks
padding out of attention, and positions are absolute.
"""

import tensorflow as tf

from electra_keras.export.text_encoding import one_token_word

# The fused serving graph's cost follows the tokens, so buckets are fine-grained (past 16 tokens a text pays for
# less than half as many again as it has); XLA compiles once per width, so its buckets only double.
SHORTEST_BUCKET = 8
SHORTEST_XLA_BUCKET = 16


def default_length_buckets(sequence_length, jit_compile=False):
    """The default bucket widths below `sequence_length`, then `sequence_length` itself.

    8, 16, 24, 32, 48, 64, 96, ...: the powers of two from 8 and, from 16
    on, the midpoints between them. With `jit_compile` (XLA compiles each
    width once): the powers of two from 16.

    Example:
    ```python
    default_length_buckets(128)  # [8, 16, 24, 32, 48, 64, 96, 128]
    default_length_buckets(100)  # [8, 16, 24, 32, 48, 64, 96, 100]
    default_length_buckets(128, jit_compile=True)  # [16, 32, 64, 128]
    ```
    """
    widths = []
    width = SHORTEST_XLA_BUCKET if jit_compile else SHORTEST_BUCKET
    while width < sequence_length:
        widths.append(width)
        if not jit_compile and width >= 16 and width * 3 // 2 < sequence_length:
            widths.append(width * 3 // 2)
        width *= 2
    return widths + [sequence_length]


def check_length_buckets(widths, sequence_length, jit_compile=False):
    """The sorted bucket widths, ending at `sequence_length`; a clear error for others.

    Example:
    ```python
    check_length_buckets([64, 32], 128)  # [32, 64, 128]
    ```
    """
    if widths is None:
        return default_length_buckets(sequence_length, jit_compile)
    widths = sorted({int(width) for width in widths})
    bad = [width for width in widths if width < 1 or width > sequence_length]
    if bad:
        raise ValueError(
            f"length buckets {bad} are outside 1..{sequence_length} (the serving sequence length)"
        )
    return widths if widths[-1] == sequence_length else widths + [sequence_length]


class LengthBuckets:
    """Runs a model on a packed batch at bucket widths (see the module doc).

    Args:
        sequence_length: int, the length the batch is packed to.
        widths: the bucket widths; default `default_length_buckets`.
            `[sequence_length]` is the fixed-length path.
        group_by_length: bool, run each text at its own bucket's width (in
            one model call per bucket present) rather than the whole batch
            at its longest text's.
        jit_compile: bool, compile the model with XLA, once per shape it
            meets (TF Serving then needs `--xla_cpu_compilation_enabled`).

    Example:
    ```python
    buckets = LengthBuckets(128)
    per_token, per_row = buckets.run(
        lambda inputs: ({"logits": model(inputs)}, {}), encoder.encode(texts)
    )
    per_token["logits"].shape  # [batch, 16] for short texts
    ```
    """

    def __init__(self, sequence_length, widths=None, group_by_length=True, jit_compile=False):
        self.sequence_length = sequence_length
        self.widths = check_length_buckets(widths, sequence_length, jit_compile)
        self.group_by_length = group_by_length and len(self.widths) > 1
        self.jit_compile = jit_compile

    @classmethod
    def for_length(cls, length_buckets, sequence_length):
        """`length_buckets` (a `LengthBuckets` or a list of widths), or the default buckets when None.

        A `LengthBuckets` made for another sequence length is an error.

        Example:
        ```python
        LengthBuckets.for_length(None, 128).widths  # [8, 16, 24, 32, 48, 64, 96, 128]
        LengthBuckets.for_length([128], 128).widths  # [128]: the fixed-length path
        ```
        """
        if length_buckets is None or isinstance(length_buckets, (list, tuple)):
            return cls(sequence_length, length_buckets)
        if length_buckets.sequence_length != sequence_length:
            raise ValueError(
                f"length buckets for sequence length {length_buckets.sequence_length} given to an export "
                f"of sequence length {sequence_length}"
            )
        return length_buckets

    def warmup_requests(self, vocabulary, input_names=("text",)):
        """Requests that meet every bucket width at 1, 2, 4, ... 32 rows, for TF Serving's warmup file.

        Args:
            vocabulary: the export's WordPiece tokens; one of its whole
                words is repeated to make a text of each width.
            input_names: the signature's text inputs; a second one (a pair)
                gets empty strings.

        Example:
        ```python
        LengthBuckets(64).warmup_requests(["[PAD]", "the"])[0]  # {"text": ["the the ... the"]} (14 words)
        ```
        """
        word = one_token_word(vocabulary)
        if word is None:  # a vocabulary with no whole word: the sample texts warm up alone
            return []
        requests = []
        for width in self.widths:
            # [CLS] text [SEP], plus one more [SEP] for a pair.
            words = max(width - 1 - len(input_names), 0)
            text = " ".join([word] * words)
            for rows in WARMUP_ROW_COUNTS:
                requests.append({name: [text if i == 0 else ""] * rows for i, name in enumerate(input_names)})
        return requests

    def bucket_of(self, lengths):
        """The index of the narrowest bucket that holds each length."""
        return tf.searchsorted(tf.constant(self.widths, tf.int32), tf.cast(lengths, tf.int32), side="left")

    def width_of(self, lengths):
        """The width of the narrowest bucket that holds the longest of `lengths` (the narrowest for none)."""
        longest = tf.reduce_max(tf.concat([tf.cast(lengths, tf.int32), [0]], axis=0))
        return tf.gather(tf.constant(self.widths, tf.int32), self.bucket_of(longest[None])[0])

    def trim(self, inputs, width):
        """The first `width` columns of every `[batch, length]` input."""
        return {name: value[:, :width] for name, value in inputs.items()}

    def run(self, model_fn, inputs):
        """`model_fn` over `inputs` at bucket widths; returns `(per_token, per_row)` in batch order.

        Args:
            model_fn: takes a dict of `[rows, width]` inputs and returns two
                dicts: per-token outputs `[rows, width, ...]` and per-row
                outputs `[rows, ...]`.
            inputs: dict of `[batch, sequence_length]` tensors with a
                `padding_mask`.

        Per-token outputs are as wide as the bucket of the batch's longest
        text; columns past a text's own bucket are zero.
        """
        # One trace of the model for every width: each bucket's call reuses it.
        spec = {name: tf.TensorSpec([None, None], value.dtype) for name, value in inputs.items()}
        traced = tf.function(model_fn, input_signature=[spec])
        # The outputs' dtypes and trailing dimensions, for the groups no row falls in.
        specs = traced.get_concrete_function().structured_outputs
        model_fn = _rows_padded(tf.function(model_fn, jit_compile=True)) if self.jit_compile else traced
        lengths = tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=1)
        width = self.width_of(lengths)
        if not self.group_by_length:
            return model_fn(self.trim(inputs, width))
        bucket = self.bucket_of(lengths)
        # A batch in one bucket (every batch of one) runs at once: the grouping's ~100 ops are skipped.
        # (An empty batch has min > max, so it takes the grouped path, which handles it.)
        one_bucket = tf.equal(tf.reduce_min(bucket), tf.reduce_max(bucket))
        return tf.cond(
            one_bucket,
            lambda: model_fn(self.trim(inputs, width)),
            lambda: self._grouped(model_fn, specs, inputs, bucket, width),
        )

    def _grouped(self, model_fn, specs, inputs, bucket, width):
        """Each bucket's rows through `model_fn` at its width, put back in batch order."""
        rows, per_token, per_row = [], {}, {}
        for index, bucket_width in enumerate(self.widths):
            group = tf.reshape(tf.where(tf.equal(bucket, index)), [-1])
            group_inputs = {name: tf.gather(value, group)[:, :bucket_width] for name, value in inputs.items()}
            # An empty group skips the model: its layers' fixed cost is most of a short batch's latency.
            tokens, row_values = tf.cond(
                tf.size(group) > 0,
                lambda group_inputs=group_inputs: model_fn(group_inputs),
                lambda bucket_width=bucket_width: _empty_outputs(specs, bucket_width),
            )
            # Wider buckets than the batch's widest only ever hold no rows.
            pad = tf.maximum(width - bucket_width, 0)
            for name, value in tokens.items():
                padding = [[0, 0], [0, pad]] + [[0, 0]] * (len(value.shape) - 2)
                per_token.setdefault(name, []).append(tf.pad(value, padding)[:, :width])
            for name, value in row_values.items():
                per_row.setdefault(name, []).append(value)
            rows.append(group)
        # The groups' rows, concatenated, are a permutation of the batch; argsort undoes it.
        restore = tf.argsort(tf.concat(rows, axis=0))

        def in_batch_order(parts):
            return tf.gather(tf.concat(parts, axis=0), restore)

        return (
            {name: in_batch_order(parts) for name, parts in per_token.items()},
            {name: in_batch_order(parts) for name, parts in per_row.items()},
        )


# XLA compiles once per input shape: rows are padded to a power of two as widths are to a bucket.
_ROW_COUNTS = tuple(2**power for power in range(21))
# Warmup covers the batch sizes TF Serving's batching merges requests up to (serving/batching.config).
WARMUP_ROW_COUNTS = (1, 2, 4, 8, 16, 32)


def _rows_padded(model_fn):
    """`model_fn` run on its inputs padded with empty rows to a power of two, its outputs cut back."""

    def run(inputs):
        rows = tf.shape(inputs["padding_mask"])[0]
        counts = tf.constant(_ROW_COUNTS, tf.int32)
        padded = tf.gather(counts, tf.searchsorted(counts, rows[None])[0])
        inputs = {name: tf.pad(value, [[0, padded - rows], [0, 0]]) for name, value in inputs.items()}
        return tf.nest.map_structure(lambda value: value[:rows], model_fn(inputs))

    return run


def _empty_outputs(specs, width):
    """Zero-row outputs shaped like `model_fn`'s: `([0, width, ...] per token, [0, ...] per row)`."""
    tokens, rows = specs
    return (
        {name: tf.zeros([0, width, *spec.shape[2:]], spec.dtype) for name, spec in tokens.items()},
        {name: tf.zeros([0, *spec.shape[1:]], spec.dtype) for name, spec in rows.items()},
    )
