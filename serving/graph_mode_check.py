"""Load a SavedModel the way TF Serving's model server does, and run it.

No TF Serving binary runs on every machine, so this stands in for it: graph
mode, a `tf.compat.v1.Session`, `saved_model.loader.load` with the `serve`
tag, signatures run by their tensor names, and nothing imported but
tensorflow and tensorflow_text (the ops the stock server links).

Examples:
    ```
    python serving/graph_mode_check.py describe models/electra/1
    python serving/graph_mode_check.py ops models/electra/1
    python serving/graph_mode_check.py run models/electra/1 --signature serving_default \
        --inputs request.json --output answer.npz
    ```
`describe` prints the signatures as JSON (what `saved_model_cli show` reports);
`ops` lists the graph's op types, any that neither TensorFlow core nor
tensorflow-text registers, and how many calls XLA must compile; `run` feeds
a JSON object of input name to nested lists (strings as UTF-8, or `{"b64": ...}` for raw bytes) and writes the
outputs to an `.npz` file. A request the model rejects exits with code 3 and
the error, as the server would answer it. From Python, `ServedModel` keeps an
export loaded for many requests from many threads (what
`benchmarks/serving_load.py` drives), and `answer_digest` tells whether two
answers are byte-equal.
"""

import argparse
import base64
import hashlib
import json
import pathlib
import sys

import numpy as np
import tensorflow as tf


def describe(export_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((pathlib.Path(export_dir) / "saved_model.pb").read_bytes())
    (meta_graph,) = [m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags]
    signatures = {}
    for name, signature in meta_graph.signature_def.items():
        if name.startswith("__"):
            continue
        signatures[name] = {
            "method_name": signature.method_name,
            **{side: {
                key: {
                    "dtype": tf.dtypes.as_dtype(info.dtype).name,
                    "shape": [d.size for d in info.tensor_shape.dim],
                }
                for key, info in getattr(signature, side).items()
            }
            for side in ("inputs", "outputs")},
        }
    return signatures, meta_graph


def list_ops(export_dir):
    """Op types of the graph and its functions, split by who registers them."""
    from tensorflow.python.framework import op_def_registry

    _, meta_graph = describe(export_dir)
    graph = meta_graph.graph_def
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    ops = {node.op for node in nodes}
    functions = {f.signature.name for f in graph.library.function}
    ops -= functions
    core = {op for op in ops if op_def_registry.get(op) is not None}
    import tensorflow_text  # noqa: F401  (registers its ops)

    text_ops = {op for op in ops - core if op_def_registry.get(op) is not None}
    return {
        "ops": sorted(ops),
        "tensorflow_text_ops": sorted(text_ops),
        "unknown": sorted(ops - core - text_ops),
        # Calls compiled with XLA: the model server needs --xla_cpu_compilation_enabled=true.
        "xla_compiled_calls": sum(
            1 for node in nodes if "_XlaMustCompile" in node.attr and node.attr["_XlaMustCompile"].b
        ),
    }


def _decode_value(value):
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


class ServedModel:
    """A SavedModel loaded as the model server loads it, its signatures callable from many threads.

    A graph-mode `tf.compat.v1.Session`, `loader.load` with the `serve` tag;
    a request's arrays go into `Session::Run` as they come, with no
    Python-side dtype or shape checks, as TF Serving feeds a request's
    tensors. A rejected request raises the `tf.errors.OpError` the server
    would answer with.

    Example:
    ```python
    served = ServedModel("models/electra/1")
    served.warm_up()  # assets.extra/tf_serving_warmup_requests, as the server runs it at load
    served("serving_default", {"text": np.array([b"Hello."], dtype=object)})["replaced_probability"]
    ```
    """

    def __init__(self, export_dir):
        import tensorflow_text  # noqa: F401  (the server links these ops)

        self.export_dir = pathlib.Path(export_dir)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.session = tf.compat.v1.Session(graph=self.graph)
            self.meta_graph = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], str(export_dir))
        self.signatures = {name: signature for name, signature in self.meta_graph.signature_def.items()
                           if not name.startswith("__")}

    def __call__(self, signature_name, inputs):
        """Runs one signature on a dict of input name -> numpy array; returns a dict of numpy outputs."""
        signature = self.signatures[signature_name]
        missing = set(signature.inputs) - set(inputs)
        extra = set(inputs) - set(signature.inputs)
        if missing or extra:
            # The server's own answer (INVALID_ARGUMENT) to a request with other input names.
            raise tf.errors.InvalidArgumentError(
                None, None, f"inputs must be {sorted(signature.inputs)}; missing {sorted(missing)}, extra {sorted(extra)}"
            )
        feed = {self._output(signature.inputs[name].name): np.asarray(value) for name, value in inputs.items()}
        names = sorted(signature.outputs)
        fetch = [self._output(signature.outputs[name].name) for name in names]
        return dict(zip(names, self.session._call_tf_sessionrun(None, feed, fetch, [], None)))

    def executed_ops(self, signature_name, inputs):
        """The ops one request runs, as `(node name, op type)` pairs, after the server's graph optimisation.

        From a full trace of one `Session::Run` (the function bodies it calls
        included); dead branches of conditionals do not run and are not listed.

        Example:
        ```python
        ops = served.executed_ops("serving_default", {"text": np.array([b"Hello."], dtype=object)})
        ops_by_part(ops)  # {"tokenization": ..., "model": ..., "bucketing and outputs": ...}
        ```
        """
        signature = self.signatures[signature_name]
        feed = {self.graph.get_tensor_by_name(signature.inputs[name].name): np.asarray(value)
                for name, value in inputs.items()}
        fetch = [self.graph.get_tensor_by_name(signature.outputs[name].name) for name in sorted(signature.outputs)]
        metadata = tf.compat.v1.RunMetadata()
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        self.session.run(fetch, feed, options=options, run_metadata=metadata)
        executed = []
        for device in metadata.step_stats.dev_stats:
            for node in device.node_stats:
                # The timeline label reads "name = OpType(inputs)".
                label = node.timeline_label
                if " = " in label:
                    executed.append((node.node_name, label.split(" = ", 1)[1].split("(", 1)[0]))
        return executed

    def _output(self, tensor_name):
        return self.graph.get_tensor_by_name(tensor_name)._as_tf_output()

    def warm_up(self):
        """Runs the export's warmup requests, as the server does at load; returns how many ran."""
        from tensorflow_serving.apis import prediction_log_pb2

        path = self.export_dir / "assets.extra" / "tf_serving_warmup_requests"
        records = tf.compat.v1.io.tf_record_iterator(str(path)) if path.is_file() else ()
        count = 0
        for record in records:
            request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
            inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
            self(request.model_spec.signature_name or "serving_default", inputs)
            count += 1
        return count


# The name scopes the exporters put the parts of a serving graph in.
OP_PARTS = ("tokenization", "model")


def ops_by_part(executed):
    """Counts of `ServedModel.executed_ops` by part of the graph and op type.

    Ops under a `tokenization` or `model` name scope count there; the rest
    (length buckets, output assembly, the executor's own nodes) count as
    `bucketing and outputs`.

    Example:
    ```python
    ops_by_part([("a/tokenization/Where", "Where"), ("model/MatMul", "_MklMatMul")])
    # {"tokenization": {"Where": 1}, "model": {"_MklMatMul": 1}, "bucketing and outputs": {}}
    ```
    """
    parts = {part: {} for part in (*OP_PARTS, "bucketing and outputs")}
    for name, op_type in executed:
        scopes = name.split("/")
        part = next((part for part in OP_PARTS if part in scopes), "bucketing and outputs")
        parts[part][op_type] = parts[part].get(op_type, 0) + 1
    return parts


def answer_digest(outputs):
    """A SHA-256 of a signature's outputs (names, dtypes, shapes and every byte): equal digests, byte-equal answers.

    Example:
    ```python
    answer_digest(served("serving_default", request)) == answer_digest(served("serving_default", request))
    ```
    """
    digest = hashlib.sha256()
    for name in sorted(outputs):
        value = np.asarray(outputs[name])
        digest.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
        if value.dtype == object:  # strings: their bytes, each with its length
            for item in value.ravel():
                digest.update(len(item).to_bytes(8, "little") + item)
        else:
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def run(export_dir, signature_name, inputs):
    """Runs one signature in a v1 Session; returns a dict of numpy outputs."""
    served = ServedModel(export_dir)
    signature = served.signatures[signature_name]
    arrays = {}
    for key, value in inputs.items():
        info = signature.inputs.get(key)
        dtype = tf.dtypes.as_dtype(info.dtype) if info is not None else tf.string
        arrays[key] = np.array(_decode_value(value), dtype=object if dtype == tf.string else dtype.as_numpy_dtype)
    return served(signature_name, arrays)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["describe", "ops", "run"])
    parser.add_argument("export_dir")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--inputs", help="JSON file: {input name: nested list}")
    parser.add_argument("--output", help=".npz file for the outputs of `run`")
    args = parser.parse_args()
    if args.command == "describe":
        print(json.dumps(describe(args.export_dir)[0], indent=2))
    elif args.command == "ops":
        print(json.dumps(list_ops(args.export_dir), indent=2))
    else:
        inputs = json.loads(pathlib.Path(args.inputs).read_text(encoding="utf-8"))
        try:
            outputs = run(args.export_dir, args.signature, inputs)
        except (tf.errors.OpError, ValueError) as error:
            lines = [line.strip() for line in getattr(error, "message", str(error)).splitlines()]
            lines = [line for line in lines if line and line != "Graph execution error:"]
            print(json.dumps({"error": lines[0] if lines else type(error).__name__}))
            return 3
        np.savez(args.output, **outputs)
        print(json.dumps({key: list(value.shape) for key, value in outputs.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
