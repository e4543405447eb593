"""The fused serving graph: the Keras model's outputs from a fraction of its ops, loaded as TF Serving loads it."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from electra_keras import export
from electra_keras.export.fused_encoder import FusedEncoder
from electra_keras.export.length_buckets import LengthBuckets
from electra_keras.export.text_encoding import ServingTextEncoder
from electra_keras.pretraining.trainer import ElectraPretrainer
from conftest import ROOT
from tiny_export import LENGTH
from tiny_export import TEXTS
from tiny_export import tiny_pretrainer

sys.path.insert(0, str(ROOT / "serving"))
from graph_mode_check import ServedModel  # noqa: E402
from graph_mode_check import ops_by_part  # noqa: E402


def trained_like(pretrainer, seed=0):
    """Moves every weight off its initial value: non-zero biases, LayerNorms that scale and shift."""
    rng = np.random.default_rng(seed)
    for weight in pretrainer.weights:
        weight.assign(np.asarray(weight) + rng.normal(0.0, 0.05, weight.shape).astype("float32"))
    return pretrainer


def built_pretrainer(activation, embedding_size):
    keras.utils.set_random_seed(1)
    pretrainer = ElectraPretrainer(
        {"vocabulary_size": 50, "embedding_size": embedding_size, "hidden_size": 32, "num_layers": 2,
         "num_heads": 4, "intermediate_size": 48, "max_position_embeddings": 40, "hidden_activation": activation},
        {}, mask_token_id=4, special_token_ids=[0, 2, 3, 4],
    )
    pretrainer({"token_ids": np.full((1, 8), 5, "int32"), "segment_ids": np.zeros((1, 8), "int32"),
                "padding_mask": np.ones((1, 8), "int32")})
    return trained_like(pretrainer)


@pytest.mark.parametrize("activation, embedding_size, ffn_pieces",
                         [("gelu_approximate", 16, None), ("gelu", 32, None), ("gelu", 32, 2), ("gelu", 16, 3)])
def test_fused_outputs_equal_the_keras_models_on_every_real_token(activation, embedding_size, ffn_pieces):
    pretrainer = built_pretrainer(activation, embedding_size)
    rng = np.random.default_rng(0)
    token_ids = rng.integers(5, 50, size=(3, 12)).astype("int32")
    padding_mask = np.ones_like(token_ids)
    padding_mask[1, 7:] = 0
    padding_mask[2, 3:] = 0
    token_ids *= padding_mask
    segment_ids = np.zeros_like(token_ids)
    segment_ids[0, 6:] = 1  # a pair
    inputs = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
    expected = pretrainer.discriminator(inputs, training=False)
    expected_logits = keras.ops.convert_to_numpy(pretrainer.discriminator_head(expected["sequence_output"]))

    fused = FusedEncoder(pretrainer.discriminator, pretrainer.discriminator_head, ffn_pieces=ffn_pieces)
    assert fused.ffn_pieces == (ffn_pieces or 1)
    outputs = fused.forward(tf.constant(token_ids), tf.constant(segment_ids), tf.constant(padding_mask))

    real = padding_mask.astype(bool)
    sequence = keras.ops.convert_to_numpy(expected["sequence_output"])
    assert np.abs(sequence[real]).max() > 0.5  # outputs worth comparing
    np.testing.assert_allclose(outputs["sequence_output"].numpy()[real], sequence[real], atol=2e-5)
    np.testing.assert_allclose(outputs["logits"].numpy()[real], expected_logits[real], atol=2e-5)
    np.testing.assert_allclose(outputs["pooled_output"].numpy(),
                               keras.ops.convert_to_numpy(expected["pooled_output"]), atol=2e-5)


def model_inputs(batch=3, length=12, seed=0):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, 50, size=(batch, length)).astype("int32")
    padding_mask = np.ones_like(token_ids)
    padding_mask[1:, 7:] = 0
    return {"token_ids": token_ids * padding_mask, "segment_ids": np.zeros_like(token_ids),
            "padding_mask": padding_mask}


@pytest.mark.parametrize("kind", ["text_classifier", "classifier", "tagger", "reader"])
def test_task_models_through_the_fused_encoder_answer_as_their_keras_layers(kind):
    from electra_keras.export.fused_encoder import FusedTaskModel
    from electra_keras.models.task_heads import ElectraClassifier
    from electra_keras.models.task_heads import ElectraQuestionAnswerer
    from electra_keras.models.task_heads import ElectraTokenClassifier
    from electra_keras.models.text_classifier import ElectraTextClassifier

    encoder = built_pretrainer("gelu_approximate", 16).discriminator
    model = {
        "text_classifier": lambda: ElectraTextClassifier(encoder, num_classes=3),  # a keras-hub backbone
        "classifier": lambda: ElectraClassifier(encoder, num_classes=3),
        "tagger": lambda: ElectraTokenClassifier(encoder, num_classes=5),
        "reader": lambda: ElectraQuestionAnswerer(encoder),
    }[kind]()
    trained_like(model, seed=3)
    if kind == "text_classifier":
        import keras_hub

        assert isinstance(model.backbone, keras_hub.models.ElectraBackbone)
    assert FusedTaskModel.supports(model)
    inputs = model_inputs()
    expected = keras.tree.map_structure(keras.ops.convert_to_numpy, model(inputs, training=False))
    fused = FusedTaskModel(model)
    # Traced with unknown batch and length, as the length buckets trace it: the outputs keep their static width.
    spec = {name: tf.TensorSpec([None, None], tf.int32) for name in inputs}
    traced = tf.function(fused, input_signature=[spec]).get_concrete_function()
    for output in tf.nest.flatten(traced.structured_outputs):
        assert output.shape[2:] == keras.tree.flatten(expected)[0].shape[2:]
    answer = traced({name: tf.constant(value) for name, value in inputs.items()})
    answer = keras.tree.map_structure(lambda value: value.numpy(), answer)
    real = inputs["padding_mask"].astype(bool)
    for name in (sorted(expected) if isinstance(expected, dict) else [None]):
        want, got = (expected[name], answer[name]) if name else (expected, answer)
        assert got.shape == want.shape and np.abs(want).max() > 0.05
        if kind in ("classifier", "text_classifier"):
            np.testing.assert_allclose(got, want, atol=2e-5)
        else:
            np.testing.assert_allclose(got[real], want[real], atol=2e-5)
    assert not FusedTaskModel.supports(encoder)


def test_layer_weights_are_stacked_and_feed_forward_kernels_cut_to_fit_a_cache():
    pretrainer = built_pretrainer("gelu", 32)
    fused = FusedEncoder(pretrainer.discriminator, pretrainer.discriminator_head, ffn_pieces=2)
    # One variable per kind of layer weight, not per layer: each is a handle every call passes along.
    assert len(fused.layer_weights) == 12
    assert fused.layer_weights["intermediate_kernel"].shape == (2 * 2, 32, 24)  # layers * pieces
    assert fused.layer_weights["qkv_kernel"].shape[0] == 2
    # ELECTRA-Small's 1 MB kernels in halves (each matmul then fits TensorFlow's single-thread rule);
    # Base's 9 MB ones would take too many pieces, and a width that does not divide stays whole.
    assert FusedEncoder.default_ffn_pieces(256, 1024) == 2
    assert FusedEncoder.default_ffn_pieces(128, 512) == 1
    assert FusedEncoder.default_ffn_pieces(768, 3072) == 1
    assert FusedEncoder.default_ffn_pieces(256, 1025) == 1


def test_mixed_precision_keeps_the_keras_layers():
    pretrainer, vocabulary = tiny_pretrainer()
    assert FusedEncoder.supports(pretrainer.discriminator)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        bfloat16, _ = tiny_pretrainer()
    finally:
        keras.config.set_dtype_policy(policy)
    assert not FusedEncoder.supports(bfloat16.discriminator)
    with pytest.raises(ValueError, match="float32 ElectraEncoder"):
        FusedEncoder(bfloat16.discriminator)
    module = export.DiscriminatorServingModule(bfloat16, vocabulary, LENGTH)
    assert module.fused is None and bfloat16.discriminator in module.resources


@pytest.fixture(scope="module")
def fused_and_keras_exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fused")
    pretrainer, vocabulary = tiny_pretrainer()
    trained_like(pretrainer)
    for fused in (True, False):
        export.export_discriminator(pretrainer, folder / ("fused" if fused else "keras") / "1", vocabulary,
                                    LENGTH, warmup_texts=TEXTS, fused=fused)
    return {name: ServedModel(folder / name / "1") for name in ("fused", "keras")}, folder


def request(texts):
    return np.array([text.encode() for text in texts], dtype=object)


@pytest.mark.parametrize("texts", [TEXTS[:1], TEXTS, ["", "Seoul.", " ".join(TEXTS * 3)]])
def test_the_fused_export_answers_as_the_keras_export_in_graph_mode(fused_and_keras_exports, texts):
    served, _ = fused_and_keras_exports
    assert served["fused"].warm_up() > 0
    for signature, inputs in (("serving_default", {"text": request(texts)}),
                              ("pairs", {"text": request(texts), "text_pair": request(texts[::-1])})):
        fused, keras_answer = served["fused"](signature, inputs), served["keras"](signature, inputs)
        assert sorted(fused) == sorted(keras_answer)
        for name in ("tokens", "token_ids", "padding_mask"):
            np.testing.assert_array_equal(fused[name], keras_answer[name])
        for name in ("replaced_probability", "pooled_output", "mean_pooled_output"):
            np.testing.assert_allclose(fused[name], keras_answer[name], atol=1e-5)
    ids = served["keras"]("serving_default", {"text": request(texts)})["token_ids"]
    np.testing.assert_allclose(served["fused"]("rtd", {"token_ids": ids})["logits"],
                               served["keras"]("rtd", {"token_ids": ids})["logits"], atol=1e-4)


def test_the_fused_export_runs_a_fraction_of_the_ops_and_saves_its_weights_once(fused_and_keras_exports):
    served, folder = fused_and_keras_exports
    one_text = {"text": request(TEXTS[:1])}
    counts = {name: ops_by_part(model.executed_ops("serving_default", one_text)) for name, model in served.items()}
    model_ops = {name: sum(parts["model"].values()) for name, parts in counts.items()}
    # 2 layers here, where the per-call setup weighs most (fused 188 against 307 on TensorFlow 2.21; 2.16's
    # Keras graph is leaner, 243); the 12-layer small discriminator runs ~614 against ~1,250
    # (benchmarks/README.md).
    assert 0 < model_ops["fused"] < 0.85 * model_ops["keras"]
    # No model op that always wakes a second thread (oneDNN's batched matmul, transpose, softmax, LayerNorm;
    # the fused graph before the gathers ran 48 _MklBatchMatMulV2 a request).
    threaded = {"_MklBatchMatMulV2", "_MklTranspose", "_MklSoftmax", "_MklLayerNorm"}
    assert not threaded & set(counts["fused"]["model"])
    assert sum(counts["fused"]["tokenization"].values()) > 0
    # The weights are variables, saved once; none is a graph constant, which the server would copy into every
    # function it specialises per call site.
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir = folder / "fused" / "1"
    graph = saved_model_pb2.SavedModel.FromString((export_dir / "saved_model.pb").read_bytes())
    embedding_shape = list(tiny_pretrainer()[0].discriminator.embedding.token_embedding.embeddings.shape)
    constants = [node for function in graph.meta_graphs[0].graph_def.library.function for node in function.node_def
                 if node.op == "Const" and [d.size for d in node.attr["value"].tensor.tensor_shape.dim]
                 == embedding_shape]
    assert constants == []
    saved = [name for name, shape in tf.train.list_variables(str(export_dir / "variables" / "variables"))
             if shape == embedding_shape]
    assert len(saved) == 1


def test_packing_equals_keras_hubs_waterfall_packer():
    import keras_hub

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(40)]
    rng = np.random.default_rng(0)
    for length in (5, 8, 16):
        encoder = ServingTextEncoder(vocabulary, length)
        packer = keras_hub.layers.MultiSegmentPacker(
            sequence_length=length, start_value=2, end_value=3, pad_value=0, truncate="waterfall"
        )
        for _ in range(20):
            rows = int(rng.integers(1, 5))

            def segment():
                return tf.ragged.constant(
                    [list(rng.integers(5, 45, int(rng.integers(0, 2 * length)))) for _ in range(rows)],
                    dtype=tf.int32, ragged_rank=1,
                )

            first, second = segment(), segment()
            for pair in (False, True):
                ours = encoder.pack(first, second if pair else None)
                token_ids, segment_ids = packer((first, second) if pair else first)
                np.testing.assert_array_equal(ours["token_ids"], token_ids)
                np.testing.assert_array_equal(ours["segment_ids"], segment_ids)
                np.testing.assert_array_equal(ours["padding_mask"], np.asarray(token_ids) != 0)


def test_a_batch_in_one_bucket_runs_once_at_its_width_and_answers_as_the_full_length():
    def toy_model(inputs):
        ids = tf.cast(inputs["token_ids"], tf.float32)
        return {"running": tf.cumsum(ids, axis=1)}, {"width": tf.fill([tf.shape(ids)[0]], tf.shape(ids)[1])}

    positions = np.arange(64)[None, :]
    lengths = np.array([[20], [30], [25]])
    inputs = {"token_ids": tf.constant((positions + 1) * (positions < lengths), tf.int32),
              "padding_mask": tf.constant((positions < lengths).astype("int32"))}
    buckets = LengthBuckets(64, [16, 32, 64])
    per_token, per_row = tf.function(lambda batch: buckets.run(toy_model, batch))(inputs)
    assert per_row["width"].numpy().tolist() == [32, 32, 32]
    full, _ = toy_model(inputs)
    np.testing.assert_array_equal(per_token["running"], full["running"][:, :32])


def test_the_export_command_serves_the_fused_graph_unless_told_keras():
    from unittest import mock

    from electra_keras.cli import export as export_cli

    with mock.patch("electra_keras.export.job.export_pretrained", return_value="models/electra/1") as job:
        assert export_cli.main(["--run", "runs/x", "--base", "models"]) == 0
        assert job.call_args.kwargs["fused"] is True
        assert export_cli.main(["--run", "runs/x", "--base", "models", "--keras-graph"]) == 0
        assert job.call_args.kwargs["fused"] is False
