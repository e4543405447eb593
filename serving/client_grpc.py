"""Ask a TF Serving model over gRPC (tensorflow-serving-api `PredictionService`).

Example:
    ```
    python serving/client_grpc.py --target localhost:8500 --model electra "The chef cooked the meal."
    ```
"""

import argparse
import sys


def build_request(model, texts, text_pairs=None):
    """A `PredictRequest` for `serving_default`, or `pairs` with text pairs.

    Example:
    ```python
    request = build_request("electra", ["Hello."])
    ```
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "serving_default" if text_pairs is None else "pairs"
    encode = [t if isinstance(t, bytes) else t.encode("utf-8") for t in texts]
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(encode, dtype=tf.string, shape=[len(encode)]))
    if text_pairs is not None:
        pairs = [t if isinstance(t, bytes) else t.encode("utf-8") for t in text_pairs]
        request.inputs["text_pair"].CopyFrom(tf.make_tensor_proto(pairs, dtype=tf.string, shape=[len(pairs)]))
    return request


def predict(target, request, timeout=30.0):
    """Sends `request` to the server at `target`; returns numpy outputs."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout)
    return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="*", default=["The chef cooked the meal."])
    parser.add_argument("--target", default="localhost:8500")
    parser.add_argument("--model", default="electra")
    args = parser.parse_args()
    outputs = predict(args.target, build_request(args.model, args.texts))
    for tokens, probabilities in zip(outputs["tokens"], outputs["replaced_probability"]):
        for token, probability in zip(tokens, probabilities):
            if token:
                print(f"{token.decode('utf-8', 'replace'):>20s} {probability:.3f}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
