"""Writing a SavedModel that TF Serving loads as it is, atomically, with warmup.

Keras' `ExportArchive` saves Keras 3 variables so that TF1-style loaders
(TF Serving's graph mode) restore them; plain `tf.saved_model.save` of the
layers leaves the functions' variables unrestored there. The export is
written to a staging folder beside its target and renamed into place, so a
reader never sees a half-written model; an existing export is replaced. A
write that fails (a full disk) raises `WriteFailed` and leaves what was there.
"""

import pathlib

import keras
import tensorflow as tf

from electra_keras.files import WriteFailed
from electra_keras.files import atomic_directory

# TF2's SavedModel writer marks every signature as Predict; TF Serving's
# Classify and Regress APIs look for these method names.
SERVING_METHODS = {"classify": "tensorflow/serving/classify", "regress": "tensorflow/serving/regress"}
# Warmup requests when no sample of the training text is at hand.
DEFAULT_WARMUP_TEXTS = [
    "ELECTRA trains a discriminator to detect replaced tokens.",
    "대화 상자에 추가하는 콘트롤의 속성을 설정할 수 있습니다.",
    "",
] * 11
# TF Serving stops reading a model's warmup file after this many records.
MAX_WARMUP_REQUESTS = 1000


def write_saved_model(export_dir, resources, endpoints, warmup_inputs=None, shape_warmup=(), request_limits=None):
    """Writes `endpoints` (name -> `tf.function`) as a SavedModel at `export_dir`.

    Args:
        export_dir: the version folder, `BASE/NAME/VERSION`.
        resources: the Keras layers and models the functions use.
        endpoints: dict of signature name -> traced-able `tf.function`.
        warmup_inputs: optional dict of input name -> list of strings for
            `serving_default` warmup requests.
        shape_warmup: more `serving_default` requests (dicts of input name
            -> list of strings), such as `LengthBuckets.warmup_requests`,
            written after those.
        request_limits: the export's `RequestLimits`; warmup requests are
            cut to them.

    Example:
    ```python
    write_saved_model("models/electra/1", [model], {"serving_default": serve})
    ```
    """
    export_dir = pathlib.Path(export_dir)
    # The staging name starts with a dot, so TF Serving (which loads the
    # highest all-digit folder) never sees a half-written version.
    with atomic_directory(export_dir) as staging:
        try:
            _write_into(
                staging, export_dir.parent.name, resources, endpoints, warmup_inputs, shape_warmup, request_limits
            )
        except tf.errors.OpError as error:
            # TensorFlow's writers report a full disk as an OpError, not an OSError.
            raise WriteFailed.about(export_dir, error) from error
    return export_dir


def _write_into(folder, model_name, resources, endpoints, warmup_inputs, shape_warmup, request_limits):
    from tensorflow.core.protobuf import saved_model_pb2

    archive = keras.export.ExportArchive()
    for resource in resources:
        archive.track(resource)
    for name, function in endpoints.items():
        archive.add_endpoint(name, function)
    archive.write_out(str(folder), verbose=False)
    if any(name in SERVING_METHODS for name in endpoints):
        graph_path = folder / "saved_model.pb"
        saved_model = saved_model_pb2.SavedModel.FromString(graph_path.read_bytes())
        for name, signature in saved_model.meta_graphs[0].signature_def.items():
            if name in SERVING_METHODS:
                signature.method_name = SERVING_METHODS[name]
        graph_path.write_bytes(saved_model.SerializeToString())
    if warmup_inputs:
        write_warmup_requests(folder, model_name, warmup_inputs, shape_warmup, request_limits)


def write_warmup_requests(saved_model_dir, model_name, inputs, more_requests=(), request_limits=None):
    """Writes TF Serving warmup requests (`PredictionLog` records, at most 1000).

    Two requests for `serving_default`: one row, and up to 32 rows; then
    `more_requests`.

    Args:
        inputs: dict of input name -> list of strings (one list per input of
            the signature, of equal length), or a list of strings for the
            input `text`.
        more_requests: more requests, each a dict like `inputs`.
        request_limits: a `RequestLimits` every request is cut to (TF
            Serving does not load a model whose warmup request fails).

    Example:
    ```python
    write_warmup_requests("models/electra/1", "electra", ["a warmup sentence"])
    ```
    """
    from tensorflow_serving.apis import model_pb2
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    if not isinstance(inputs, dict):
        inputs = {"text": list(inputs)}
    path = pathlib.Path(saved_model_dir) / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True, exist_ok=True)
    requests = [{name: texts[:rows] for name, texts in inputs.items()} for rows in (1, 32)] + list(more_requests)
    if request_limits is not None:
        requests = [request_limits.fitted(request) for request in requests]
    if len(requests) > MAX_WARMUP_REQUESTS:
        raise ValueError(f"{len(requests)} warmup requests; TF Serving reads at most {MAX_WARMUP_REQUESTS}")
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default")
            )
            for name, texts in batch.items():
                request.inputs[name].CopyFrom(
                    tf.make_tensor_proto([t.encode("utf-8") for t in texts], dtype=tf.string)
                )
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def next_version(model_dir):
    """1 + the highest numeric version folder in `model_dir` (TF Serving layout).

    Example:
    ```python
    next_version("models/electra")  # 3 when 1/ and 2/ exist
    ```
    """
    model_dir = pathlib.Path(model_dir)
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1
