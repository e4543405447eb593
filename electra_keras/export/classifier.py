"""A fine-tuned classifier (or regressor) as a SavedModel for TF Serving.

Signatures (float32 outputs):

- `serving_default` (and `pairs` for a pair task): `text` (and `text_pair`)
  in; `probabilities` `[batch, classes]`, `label_id`, `label` (the class
  name) and `classes` (every class name) out; for regression one `score`.
- `classify`: TF Serving's Classify API (`:classify` in REST): serialized
  `tf.Example`s in (`inputs`, with a bytes feature `text`, and `text_pair`
  for a pair task); `classes` (names) and `scores` `[batch, classes]` out.
  For regression this is `regress` (the Regress API): `outputs` `[batch]`.

A multi-label classifier (`ElectraTextClassifier(multi_label=True)`) gives
per-class sigmoid `scores` instead of a softmax, and `serving_default` adds
`selected` `[batch, classes]` (1 where a score reaches the class's tuned
threshold) beside `classes`.
"""

import tensorflow as tf

from electra_keras.export.fused_encoder import serving_task_model
from electra_keras.export.length_buckets import LengthBuckets
from electra_keras.export.savedmodel import DEFAULT_WARMUP_TEXTS
from electra_keras.export.savedmodel import write_saved_model
from electra_keras.export.text_encoding import ServingTextEncoder


class ClassifierServingModule(tf.Module):
    """Serving signatures of a fine-tuned `ElectraClassifier` (see the module doc).

    Args:
        classifier: an `electra_keras.models.ElectraClassifier`.
        vocabulary: list of WordPiece tokens, or a `vocab.txt` path.
        sequence_length: int.
        labels: the class names in logit order; `None` for a regressor
            (`num_classes=1`).
        pair: bool, whether the task reads `text` and `text_pair`.
        lowercase, strip_accents, tokenize_chinese_chars: BERT's tokenizer settings, as in training.
        length_buckets: a `LengthBuckets`, as in `DiscriminatorServingModule`.
        request_limits: a `RequestLimits`, as in `DiscriminatorServingModule`.
        fused: bool, run the encoder as a `FusedEncoder` where it can (a
            float32 `ElectraTextClassifier` or `ElectraClassifier`, no XLA).

    Example:
    ```python
    module = ClassifierServingModule(classifier, "vocab.txt", 128, labels=["rotten", "fresh"])
    module.serving_default(tf.constant(["A quiet triumph."]))["label"]
    ```
    """

    def __init__(self, classifier, vocabulary, sequence_length, labels, pair=False,
                 lowercase=False, strip_accents=None, length_buckets=None, tokenize_chinese_chars=True,
                 request_limits=None, fused=True):
        super().__init__()
        self.length_buckets = LengthBuckets.for_length(length_buckets, sequence_length)
        outputs = classifier.outputs[0].shape[-1]
        if labels is not None and len(labels) != outputs:
            raise ValueError(f"{len(labels)} labels given for a classifier of {outputs} outputs")
        if labels is None and outputs != 1:
            raise ValueError(f"labels are needed for a classifier of {outputs} outputs")
        self.model = serving_task_model(classifier, fused, self.length_buckets)
        self.labels = None if labels is None else tf.constant([str(label) for label in labels])
        self.pair = pair
        self.multi_label = bool(getattr(classifier, "multi_label", False))
        thresholds = getattr(classifier, "thresholds", None) or [0.5] * outputs
        self.thresholds = tf.constant(thresholds, dtype=tf.float32)
        self.text_encoder = ServingTextEncoder(
            vocabulary, sequence_length, lowercase, strip_accents, tokenize_chinese_chars, request_limits
        )
        text = tf.TensorSpec([None], tf.string, name="text")
        examples = tf.TensorSpec([None], tf.string, name="inputs")
        if pair:
            text_pair = tf.TensorSpec([None], tf.string, name="text_pair")
            self.pairs = tf.function(self._serve_pairs, input_signature=[text, text_pair])
        else:
            self.serving_default = tf.function(self._serve_text, input_signature=[text])
        if labels is None:
            self.regress = tf.function(self._regress, input_signature=[examples])
        else:
            self.classify = tf.function(self._classify, input_signature=[examples])

    def signatures(self):
        names = ["pairs" if self.pair else "serving_default", "classify" if self.labels is not None else "regress"]
        signatures = {name: getattr(self, name) for name in names}
        if self.pair:
            signatures["serving_default"] = self.pairs
        return signatures

    @property
    def resources(self):
        return (*self.model.resources, *self.text_encoder.resources)

    def logits(self, text, text_pair=None):
        """float32 logits of a batch of texts (or pairs)."""
        inputs = self.text_encoder.encode(text, text_pair if self.pair else None)
        _, per_row = self.length_buckets.run(
            lambda group: ({}, {"logits": tf.cast(self.model(group), tf.float32)}), inputs
        )
        return per_row["logits"]

    def _scores(self, logits):
        return tf.sigmoid(logits) if self.multi_label else tf.nn.softmax(logits)

    def _describe(self, logits):
        if self.labels is None:
            return {"score": logits[:, 0]}
        if self.multi_label:
            scores = self._scores(logits)
            return {
                "scores": scores,
                "selected": tf.cast(scores >= self.thresholds[None, :], tf.int32),
                "classes": tf.tile(self.labels[None, :], [tf.shape(scores)[0], 1]),
            }
        label_id = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {
            "probabilities": tf.nn.softmax(logits),
            "label_id": label_id,
            "label": tf.gather(self.labels, label_id),
            "classes": tf.tile(self.labels[None, :], [tf.shape(logits)[0], 1]),
        }

    def _serve_text(self, text):
        return self._describe(self.logits(text))

    def _serve_pairs(self, text, text_pair):
        return self._describe(self.logits(text, text_pair))

    def _parse(self, serialized):
        features = {"text": tf.io.FixedLenFeature([], tf.string)}
        if self.pair:
            features["text_pair"] = tf.io.FixedLenFeature([], tf.string)
        parsed = tf.io.parse_example(serialized, features)
        return self.logits(parsed["text"], parsed.get("text_pair"))

    def _classify(self, inputs):
        scores = self._scores(self._parse(inputs))
        classes = tf.tile(self.labels[None, :], [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    def _regress(self, inputs):
        return {"outputs": self._parse(inputs)[:, 0]}


def export_classifier(classifier, export_dir, vocabulary, sequence_length, labels, pair=False,
                      lowercase=False, strip_accents=None, warmup_texts=None, length_buckets=None,
                      tokenize_chinese_chars=True, request_limits=None, fused=True):
    """Writes a fine-tuned classifier (or regressor) as a SavedModel, atomically.

    Args:
        labels: class names in logit order, or `None` for a regressor.
        pair: whether the task reads `text` and `text_pair`.
        warmup_texts: texts for the TF Serving warmup requests (a few
            defaults when None).
        length_buckets: a `LengthBuckets`; see `ClassifierServingModule`.
        request_limits: a `RequestLimits` (or a dict of its arguments);
            default 64 texts, 10,000 characters each, 100,000 in all.
        fused: serve the encoder as a `FusedEncoder` where it can (see
            `ClassifierServingModule`); False keeps the Keras layers.

    Example:
    ```python
    electra_keras.export.export_classifier(
        classifier, "models/sentiment/1", "vocab.txt", 128, labels=["fresh", "rotten"]
    )
    # REST: POST /v1/models/sentiment:classify
    #   {"examples": [{"text": "A quiet triumph."}]}
    ```
    """
    module = ClassifierServingModule(
        classifier, vocabulary, sequence_length, labels, pair, lowercase, strip_accents, length_buckets,
        tokenize_chinese_chars, request_limits, fused,
    )
    module.logits(tf.constant(["built"]), tf.constant(["too"]))  # builds tokenizer and packer
    texts = list(warmup_texts or DEFAULT_WARMUP_TEXTS)
    warmup = {"text": texts, "text_pair": texts} if pair else {"text": texts}
    shapes = module.length_buckets.warmup_requests(module.text_encoder.vocabulary, list(warmup))
    return write_saved_model(
        export_dir, module.resources, module.signatures(), warmup, shapes, module.text_encoder.request_limits
    )
