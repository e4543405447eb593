"""Ask a TF Serving model for replaced-token probabilities over REST.

Sends `POST /v1/models/NAME:predict` with `{"signature_name", "instances"}`
(TF Serving's row format) and prints each token with its probability of
having been replaced. Text that is not valid UTF-8 is sent as `{"b64": ...}`,
as TF Serving expects for binary strings.

Example:
    ```
    python serving/client_rest.py --url http://localhost:8501 --model electra \
        "The chef cooked the meal." "서울은 한국의 수도입니다."
    python serving/client_rest.py --pair "A question?" "An answer."
    ```
"""

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request


def _string_value(text):
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(text).decode("ascii")}
    return text


def build_request(texts, text_pairs=None):
    """The JSON body for the `serving_default` (or, with pairs, `pairs`) signature.

    Example:
    ```python
    build_request(["Hello."])  # {"signature_name": "serving_default", "instances": [{"text": "Hello."}]}
    ```
    """
    if text_pairs is None:
        instances = [{"text": _string_value(t)} for t in texts]
        return {"signature_name": "serving_default", "instances": instances}
    if len(text_pairs) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text pairs")
    instances = [
        {"text": _string_value(t), "text_pair": _string_value(p)} for t, p in zip(texts, text_pairs)
    ]
    return {"signature_name": "pairs", "instances": instances}


def predict(url, model, body, timeout=30.0):
    """POSTs `body` to `url/v1/models/model:predict`; returns the `predictions`."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/models/{model}:predict",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["predictions"]
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"TF Serving answered {error.code}: {error.read().decode(errors='replace')}") from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="*", default=["The chef cooked the meal."])
    parser.add_argument("--pair", nargs=2, metavar=("TEXT", "TEXT_PAIR"), help="send one text pair")
    parser.add_argument("--url", default="http://localhost:8501")
    parser.add_argument("--model", default="electra")
    args = parser.parse_args()
    if args.pair:
        body = build_request([args.pair[0]], [args.pair[1]])
    else:
        body = build_request(args.texts)
    for prediction in predict(args.url, args.model, body):
        for token, probability in zip(prediction["tokens"], prediction["replaced_probability"]):
            if token:
                print(f"{token:>20s} {probability:.3f}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
