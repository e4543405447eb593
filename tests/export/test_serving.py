"""The export as TF Serving sees it: loaded in a fresh graph-mode process."""

import base64
import json
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import MASK
from conftest import ROOT
from conftest import graph_mode
from conftest import make_batch
from conftest import run_signature

from electra_keras import export
from electra_keras.data.tokenizer import build_vocabulary
from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.pretraining.trainer import ElectraPretrainer

sys.path.insert(0, str(ROOT / "serving"))
import client_grpc  # noqa: E402
import client_rest  # noqa: E402

LENGTH = 24
TEXTS = [
    "The chef cooked the meal in the kitchen.",
    "대화 상자에 추가하는 콘트롤의 속성을 설정할 수 있습니다.",
    "Seoul is the capital of Korea.",
]
REGRESS_PAIRS = [TEXTS[1], TEXTS[2], TEXTS[0]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    vocabulary = build_vocabulary(TEXTS * 10, 300)
    pretrainer = ElectraPretrainer(
        {"vocabulary_size": len(vocabulary), "embedding_size": 16, "hidden_size": 32, "num_layers": 2,
         "num_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64},
        {}, mask_token_id=MASK, special_token_ids=[0, 2, 3, 4],
    )
    pretrainer.compile(optimizer=keras.optimizers.AdamW(1e-2), run_eagerly=True)
    batch = make_batch(vocabulary_size=len(vocabulary))
    pretrainer.fit(tf.data.Dataset.from_tensors(batch).repeat(), steps_per_epoch=3, verbose=0)
    export_dir = tmp_path_factory.mktemp("models") / "electra" / "1"
    export.export_discriminator(pretrainer, export_dir, vocabulary, LENGTH, warmup_texts=TEXTS)
    return pretrainer, export_dir, vocabulary


def keras_reference(pretrainer, token_ids, segment_ids):
    batch = {
        "token_ids": token_ids.astype("int32"),
        "segment_ids": segment_ids.astype("int32"),
        "padding_mask": (token_ids != 0).astype("int32"),
    }
    outputs = pretrainer.discriminator(batch)
    return batch, outputs, pretrainer(batch).numpy()


@pytest.mark.slow
def test_signatures_dtypes_and_shapes(exported):
    _, export_dir, _ = exported
    result = graph_mode("describe", export_dir)
    signatures = json.loads(result.stdout)
    assert set(signatures) == {"serving_default", "pairs", "encode", "rtd"}
    text = signatures["serving_default"]
    assert text["inputs"] == {"text": {"dtype": "string", "shape": [-1]}}
    assert set(signatures["pairs"]["inputs"]) == {"text", "text_pair"}
    # Per-token outputs are as wide as the bucket of the batch's longest text.
    assert text["outputs"]["replaced_probability"] == {"dtype": "float32", "shape": [-1, -1]}
    assert text["outputs"]["tokens"]["dtype"] == "string"
    assert text["outputs"]["pooled_output"] == {"dtype": "float32", "shape": [-1, 32]}
    assert text["outputs"]["mean_pooled_output"]["dtype"] == "float32"
    assert signatures["encode"]["outputs"]["sequence_output"] == {"dtype": "float32", "shape": [-1, -1, 32]}
    assert signatures["rtd"]["inputs"] == {"token_ids": {"dtype": "int32", "shape": [-1, -1]}}
    assert signatures["rtd"]["outputs"]["logits"]["dtype"] == "float32"


@pytest.mark.slow
def test_only_tensorflow_core_and_tensorflow_text_ops(exported):
    _, export_dir, _ = exported
    ops = json.loads(graph_mode("ops", export_dir).stdout)
    assert ops["unknown"] == []
    assert set(ops["tensorflow_text_ops"]) <= {"FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"}
    assert "FastWordpieceTokenizeWithOffsets" in ops["tensorflow_text_ops"]


def test_text_signatures_loaded_in_process_match_keras(exported):
    """The fast tier's look at an export; TF Serving's own loader is the slow tier's."""
    pretrainer, export_dir, vocabulary = exported
    loaded = tf.saved_model.load(str(export_dir))
    answer = loaded.signatures["serving_default"](text=tf.constant(TEXTS))
    token_ids = answer["token_ids"].numpy()
    tokenizer = make_tokenizer(vocabulary)
    first = [tokenizer.cls_token_id, *tokenizer([TEXTS[0]])[0], tokenizer.sep_token_id]
    assert token_ids[0, : len(first)].tolist() == first
    _, _, logits = keras_reference(pretrainer, token_ids, np.zeros_like(token_ids))
    mask = answer["padding_mask"].numpy()
    np.testing.assert_allclose(answer["replaced_probability"], tf.sigmoid(logits).numpy() * mask, atol=1e-5)
    pairs = loaded.signatures["pairs"](text=tf.constant(TEXTS[:2]), text_pair=tf.constant(TEXTS[1:]))
    segments = pairs["token_ids"].numpy() == tokenizer.sep_token_id
    assert (segments.sum(axis=1) == 2).all()  # [CLS] text [SEP] text_pair [SEP]


def test_length_buckets_give_the_fixed_length_outputs_on_the_real_tokens(exported):
    pretrainer, _, vocabulary = exported
    texts = [*TEXTS, "kitchen " * 30, ""]
    fixed = export.DiscriminatorServingModule(pretrainer, vocabulary, LENGTH, length_buckets=[LENGTH])
    outputs = {"fixed": fixed.serving_default(tf.constant(texts))}
    for group_by_length in (True, False):
        buckets = export.LengthBuckets(LENGTH, [8, 16], group_by_length=group_by_length)
        module = export.DiscriminatorServingModule(pretrainer, vocabulary, LENGTH, length_buckets=buckets)
        outputs[group_by_length] = module.serving_default(tf.constant(texts))
        short = module.serving_default(tf.constant(texts[:1]))
        assert short["replaced_probability"].shape[1] < LENGTH  # a short text runs narrow
        np.testing.assert_allclose(
            short["replaced_probability"], outputs["fixed"]["replaced_probability"][:1, : short["tokens"].shape[1]],
            atol=1e-5,
        )
    for name, value in outputs["fixed"].items():
        for grouped in (True, False):
            if value.dtype == tf.float32:
                np.testing.assert_allclose(outputs[grouped][name].numpy(), value.numpy(), atol=1e-5, err_msg=name)
            else:
                np.testing.assert_array_equal(outputs[grouped][name].numpy(), value.numpy(), err_msg=name)


@pytest.mark.slow
def test_xla_export_serves_in_graph_mode_like_the_plain_one(exported, tmp_path):
    pretrainer, export_dir, vocabulary = exported
    xla_dir = tmp_path / "xla" / "1"
    export.export_discriminator(
        pretrainer, xla_dir, vocabulary, LENGTH, length_buckets=export.LengthBuckets(LENGTH, jit_compile=True)
    )
    texts = {"text": [TEXTS[0], "kitchen " * 30, TEXTS[1]]}
    plain = run_signature(export_dir, tmp_path, "serving_default", texts)
    compiled = run_signature(xla_dir, tmp_path, "serving_default", texts)
    np.testing.assert_array_equal(compiled["token_ids"], plain["token_ids"])
    np.testing.assert_allclose(compiled["replaced_probability"], plain["replaced_probability"], atol=1e-5)
    np.testing.assert_allclose(compiled["mean_pooled_output"], plain["mean_pooled_output"], atol=1e-5)
    assert json.loads(graph_mode("ops", xla_dir).stdout)["xla_compiled_calls"] > 0
    assert json.loads(graph_mode("ops", export_dir).stdout)["xla_compiled_calls"] == 0


@pytest.mark.slow
def test_text_signature_in_graph_mode_matches_keras(exported, tmp_path):
    pretrainer, export_dir, vocabulary = exported
    answer = run_signature(export_dir, tmp_path, "serving_default", {"text": TEXTS})
    token_ids = answer["token_ids"]
    tokenizer = make_tokenizer(vocabulary)
    for row, text in enumerate(TEXTS):
        expected = [tokenizer.cls_token_id, *tokenizer([text])[0], tokenizer.sep_token_id]
        assert token_ids[row, : len(expected)].tolist() == expected
        assert answer["tokens"][row, 0] == b"[CLS]"
    _, outputs, logits = keras_reference(pretrainer, token_ids, np.zeros_like(token_ids))
    mask = answer["padding_mask"]
    np.testing.assert_allclose(answer["replaced_probability"], tf.sigmoid(logits).numpy() * mask, atol=1e-5)
    np.testing.assert_allclose(answer["pooled_output"], outputs["pooled_output"], atol=1e-5)
    sequence = outputs["sequence_output"].numpy()
    mean = (sequence * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    np.testing.assert_allclose(answer["mean_pooled_output"], mean, atol=1e-5)


@pytest.mark.slow
def test_pairs_encode_and_rtd_match_keras(exported, tmp_path):
    pretrainer, export_dir, vocabulary = exported
    answer = run_signature(export_dir, tmp_path, "pairs", {"text": TEXTS[:2], "text_pair": TEXTS[1:]})
    token_ids = answer["token_ids"]
    sep_positions = [np.flatnonzero(row == 3) for row in token_ids]
    segment_ids = np.zeros_like(token_ids)
    for row, positions in enumerate(sep_positions):
        assert len(positions) == 2
        segment_ids[row, positions[0] + 1 : positions[1] + 1] = 1
    batch, outputs, logits = keras_reference(pretrainer, token_ids, segment_ids)
    np.testing.assert_allclose(answer["replaced_probability"], tf.sigmoid(logits).numpy() * answer["padding_mask"], atol=1e-5)

    rtd = run_signature(export_dir, tmp_path, "rtd", {"token_ids": token_ids.tolist()})
    np.testing.assert_allclose(rtd["logits"], logits, atol=1e-5)
    encoded = run_signature(export_dir, tmp_path, "encode", {k: v.tolist() for k, v in batch.items()})
    np.testing.assert_allclose(encoded["sequence_output"], outputs["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(encoded["pooled_output"], outputs["pooled_output"], atol=1e-5)


def rows_to_columns(body):
    """TF Serving's row format: a list of objects keyed by input name."""
    instances = body["instances"]
    return {key: [instance[key] for instance in instances] for key in instances[0]}


@pytest.mark.slow
def test_rest_and_grpc_requests_parse_into_the_signature_inputs(exported, tmp_path):
    _, export_dir, _ = exported
    body = json.loads(json.dumps(client_rest.build_request(TEXTS, TEXTS[::-1])))
    assert body["signature_name"] == "pairs"
    from_rest = run_signature(export_dir, tmp_path, body["signature_name"], rows_to_columns(body))
    request = client_grpc.build_request("electra", TEXTS, TEXTS[::-1])
    assert request.model_spec.signature_name == "pairs"
    grpc_inputs = {
        key: [v.decode("utf-8") for v in tf.make_ndarray(value)] for key, value in request.inputs.items()
    }
    from_grpc = run_signature(export_dir, tmp_path, "pairs", grpc_inputs)
    np.testing.assert_array_equal(from_rest["token_ids"], from_grpc["token_ids"])
    np.testing.assert_allclose(from_rest["replaced_probability"], from_grpc["replaced_probability"])


@pytest.mark.slow
def test_edge_inputs_give_defined_answers(exported, tmp_path):
    _, export_dir, _ = exported
    invalid_utf8 = b"caf\xe9 \xff broken"
    # 9,599 characters: within the default limit of 10,000 per text, and far past the length.
    body = client_rest.build_request(["", " ".join(["kitchen"] * 1200), invalid_utf8])
    assert body["instances"][2]["text"] == {"b64": base64.b64encode(invalid_utf8).decode()}
    answer = run_signature(export_dir, tmp_path, "serving_default", rows_to_columns(body))
    assert answer["token_ids"].shape == (3, LENGTH)
    assert answer["padding_mask"][0].sum() == 2  # [CLS] [SEP]
    assert answer["padding_mask"][1].sum() == LENGTH  # truncated, not failed
    assert answer["tokens"][1, -1] == b"[SEP]"
    assert answer["padding_mask"][2].sum() > 2
    assert np.isfinite(answer["replaced_probability"]).all()

    empty = run_signature(export_dir, tmp_path, "serving_default", {"text": []})
    assert empty["replaced_probability"].shape == (0, 8)  # the narrowest bucket


@pytest.mark.slow
def test_mismatched_pairs_get_an_error_answer_not_a_crash(exported, tmp_path):
    _, export_dir, _ = exported
    request = tmp_path / "bad.json"
    request.write_text(json.dumps({"text": ["a", "b"], "text_pair": ["c"]}))
    result = graph_mode("run", export_dir, "--signature", "pairs", "--inputs", request, "--output", tmp_path / "x.npz")
    assert result.returncode == 3
    assert "text and text_pair need the same batch size" in json.loads(result.stdout)["error"]


def test_warmup_requests_are_prediction_logs(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    _, export_dir, _ = exported
    path = export_dir / "assets.extra" / "tf_serving_warmup_requests"
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    assert len(records) == 2 + 3 * 6  # the sample texts at 1 and 32 rows; buckets 8, 16 and 24 at 1..32 rows
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record)
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        assert tf.make_ndarray(request.inputs["text"]).dtype == object


def test_export_is_atomic_and_replaces_a_version(exported, tmp_path):
    pretrainer, export_dir, vocabulary = exported
    target = tmp_path / "electra" / "1"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("old")
    export.export_discriminator(pretrainer, target, vocabulary, LENGTH)
    assert (target / "saved_model.pb").exists() and not (target / "stale.txt").exists()
    assert [p.name for p in target.parent.iterdir()] == ["1"]


# --- Fine-tuned classifiers: Predict, Classify and Regress signatures --------


def serialized_examples(**features):
    """Base64 JSON values of serialized tf.Examples with bytes features."""
    rows = zip(*features.values())
    return [
        {"b64": base64.b64encode(tf.train.Example(features=tf.train.Features(feature={
            name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))
            for name, value in zip(features, row)
        })).SerializeToString()).decode("ascii")}
        for row in rows
    ]


@pytest.fixture(scope="module")
def classifiers(exported, tmp_path_factory):
    from electra_keras.finetuning import ElectraClassifier

    pretrainer, _, vocabulary = exported
    keras.utils.set_random_seed(3)
    classifier = ElectraClassifier(pretrainer.discriminator, num_classes=3)
    regressor = ElectraClassifier(pretrainer.discriminator, num_classes=1)
    # The briefly trained encoder gives nearly the same features for every text, so a
    # random head would score the rows alike and a row mix-up in the signature could
    # pass unseen. Least squares sets the head so the regress test's rows score -1, 0, 1.
    from electra_keras.finetuning import encode_pairs

    head = regressor.get_layer("head_logits")
    pooled = keras.Model(regressor.inputs, head.input)
    features = keras.ops.convert_to_numpy(
        pooled(encode_pairs(make_tokenizer(vocabulary), TEXTS, REGRESS_PAIRS, LENGTH))
    ).astype("float64")
    design = np.concatenate([features, np.ones((len(features), 1))], axis=1)
    weights = np.linalg.lstsq(design, np.array([-1.0, 0.0, 1.0]), rcond=None)[0]
    head.kernel.assign(weights[:-1, None].astype("float32"))
    head.bias.assign(weights[-1:].astype("float32"))
    base = tmp_path_factory.mktemp("classifiers")
    export.export_classifier(classifier, base / "topic" / "1", vocabulary, LENGTH, labels=["a", "b", "c"])
    export.export_classifier(regressor, base / "similarity" / "1", vocabulary, LENGTH, labels=None, pair=True)
    return vocabulary, classifier, regressor, base


@pytest.mark.slow
def test_classifier_signatures_carry_the_serving_api_method_names(classifiers):
    _, _, _, base = classifiers
    topic = json.loads(graph_mode("describe", base / "topic" / "1").stdout)
    assert topic["classify"]["method_name"] == "tensorflow/serving/classify"
    assert topic["classify"]["inputs"] == {"inputs": {"dtype": "string", "shape": [-1]}}
    assert topic["classify"]["outputs"]["classes"]["dtype"] == "string"
    assert topic["serving_default"]["method_name"] == "tensorflow/serving/predict"
    similarity = json.loads(graph_mode("describe", base / "similarity" / "1").stdout)
    assert similarity["regress"]["method_name"] == "tensorflow/serving/regress"
    assert set(similarity["serving_default"]["inputs"]) == {"text", "text_pair"}
    ops = json.loads(graph_mode("ops", base / "topic" / "1").stdout)
    assert ops["unknown"] == []


@pytest.mark.slow
def test_classify_and_predict_match_the_keras_classifier(classifiers, tmp_path):
    vocabulary, classifier, _, base = classifiers
    tokenizer = make_tokenizer(vocabulary)
    from electra_keras.finetuning import encode_pairs

    expected = keras.ops.convert_to_numpy(
        keras.ops.softmax(classifier(encode_pairs(tokenizer, TEXTS, [None] * 3, LENGTH)))
    )
    classified = run_signature(base / "topic" / "1", tmp_path, "classify", {"inputs": serialized_examples(text=TEXTS)})
    np.testing.assert_allclose(classified["scores"], expected, atol=1e-5)
    assert classified["classes"].tolist() == [[b"a", b"b", b"c"]] * 3
    predicted = run_signature(base / "topic" / "1", tmp_path, "serving_default", {"text": TEXTS})
    np.testing.assert_allclose(predicted["probabilities"], expected, atol=1e-5)
    assert [label.decode() for label in predicted["label"]] == [["a", "b", "c"][i] for i in expected.argmax(-1)]


@pytest.mark.slow
def test_regress_reads_text_pairs_from_examples(classifiers, tmp_path):
    vocabulary, _, regressor, base = classifiers
    from electra_keras.finetuning import encode_pairs

    pairs = REGRESS_PAIRS
    expected = keras.ops.convert_to_numpy(regressor(encode_pairs(make_tokenizer(vocabulary), TEXTS, pairs, LENGTH)))[:, 0]
    # The fixture's head spreads these rows a whole unit apart, so a row mix-up would show;
    # that steep head also magnifies float32 noise to about 2e-4, hence the bound of 1e-3.
    np.testing.assert_allclose(expected, [-1.0, 0.0, 1.0], atol=0.05)
    regressed = run_signature(
        base / "similarity" / "1", tmp_path, "regress", {"inputs": serialized_examples(text=TEXTS, text_pair=pairs)}
    )
    np.testing.assert_allclose(regressed["outputs"], expected, atol=1e-3)
    scored = run_signature(base / "similarity" / "1", tmp_path, "serving_default", {"text": TEXTS, "text_pair": pairs})
    np.testing.assert_allclose(scored["score"], expected, atol=1e-3)


@pytest.mark.slow
def test_export_classifier_refuses_labels_that_do_not_fit(classifiers, tmp_path):
    vocabulary, classifier, _, _ = classifiers
    with pytest.raises(ValueError, match="2 labels given for a classifier of 3 outputs"):
        export.export_classifier(classifier, tmp_path / "m" / "1", vocabulary, LENGTH, labels=["a", "b"])
    assert not (tmp_path / "m" / "1").exists()


@pytest.mark.slow
def test_a_multi_label_text_classifier_serves_scores_and_thresholded_selections(exported, tmp_path):
    from electra_keras.models import ElectraTextClassifier

    pretrainer, _, vocabulary = exported
    keras.utils.set_random_seed(4)
    classifier = ElectraTextClassifier(pretrainer.discriminator, 3, multi_label=True, thresholds=[0.2, 0.5, 0.8])
    head = classifier.head_logits  # steep, so the rows' scores spread over the thresholds
    head.kernel.assign(head.kernel * 300.0)
    export_dir = tmp_path / "tags" / "1"
    export.export_classifier(classifier, export_dir, vocabulary, LENGTH, labels=["x", "y", "z"])
    signatures = json.loads(graph_mode("describe", export_dir).stdout)
    assert signatures["classify"]["method_name"] == "tensorflow/serving/classify"
    assert set(signatures["serving_default"]["outputs"]) == {"scores", "selected", "classes"}
    assert (export_dir / "assets.extra" / "tf_serving_warmup_requests").is_file()
    answer = run_signature(export_dir, tmp_path, "serving_default", {"text": TEXTS})
    tokenizer = make_tokenizer(vocabulary)
    from electra_keras.finetuning import encode_pairs

    logits = keras.ops.convert_to_numpy(classifier(encode_pairs(tokenizer, TEXTS, [None] * 3, LENGTH)))
    expected = 1.0 / (1.0 + np.exp(-logits))
    np.testing.assert_allclose(answer["scores"], expected, atol=1e-5)
    assert answer["selected"].tolist() == (expected >= np.array([0.2, 0.5, 0.8])).astype(int).tolist()
    assert answer["classes"][0].tolist() == [b"x", b"y", b"z"]
