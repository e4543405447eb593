"""The `answer` signature: the windows and the best span of `data/squad.py`, computed in the serving graph."""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import MASK
from conftest import graph_mode
from conftest import run_signature

from electra_keras.data.tokenizer import build_vocabulary
from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.export.answerer import AnswererServingModule
from electra_keras.export.answerer import export_answerer
from electra_keras.models.task_heads import ElectraQuestionAnswerer
from electra_keras.pretraining.trainer import ElectraPretrainer
from electra_keras.tasks.formats.squad import SquadExample
from electra_keras.tasks.formats.squad import decode_answers
from electra_keras.tasks.formats.squad import make_windows

LENGTH = 32
QUESTIONS = ["수도는 어디입니까?", "首都是哪里？", "What is the capital of Korea?", "Anything?", "Where?"]
CONTEXTS = [
    "서울은 대한민국의 수도이다. 부산은 항구 도시이다. " * 3,
    "北京是中国的首都。上海很大。",
    "Seoul is the capital of Korea, and Busan is a port. Café au lait in İstanbul. " * 3,
    "",
    "A short one.",
]


@pytest.fixture(scope="module")
def reader_and_vocabulary():
    vocabulary = build_vocabulary(CONTEXTS * 5 + QUESTIONS * 5, 200)
    encoder = ElectraPretrainer(
        {"vocabulary_size": len(vocabulary), "embedding_size": 16, "hidden_size": 32, "num_layers": 2,
         "num_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64},
        {}, mask_token_id=MASK, special_token_ids=[0, 2, 3, 4],
    ).discriminator
    return ElectraQuestionAnswerer(encoder), vocabulary


def python_answers(reader, vocabulary, max_answer_length, n_best=5):
    examples = [SquadExample(str(i), q, c) for i, (q, c) in enumerate(zip(QUESTIONS, CONTEXTS))]
    windows = make_windows(examples, make_tokenizer(vocabulary), LENGTH, max_question_tokens=8, doc_stride=10)
    logits = reader({k: windows[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    return windows, decode_answers(examples, windows, np.asarray(logits["start_logits"]),
                                   np.asarray(logits["end_logits"]), n_best=n_best,
                                   max_answer_length=max_answer_length)


def test_serving_windows_and_spans_equal_the_python_pipeline_in_every_script(reader_and_vocabulary):
    reader, vocabulary = reader_and_vocabulary
    module = AnswererServingModule(reader, vocabulary, LENGTH, max_question_tokens=8, doc_stride=10,
                                   max_answer_length=5, n_best=5)
    windows, expected = python_answers(reader, vocabulary, max_answer_length=5)
    inputs, _ = module.windows(tf.constant(QUESTIONS), tf.constant(CONTEXTS))
    for name in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(inputs[name].numpy(), windows[name])
    assert np.bincount(windows["example_index"])[[0, 2]].min() > 1  # long contexts took several windows
    answer = {k: v.numpy() for k, v in module.answer(tf.constant(QUESTIONS), tf.constant(CONTEXTS)).items()}
    for row, prediction in enumerate(expected):
        assert answer["answer"][row].decode() == prediction.text
        assert (answer["start"][row], answer["end"][row]) == (prediction.char_start, prediction.char_end)
        if prediction.text:
            assert CONTEXTS[row][answer["start"][row]:answer["end"][row]] == prediction.text
            assert answer["score"][row] == pytest.approx(prediction.score, abs=1e-4)
            assert answer["null_score_diff"][row] == pytest.approx(prediction.null_diff, abs=1e-4)
    assert answer["answer"][3] == b"" and answer["start"][3] == -1  # an empty context has no answer


@pytest.mark.slow  # traces another serving graph (about 15 s)
def test_the_null_threshold_turns_weak_answers_into_no_answer(reader_and_vocabulary):
    reader, vocabulary = reader_and_vocabulary
    _, expected = python_answers(reader, vocabulary, max_answer_length=30)
    diffs = sorted(p.null_diff for p in expected if p.text)
    threshold = (diffs[0] + diffs[1]) / 2
    module = AnswererServingModule(reader, vocabulary, LENGTH, 8, 10, 30, null_threshold=threshold, n_best=5)
    answer = module.answer(tf.constant(QUESTIONS), tf.constant(CONTEXTS))
    kept = [text.decode() for text in answer["answer"].numpy()]
    assert kept == [p.text if p.text and p.null_diff <= threshold else "" for p in expected]
    assert sum(bool(text) for text in kept) == 1
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        module.answer(tf.constant(QUESTIONS[:2]), tf.constant(CONTEXTS[:1]))


@pytest.mark.slow  # traces another serving graph (about 15 s)
def test_empty_contexts_answer_nothing_beside_others_and_long_answers_fit_short_rows(reader_and_vocabulary):
    reader, vocabulary = reader_and_vocabulary
    # max_answer_length above the row length, and a batch mixing empty and real contexts.
    module = AnswererServingModule(reader, vocabulary, 16, max_question_tokens=4, doc_stride=4,
                                   max_answer_length=40)
    answer = module.answer(tf.constant(["q", "q", "q"]), tf.constant(["", " Seoul is the capital", ""]))
    assert [a.decode() for a in answer["answer"].numpy()][0::2] == ["", ""]
    start, end = int(answer["start"][1]), int(answer["end"][1])
    assert answer["answer"].numpy()[1].decode() == " Seoul is the capital"[start:end] != ""


def test_a_length_without_room_for_a_context_is_refused(reader_and_vocabulary):
    reader, vocabulary = reader_and_vocabulary
    with pytest.raises(ValueError, match="leaves no room for a context"):
        AnswererServingModule(reader, vocabulary, 16, max_question_tokens=13)


@pytest.mark.slow
def test_the_exported_answer_signature_serves_in_graph_mode(reader_and_vocabulary, tmp_path):
    reader, vocabulary = reader_and_vocabulary
    export_dir = export_answerer(reader, tmp_path / "qa" / "1", vocabulary, LENGTH, 8, 10, 5,
                                 warmup_pairs=[(QUESTIONS[0], CONTEXTS[0])], n_best=5)
    signatures = json.loads(graph_mode("describe", export_dir).stdout)
    assert set(signatures) == {"answer", "serving_default"}
    assert set(signatures["answer"]["inputs"]) == {"question", "context"}
    assert signatures["answer"]["outputs"]["start"] == {"dtype": "int32", "shape": [-1]}
    ops = json.loads(graph_mode("ops", export_dir).stdout)
    assert ops["unknown"] == [] and set(ops["tensorflow_text_ops"]) <= {
        "FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"}
    served = run_signature(export_dir, tmp_path, "answer", {"question": QUESTIONS, "context": CONTEXTS})
    _, expected = python_answers(reader, vocabulary, max_answer_length=5)
    assert [a.decode() for a in served["answer"]] == [p.text for p in expected]
    assert (export_dir / "assets.extra" / "tf_serving_warmup_requests").is_file()
