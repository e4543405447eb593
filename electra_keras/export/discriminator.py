"""The trained discriminator as a SavedModel that TF Serving loads as it is.

Signatures (all outputs float32, whatever the training precision):

- `serving_default`: `text` (a batch of UTF-8 strings) in; tokenized in the
  graph with tensorflow-text's WordPiece ops, framed `[CLS] text [SEP]` and
  truncated to the model's length. Out: `replaced_probability` per token,
  `tokens` (WordPiece strings, "" at padding), `token_ids`, `padding_mask`,
  `pooled_output` and `mean_pooled_output` (mean over real tokens). Per-token
  outputs are as wide as the bucket (8, 16, 24, 32, 48, 64, ... up to the length) that
  holds the batch's longest text; see `length_buckets`.
- `pairs`: the same for `text` and `text_pair`, framed
  `[CLS] text [SEP] text_pair [SEP]`; an over-long pair is trimmed from the
  end of `text_pair` first, then `text`.
- `encode`: int32 `token_ids`, `segment_ids`, `padding_mask` in;
  `sequence_output` and `pooled_output` out.
- `rtd`: int32 `token_ids` in (padded with [PAD]; segments follow the first
  [SEP]); per-token discriminator `logits` out.

Undecodable bytes in the text are replaced, not fatal.
"""

import tensorflow as tf

from electra_keras.export.fused_encoder import FusedEncoder
from electra_keras.export.fused_encoder import serves_fused
from electra_keras.export.length_buckets import LengthBuckets
from electra_keras.export.savedmodel import write_saved_model
from electra_keras.export.text_encoding import ServingTextEncoder

TEXT_SIGNATURES = ("serving_default", "pairs")
ID_SIGNATURES = ("encode", "rtd")


class DiscriminatorServingModule(tf.Module):
    """A `tf.Module` with the serving signatures of a trained discriminator.

    Args:
        pretrainer: a trained `ElectraPretrainer` (only its discriminator and
            discriminator head are kept).
        vocabulary: list of WordPiece tokens, or a `vocab.txt` path.
        sequence_length: int, the length texts are truncated to.
        lowercase, strip_accents, tokenize_chinese_chars: BERT's tokenizer settings, as in training.
        length_buckets: a `LengthBuckets`, the widths the model runs at
            (default 8, 16, 24, 32, 48, 64, ... up to `sequence_length`, each text at
            its own bucket's width).
        request_limits: a `RequestLimits` (or a dict of its arguments), the
            largest request the signatures accept; default 64 texts,
            10,000 characters each, 100,000 in all.
        fused: bool, run the model as a `FusedEncoder` (the same function
            in about half the model's ops, weights copied at export) rather
            than through the Keras layers. A float32 discriminator without
            XLA only; mixed precision and `jit_compile` keep the Keras layers.

    Example:
    ```python
    module = electra_keras.export.DiscriminatorServingModule(pretrainer, "vocab.txt", 128)
    module.serving_default(tf.constant(["ELECTRA learns from all tokens."]))
    ```
    """

    def __init__(self, pretrainer, vocabulary, sequence_length, lowercase=False, strip_accents=None,
                 length_buckets=None, tokenize_chinese_chars=True, request_limits=None, fused=True):
        super().__init__()
        self.length_buckets = LengthBuckets.for_length(length_buckets, sequence_length)
        self.discriminator = pretrainer.discriminator
        self.discriminator_head = pretrainer.discriminator_head
        self.fused = None
        if serves_fused(fused, self.length_buckets) and FusedEncoder.supports(self.discriminator):
            self.fused = FusedEncoder(self.discriminator, self.discriminator_head)
        self.text_encoder = ServingTextEncoder(
            vocabulary, sequence_length, lowercase, strip_accents, tokenize_chinese_chars, request_limits
        )
        self.token_strings = tf.constant(self.text_encoder.vocabulary, dtype=tf.string)
        self.vocabulary_size = len(self.text_encoder.vocabulary)
        text = tf.TensorSpec([None], tf.string, name="text")
        ids = [tf.TensorSpec([None, None], tf.int32, name=n) for n in ("token_ids", "segment_ids", "padding_mask")]
        self.serving_default = tf.function(self._serve_text, input_signature=[text])
        self.pairs = tf.function(
            self._serve_pairs, input_signature=[text, tf.TensorSpec([None], tf.string, name="text_pair")]
        )
        self.encode = tf.function(self._encode, input_signature=ids)
        self.rtd = tf.function(self._rtd, input_signature=ids[:1])

    def signatures(self):
        return {name: getattr(self, name) for name in TEXT_SIGNATURES + ID_SIGNATURES}

    @property
    def resources(self):
        # The fused graph has its own copy of the weights: the Keras variables are not saved twice.
        model = (self.discriminator, self.discriminator_head) if self.fused is None else (self.fused,)
        return (*model, *self.text_encoder.resources)

    def _serve_text(self, text):
        return self._describe(self.text_encoder.encode(text))

    def _serve_pairs(self, text, text_pair):
        return self._describe(self.text_encoder.encode(text, text_pair))

    def _describe(self, inputs):
        per_token, per_row = self.length_buckets.run(self._describe_group, inputs)
        inputs = self.length_buckets.trim(inputs, tf.shape(per_token["logits"])[1])
        padding_mask = inputs["padding_mask"]
        tokens = tf.where(padding_mask > 0, tf.gather(self.token_strings, inputs["token_ids"]), "")
        return {
            "replaced_probability": tf.sigmoid(per_token["logits"]) * tf.cast(padding_mask, tf.float32),
            "tokens": tokens,
            "token_ids": inputs["token_ids"],
            "padding_mask": padding_mask,
            **per_row,
        }

    def _describe_group(self, inputs):
        outputs = self._run(**inputs)
        mask = tf.cast(inputs["padding_mask"], tf.float32)[:, :, None]
        mean_pooled = tf.reduce_sum(outputs["sequence_output"] * mask, axis=1) / tf.maximum(
            tf.reduce_sum(mask, axis=1), 1.0
        )
        return {"logits": outputs["logits"]}, {
            "pooled_output": outputs["pooled_output"], "mean_pooled_output": mean_pooled
        }

    def _encode(self, token_ids, segment_ids, padding_mask):
        token_ids = self.text_encoder.request_limits.checked_ids("token_ids", token_ids, self.vocabulary_size)
        outputs = self._run(token_ids, segment_ids, padding_mask)
        return {"sequence_output": outputs["sequence_output"], "pooled_output": outputs["pooled_output"]}

    def _rtd(self, token_ids):
        token_ids = self.text_encoder.request_limits.checked_ids("token_ids", token_ids, self.vocabulary_size)
        padding_mask = tf.cast(token_ids != self.text_encoder.pad_token_id, tf.int32)
        # [CLS] A [SEP] B [SEP]: segment 1 starts after the first [SEP].
        sep = tf.cast(token_ids == self.text_encoder.sep_token_id, tf.int32)
        segment_ids = tf.minimum(tf.cumsum(sep, axis=1, exclusive=True), 1) * padding_mask
        return {"logits": self._run(token_ids, segment_ids, padding_mask)["logits"]}

    def _run(self, token_ids, segment_ids, padding_mask):
        if self.fused is not None:
            return self.fused.forward(token_ids, segment_ids, padding_mask)
        inputs = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        with tf.name_scope("model"):  # names this part in op counts
            outputs = self.discriminator(inputs, training=False)
            logits = self.discriminator_head(outputs["sequence_output"])
        return {
            "logits": tf.cast(logits, tf.float32),
            "sequence_output": tf.cast(outputs["sequence_output"], tf.float32),
            "pooled_output": tf.cast(outputs["pooled_output"], tf.float32),
        }


def export_discriminator(pretrainer, export_dir, vocabulary, sequence_length, lowercase=False,
                         strip_accents=None, warmup_texts=None, length_buckets=None, tokenize_chinese_chars=True,
                         request_limits=None, fused=True):
    """Writes the discriminator as a SavedModel at `export_dir`, atomically.

    Use TF Serving's layout, `BASE/NAME/VERSION`. With `warmup_texts`,
    `assets.extra/tf_serving_warmup_requests` holds requests for the text
    signature (needs `tensorflow-serving-api`). `length_buckets` (a
    `LengthBuckets`) sets the widths the model runs at; `request_limits` (a
    `RequestLimits` or a dict of its arguments) the largest request served.
    `fused=False` serves through the Keras layers instead of a `FusedEncoder`.

    Example:
    ```python
    electra_keras.export.export_discriminator(
        pretrainer, "models/electra/1", vocabulary="vocab.txt", sequence_length=128
    )
    loaded = tf.saved_model.load("models/electra/1")
    loaded.signatures["serving_default"](text=tf.constant(["Hello there."]))
    ```
    """
    module = DiscriminatorServingModule(
        pretrainer, vocabulary, sequence_length, lowercase, strip_accents, length_buckets, tokenize_chinese_chars,
        request_limits, fused,
    )
    warmup = {"text": list(warmup_texts)} if warmup_texts else None
    shapes = module.length_buckets.warmup_requests(module.text_encoder.vocabulary)
    return write_saved_model(
        export_dir, module.resources, module.signatures(), warmup, shapes, module.text_encoder.request_limits
    )

