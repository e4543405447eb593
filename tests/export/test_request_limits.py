"""Request limits: a request over one is refused with INVALID_ARGUMENT naming it, in graph mode, and serving goes on."""

import sys
import threading
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT
from tiny_export import tiny_pretrainer

from electra_keras import export
from electra_keras.export.request_limits import RequestLimits

sys.path.insert(0, str(ROOT / "serving"))
from graph_mode_check import ServedModel
from graph_mode_check import answer_digest

LENGTH = 24
TEXTS = ["The chef cooked the meal in the kitchen.", "대화 상자에 추가하는 콘트롤의 속성을 설정할 수 있습니다."]
LIMITS = {"max_texts": 4, "max_text_characters": 50, "max_request_characters": 160}


def strings(*texts):
    return np.array([t.encode("utf-8") if isinstance(t, str) else t for t in texts], dtype=object)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pretrainer, vocabulary = tiny_pretrainer(texts=TEXTS)
    export_dir = tmp_path_factory.mktemp("models") / "electra" / "1"
    export.export_discriminator(pretrainer, export_dir, vocabulary, LENGTH, warmup_texts=TEXTS, request_limits=LIMITS)
    model = ServedModel(export_dir)
    assert model.warm_up() > 2  # the warmup file is within the limits: the server would load the model
    return model


def refusal(served, signature, inputs):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        served(signature, inputs)
    return error.value.message


def test_warmup_requests_are_cut_to_the_limits():
    fitted = RequestLimits(2, 3, 4).fitted({"text": ["abcd", "efgh", "ij"], "text_pair": ["", "k", "l"]})
    assert fitted == {"text": ["abc", "e"], "text_pair": ["", "k"]}


def test_limits_must_be_positive_ints():
    assert RequestLimits.of(None).get_config() == {
        "max_texts": 64, "max_text_characters": 10_000, "max_request_characters": 100_000}
    assert RequestLimits.of({"max_texts": 8}).max_text_characters == 10_000
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_texts must be a positive int"):
            RequestLimits(max_texts=bad)


def test_requests_at_the_limits_are_served_and_over_them_refused_naming_the_limit(served):
    reference = served("serving_default", {"text": strings(*TEXTS)})
    at_limits = ["a" * 50, "서" * 50, "😀" * 50, "b" * 10]  # 50 characters whatever their bytes; 160 in all
    answer = served("serving_default", {"text": strings(*at_limits)})
    assert answer["token_ids"].shape[0] == 4

    message = refusal(served, "serving_default", {"text": strings(*TEXTS, *TEXTS, "five")})
    assert "text: 5 texts in one request; the limit is 4 (export option max_texts)" in message
    message = refusal(served, "serving_default", {"text": strings("short", "서" * 51)})
    assert "text[1]: 51 characters; the limit is 50 per text (export option max_text_characters)" in message
    # Invalid UTF-8 counts as the U+FFFD characters the tokenizer would read.
    message = refusal(served, "serving_default", {"text": strings("a" * 50, "b" * 50, "c" * 50, "d" * 11)})
    assert "text: 161 characters in one request; the limit is 160 (export option max_request_characters)" in message
    message = refusal(served, "serving_default", {"text": strings(b"\x80" * 51)})
    assert "text[0]: 51 characters" in message
    message = refusal(served, "serving_default", {"text": np.array([[b"a", b"b"]], dtype=object)})
    assert "text: a tensor of shape [1 2]; text must be a list of strings, shape [batch]" in message
    message = refusal(served, "pairs", {"text": strings("a"), "text_pair": strings("b" * 60)})
    assert "text_pair[0]: 60 characters" in message

    # The server goes on, and answers as before the refusals.
    assert answer_digest(served("serving_default", {"text": strings(*TEXTS)})) == answer_digest(reference)


def test_id_signatures_refuse_too_many_rows_and_ids_outside_the_vocabulary(served):
    ids = np.full([2, 8], 7, np.int32)
    assert served("rtd", {"token_ids": ids})["logits"].shape == (2, 8)
    assert "token_ids: 5 rows in one request; the limit is 4" in refusal(
        served, "rtd", {"token_ids": np.full([5, 8], 7, np.int32)})
    negative = ids.copy()
    negative[1, 3] = -2  # Keras' embedding would read it from the end of the table
    assert "token_ids: ids from -2 to 7; ids must be in [0, " in refusal(served, "rtd", {"token_ids": negative})
    inputs = {"token_ids": np.full([5, 8], 7, np.int32), "segment_ids": np.zeros([5, 8], np.int32),
              "padding_mask": np.ones([5, 8], np.int32)}
    assert "5 rows in one request" in refusal(served, "encode", inputs)


def test_refused_requests_beside_good_ones_leave_the_good_answers_unchanged(served):
    good = {"text": strings(*TEXTS)}
    reference = answer_digest(served("serving_default", good))
    bad = [{"text": strings(*["x"] * 5)}, {"text": strings("y" * 51)}, {"text": np.array([1.0], np.float32)}]
    answers, errors = [], []

    def client(index):
        for step in range(6):
            if (index + step) % 2:
                answers.append(answer_digest(served("serving_default", good)))
            else:
                try:
                    served("serving_default", bad[(index + step) % len(bad)])
                except tf.errors.InvalidArgumentError:
                    errors.append(index)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 12 and len(errors) == 12
    assert set(answers) == {reference}


def test_the_export_command_passes_its_limit_flags_on():
    from electra_keras.cli import export as export_cli

    with mock.patch("electra_keras.export.job.export_pretrained", return_value="models/electra/1") as job:
        assert export_cli.main(["--run", "runs/x", "--base", "models", "--max-texts", "32"]) == 0
    assert job.call_args.kwargs["request_limits"] == {"max_texts": 32}
    with pytest.raises(SystemExit):
        export_cli.main(["--run", "runs/x", "--base", "models", "--max-text-characters", "0"])


@pytest.mark.slow  # traces three more serving graphs
def test_classifier_tagger_and_answerer_refuse_over_the_limits_naming_their_input(served):
    from electra_keras.models import ElectraClassifier
    from electra_keras.models import ElectraQuestionAnswerer
    from electra_keras.models import ElectraTokenClassifier

    pretrainer, vocabulary = tiny_pretrainer(texts=TEXTS)
    encoder = pretrainer.discriminator
    classifier = export.ClassifierServingModule(ElectraClassifier(encoder, 2), vocabulary, LENGTH, ["a", "b"],
                                                pair=True, request_limits=LIMITS)
    tagger = export.TaggerServingModule(ElectraTokenClassifier(encoder, 3), vocabulary, LENGTH, ["B-X", "I-X", "O"],
                                        request_limits=LIMITS)
    answerer = export.AnswererServingModule(ElectraQuestionAnswerer(encoder), vocabulary, 32, max_question_tokens=8,
                                            request_limits=LIMITS)
    five, long = tf.constant(["a"] * 5), tf.constant(["서" * 51])
    calls = [
        (lambda: classifier.pairs(five, five), "text: 5 texts"),
        (lambda: classifier.pairs(tf.constant(["a"]), long), "text_pair[0]: 51 characters"),
        (lambda: tagger.tag(five), "text: 5 texts"),
        (lambda: tagger.tag(long), "text[0]: 51 characters"),
        (lambda: answerer.answer(five, five), "question: 5 texts"),
        (lambda: answerer.answer(tf.constant(["q"]), long), "context[0]: 51 characters"),
    ]
    for call, expected in calls:
        with pytest.raises(tf.errors.InvalidArgumentError, match=expected.replace("[", r"\[")):
            call()
    at_limits = tf.constant(["a" * 50, "서" * 50, "", "x"])
    assert classifier.pairs(at_limits, at_limits)["probabilities"].shape == (4, 2)
    assert tagger.tag(at_limits)["num_entities"].shape == (4,)
    assert answerer.answer(at_limits, at_limits)["start"].shape == (4,)
