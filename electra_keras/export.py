"""The trained discriminator as a SavedModel that TF Serving loads as it is.

Signatures (all outputs float32, whatever the training precision):

- `serving_default`: `text` (a batch of UTF-8 strings) in; tokenized in the
  graph with tensorflow-text's WordPiece ops, framed `[CLS] text [SEP]` and
  truncated to the model's length. Out: `replaced_probability` per token,
  `tokens` (WordPiece strings, "" at padding), `token_ids`, `padding_mask`,
  `pooled_output` and `mean_pooled_output` (mean over real tokens).
- `pairs`: the same for `text` and `text_pair`, framed
  `[CLS] text [SEP] text_pair [SEP]`; an over-long pair is trimmed from the
  end of `text_pair` first, then `text`.
- `encode`: int32 `token_ids`, `segment_ids`, `padding_mask` in;
  `sequence_output` and `pooled_output` out.
- `rtd`: int32 `token_ids` in (padded with [PAD]; segments follow the first
  [SEP]); per-token discriminator `logits` out.

A fine-tuned `ElectraClassifier` exports with `export_classifier`:

- `serving_default` (and `pairs` for a pair task): `text` in; `probabilities`
  `[batch, classes]`, `label_id` and `label` (the class name) out; for
  regression one `score`.
- `classify`: TF Serving's Classify API (`:classify` in REST): serialized
  `tf.Example`s in (`inputs`, with a bytes feature `text`, and `text_pair`
  for a pair task); `classes` (names) and `scores` `[batch, classes]` out.
  For regression this is `regress` (the Regress API): `outputs` `[batch]`.

Only TensorFlow core ops and the tensorflow-text ops that the stock model
server links are used; undecodable bytes in the text are replaced, not fatal.
"""

import pathlib
import shutil
import tempfile

import keras
import keras_hub
import tensorflow as tf

from electra_keras import tokenizer as tokenization
from electra_keras.files import replace_directory

TEXT_SIGNATURES = ("serving_default", "pairs")
# Warmup requests when no sample of the training text is at hand.
DEFAULT_WARMUP_TEXTS = [
    "ELECTRA trains a discriminator to detect replaced tokens.",
    "대화 상자에 추가하는 콘트롤의 속성을 설정할 수 있습니다.",
    "",
] * 11
ID_SIGNATURES = ("encode", "rtd")


class DiscriminatorServingModule(tf.Module):
    """A `tf.Module` with the serving signatures of a trained discriminator.

    Args:
        pretrainer: a trained `ElectraPretrainer` (only its discriminator and
            discriminator head are kept).
        vocabulary: list of WordPiece tokens, or a `vocab.txt` path.
        sequence_length: int, the length texts are truncated and padded to.
        lowercase, strip_accents: bool, as in training.

    Example:
    ```python
    module = electra_keras.export.DiscriminatorServingModule(pretrainer, "vocab.txt", 128)
    module.serving_default(tf.constant(["ELECTRA learns from all tokens."]))
    ```
    """

    def __init__(self, pretrainer, vocabulary, sequence_length, lowercase=False, strip_accents=False):
        super().__init__()
        if isinstance(vocabulary, (str, pathlib.Path)):
            vocabulary = tokenization.load_vocabulary(vocabulary)
        self.discriminator = pretrainer.discriminator
        self.discriminator_head = pretrainer.discriminator_head
        self.tokenizer = tokenization.make_tokenizer(vocabulary, lowercase, strip_accents)
        self.packer = keras_hub.layers.MultiSegmentPacker(
            sequence_length=sequence_length,
            start_value=self.tokenizer.cls_token_id,
            end_value=self.tokenizer.sep_token_id,
            pad_value=self.tokenizer.pad_token_id,
            # Waterfall trimming is core TF ops; round-robin needs an op
            # outside the TF Text set the model server is known to link.
            truncate="waterfall",
        )
        self.token_strings = tf.constant(list(vocabulary), dtype=tf.string)
        self.pad_token_id = self.tokenizer.pad_token_id
        self.sep_token_id = self.tokenizer.sep_token_id
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

    def _tokenize(self, text):
        # Invalid UTF-8 would stop the tokenizer's ops; replace it (U+FFFD).
        text = tf.strings.unicode_transcode(
            text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        return self.tokenizer(text)

    def _serve_text(self, text):
        token_ids, segment_ids = self.packer(self._tokenize(text))
        return self._describe(token_ids, segment_ids)

    def _serve_pairs(self, text, text_pair):
        tf.debugging.assert_equal(
            tf.shape(text), tf.shape(text_pair), message="text and text_pair need the same batch size"
        )
        token_ids, segment_ids = self.packer((self._tokenize(text), self._tokenize(text_pair)))
        return self._describe(token_ids, segment_ids)

    def _describe(self, token_ids, segment_ids):
        token_ids = tf.cast(token_ids, tf.int32)
        padding_mask = tf.cast(token_ids != self.pad_token_id, tf.int32)
        outputs = self._run(token_ids, tf.cast(segment_ids, tf.int32), padding_mask)
        mask = tf.cast(padding_mask, tf.float32)[:, :, None]
        mean_pooled = tf.reduce_sum(outputs["sequence_output"] * mask, axis=1) / tf.maximum(
            tf.reduce_sum(mask, axis=1), 1.0
        )
        tokens = tf.where(padding_mask > 0, tf.gather(self.token_strings, token_ids), "")
        return {
            "replaced_probability": tf.sigmoid(outputs["logits"]) * tf.cast(padding_mask, tf.float32),
            "tokens": tokens,
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "pooled_output": outputs["pooled_output"],
            "mean_pooled_output": mean_pooled,
        }

    def _encode(self, token_ids, segment_ids, padding_mask):
        outputs = self._run(token_ids, segment_ids, padding_mask)
        return {"sequence_output": outputs["sequence_output"], "pooled_output": outputs["pooled_output"]}

    def _rtd(self, token_ids):
        padding_mask = tf.cast(token_ids != self.pad_token_id, tf.int32)
        # [CLS] A [SEP] B [SEP]: segment 1 starts after the first [SEP].
        after_first_sep = tf.cumsum(tf.cast(token_ids == self.sep_token_id, tf.int32), axis=1, exclusive=True)
        segment_ids = tf.minimum(after_first_sep, 1) * padding_mask
        return {"logits": self._run(token_ids, segment_ids, padding_mask)["logits"]}

    def _run(self, token_ids, segment_ids, padding_mask):
        inputs = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        outputs = self.discriminator(inputs, training=False)
        logits = self.discriminator_head(outputs["sequence_output"])
        return {
            "logits": tf.cast(logits, tf.float32),
            "sequence_output": tf.cast(outputs["sequence_output"], tf.float32),
            "pooled_output": tf.cast(outputs["pooled_output"], tf.float32),
        }


def export_discriminator(pretrainer, export_dir, vocabulary, sequence_length, lowercase=False,
                         strip_accents=False, warmup_texts=None):
    """Writes the discriminator as a SavedModel at `export_dir`, atomically.

    Use TF Serving's layout, `BASE/NAME/VERSION`. The model is written to a
    temporary folder beside `export_dir` and renamed into place, so a reader
    never sees a half-written export; an existing export there is replaced.
    With `warmup_texts`, `assets.extra/tf_serving_warmup_requests` holds
    requests for the text signature (needs `tensorflow-serving-api`).

    Example:
    ```python
    electra_keras.export.export_discriminator(
        pretrainer, "models/electra/1", vocabulary="vocab.txt", sequence_length=128
    )
    loaded = tf.saved_model.load("models/electra/1")
    loaded.signatures["serving_default"](text=tf.constant(["Hello there."]))
    ```
    """
    export_dir = pathlib.Path(export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=export_dir.parent, prefix=f".{export_dir.name}-"))
    try:
        module = DiscriminatorServingModule(
            pretrainer, vocabulary, sequence_length, lowercase, strip_accents
        )
        # Keras' ExportArchive saves Keras 3 variables so that TF1-style
        # loaders (TF Serving) restore them; plain tf.saved_model.save of
        # the layers leaves the functions' variables unrestored there.
        module.pairs(tf.constant(["built"]), tf.constant(["too"]))  # builds tokenizer and packer
        archive = keras.export.ExportArchive()
        for resource in (module.discriminator, module.discriminator_head, module.tokenizer, module.packer):
            archive.track(resource)
        for name, function in module.signatures().items():
            archive.add_endpoint(name, function)
        archive.write_out(str(staging), verbose=False)
        if warmup_texts:
            write_warmup_requests(staging, export_dir.parent.name, warmup_texts)
        replace_directory(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


class ClassifierServingModule(tf.Module):
    """Serving signatures of a fine-tuned `ElectraClassifier` (see the module doc).

    Args:
        classifier: an `electra_keras.finetuning.ElectraClassifier`.
        vocabulary: list of WordPiece tokens, or a `vocab.txt` path.
        sequence_length: int.
        labels: the class names in logit order; `None` for a regressor
            (`num_classes=1`).
        pair: bool, whether the task reads `text` and `text_pair`.

    Example:
    ```python
    module = ClassifierServingModule(classifier, "vocab.txt", 128, labels=["rotten", "fresh"])
    module.serving_default(tf.constant(["A quiet triumph."]))["label"]
    ```
    """

    def __init__(self, classifier, vocabulary, sequence_length, labels, pair=False,
                 lowercase=False, strip_accents=False):
        super().__init__()
        if isinstance(vocabulary, (str, pathlib.Path)):
            vocabulary = tokenization.load_vocabulary(vocabulary)
        outputs = classifier.outputs[0].shape[-1]
        if labels is not None and len(labels) != outputs:
            raise ValueError(f"{len(labels)} labels given for a classifier of {outputs} outputs")
        if labels is None and outputs != 1:
            raise ValueError(f"labels are needed for a classifier of {outputs} outputs")
        self.classifier = classifier
        self.labels = None if labels is None else tf.constant([str(label) for label in labels])
        self.pair = pair
        self.tokenizer = tokenization.make_tokenizer(vocabulary, lowercase, strip_accents)
        self.packer = keras_hub.layers.MultiSegmentPacker(
            sequence_length=sequence_length,
            start_value=self.tokenizer.cls_token_id,
            end_value=self.tokenizer.sep_token_id,
            pad_value=self.tokenizer.pad_token_id,
            truncate="waterfall",
        )
        self.pad_token_id = self.tokenizer.pad_token_id
        text = tf.TensorSpec([None], tf.string, name="text")
        examples = tf.TensorSpec([None], tf.string, name="inputs")
        if pair:
            self.pairs = tf.function(self._serve_pairs, input_signature=[text, tf.TensorSpec([None], tf.string, name="text_pair")])
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

    def _tokenize(self, text):
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
        return self.tokenizer(text)

    def _outputs(self, segments):
        token_ids, segment_ids = self.packer(segments)
        token_ids = tf.cast(token_ids, tf.int32)
        inputs = {
            "token_ids": token_ids,
            "segment_ids": tf.cast(segment_ids, tf.int32),
            "padding_mask": tf.cast(token_ids != self.pad_token_id, tf.int32),
        }
        return tf.cast(self.classifier(inputs, training=False), tf.float32)

    def _describe(self, logits):
        if self.labels is None:
            return {"score": logits[:, 0]}
        label_id = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {
            "probabilities": tf.nn.softmax(logits),
            "label_id": label_id,
            "label": tf.gather(self.labels, label_id),
        }

    def _serve_text(self, text):
        return self._describe(self._outputs(self._tokenize(text)))

    def _serve_pairs(self, text, text_pair):
        tf.debugging.assert_equal(tf.shape(text), tf.shape(text_pair), message="text and text_pair need the same batch size")
        return self._describe(self._outputs((self._tokenize(text), self._tokenize(text_pair))))

    def _parse(self, serialized):
        features = {"text": tf.io.FixedLenFeature([], tf.string)}
        if self.pair:
            features["text_pair"] = tf.io.FixedLenFeature([], tf.string)
        parsed = tf.io.parse_example(serialized, features)
        if self.pair:
            return self._outputs((self._tokenize(parsed["text"]), self._tokenize(parsed["text_pair"])))
        return self._outputs(self._tokenize(parsed["text"]))

    def _classify(self, inputs):
        scores = tf.nn.softmax(self._parse(inputs))
        classes = tf.tile(self.labels[None, :], [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    def _regress(self, inputs):
        return {"outputs": self._parse(inputs)[:, 0]}


# TF2's SavedModel writer marks every signature as Predict; TF Serving's
# Classify and Regress APIs look for these method names.
_SERVING_METHODS = {"classify": "tensorflow/serving/classify", "regress": "tensorflow/serving/regress"}


def export_classifier(classifier, export_dir, vocabulary, sequence_length, labels, pair=False,
                      lowercase=False, strip_accents=False):
    """Writes a fine-tuned classifier (or regressor) as a SavedModel, atomically.

    Args:
        labels: class names in logit order, or `None` for a regressor.
        pair: whether the task reads `text` and `text_pair`.

    Example:
    ```python
    electra_keras.export.export_classifier(
        classifier, "models/sentiment/1", "vocab.txt", 128, labels=["fresh", "rotten"]
    )
    # REST: POST /v1/models/sentiment:classify
    #   {"examples": [{"text": "A quiet triumph."}]}
    ```
    """
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = pathlib.Path(export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=export_dir.parent, prefix=f".{export_dir.name}-"))
    try:
        module = ClassifierServingModule(
            classifier, vocabulary, sequence_length, labels, pair, lowercase, strip_accents
        )
        module._outputs((module._tokenize(tf.constant(["built"])), module._tokenize(tf.constant(["too"]))))
        archive = keras.export.ExportArchive()
        for resource in (module.classifier, module.tokenizer, module.packer):
            archive.track(resource)
        for name, function in module.signatures().items():
            archive.add_endpoint(name, function)
        archive.write_out(str(staging), verbose=False)
        graph_path = staging / "saved_model.pb"
        saved_model = saved_model_pb2.SavedModel.FromString(graph_path.read_bytes())
        for name, signature in saved_model.meta_graphs[0].signature_def.items():
            if name in _SERVING_METHODS:
                signature.method_name = _SERVING_METHODS[name]
        graph_path.write_bytes(saved_model.SerializeToString())
        replace_directory(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def write_warmup_requests(saved_model_dir, model_name, texts):
    """Writes TF Serving warmup requests (`PredictionLog` records, at most 1000).

    Example:
    ```python
    write_warmup_requests("models/electra/1", "electra", ["a warmup sentence"])
    ```
    """
    from tensorflow_serving.apis import model_pb2
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    path = pathlib.Path(saved_model_dir) / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True, exist_ok=True)
    batches = [texts[:1], texts[:32]]
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in batches[:1000]:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default")
            )
            request.inputs["text"].CopyFrom(tf.make_tensor_proto([t.encode("utf-8") for t in batch]))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path
