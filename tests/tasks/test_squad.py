"""Extractive QA data: SQuAD-layout files, windows with character spans, decoding, official metrics."""

import json

import numpy as np
import pytest

from electra_keras import data
from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.tasks.formats import squad
from electra_keras.tasks.formats.squad import AnswerPrediction
from electra_keras.tasks.formats.squad import SquadExample

# Special tokens away from ids 0-4, so a hard-coded id would show.
VOCABULARY = [
    "the", "capital", "of", "France", "is", "Paris", "Fran", "##ce", "What", "?", ".", ",",
    "서울", "##은", "대한민국", "##의", "수도", "##이다", "어디", "##야",
    "北", "京", "是", "中", "国", "的", "首", "都", "。", "哪", "里",
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "word", "answer", "here", "Where",
]
PAD, CLS, SEP = VOCABULARY.index("[PAD]"), VOCABULARY.index("[CLS]"), VOCABULARY.index("[SEP]")


def write_squad(path, paragraphs, version="v2.0"):
    path.write_text(json.dumps({"version": version, "data": [{"title": "T", "paragraphs": paragraphs}]},
                               ensure_ascii=False), encoding="utf-8")
    return path


def qa(qid, question, answers=(), **extra):
    return {"id": qid, "question": question,
            "answers": [{"text": t, "answer_start": s} for t, s in answers], **extra}


CONTEXT = "Paris is the capital of France."


def test_reads_v1_and_v2_with_impossible_questions_and_fixes_small_start_errors(tmp_path):
    v2 = write_squad(tmp_path / "dev-v2.0.json", [
        {"context": CONTEXT, "qas": [
            qa("a", "What is the capital of France?", [("Paris", 0), ("Paris", 0)]),
            qa("b", "What is the capital of Mars?", [], is_impossible=True,
               plausible_answers=[{"text": "Paris", "answer_start": 0}]),
            # answer_start one character late, as a few SQuAD answers are.
            qa("c", "Of what?", [("France", 25)], is_impossible=False),
        ]},
    ])
    examples = data.read_squad(v2)
    assert [e.id for e in examples] == ["a", "b", "c"]
    assert examples[0] == SquadExample("a", "What is the capital of France?", CONTEXT, (("Paris", 0), ("Paris", 0)), False)
    assert examples[1].is_impossible and examples[1].answers == ()
    assert examples[2].answers == (("France", 24),)
    v1 = write_squad(tmp_path / "train-v1.1.json", [{"context": CONTEXT, "qas": [qa(7, "Q?", [("capital", 13)])]}], "1.1")
    assert squad.read_squad(v1) == [SquadExample("7", "Q?", CONTEXT, (("capital", 13),), False)]


@pytest.mark.parametrize("content, expected", [
    ("", "empty file"),
    ('{"data": [', "not valid JSON"),
    ({"data": []}, "no questions"),
    ({"version": "1.1"}, "top level: missing field 'data'"),
    ({"data": [{"paragraphs": [{"context": CONTEXT, "qas": []}, {"context": CONTEXT, "qas": [{"id": "x"}]}]}]},
     "data[0].paragraphs[1].qas[0]: missing field"),
    ({"data": [{"paragraphs": [{"context": CONTEXT, "qas": [qa("x", "Q?", [("Paris", 0)]), qa("x", "Q2?")]}]}]},
     "data[0].paragraphs[0].qas[1]: duplicate id 'x' (first at data[0].paragraphs[0].qas[0])"),
    ({"data": [{"paragraphs": [{"context": CONTEXT, "qas": [qa("x", "Q?", [("France", 5)])]}]}]},
     "data[0].paragraphs[0].qas[0].answers[0]: answer 'France' is not at answer_start 5"),
    ({"data": [{"paragraphs": [{"context": CONTEXT, "qas": [qa("x", "Q?", [("Paris", "0")])]}]}]},
     "data[0].paragraphs[0].qas[0].answers[0].answer_start: expected int"),
])
def test_unreadable_files_name_the_file_and_the_json_path(tmp_path, content, expected):
    path = tmp_path / "broken.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(squad.SquadDataError) as raised:
        squad.read_squad(path)
    assert str(raised.value).startswith(str(path)) and expected in str(raised.value)


def tokenizer():
    return make_tokenizer(VOCABULARY)


def gold_text(example, windows, row):
    start, end = windows["start_positions"][row], windows["end_positions"][row]
    return example.context[windows["char_starts"][row, start] : windows["char_ends"][row, end]]


@pytest.mark.parametrize("question, context, answer", [
    ("What is the capital of France?", "The capital of France is Paris.", "France"),
    ("수도 어디야?", "서울은 대한민국의 수도이다.", "서울"),
    ("中国的首都是哪里？", "北京是中国的首都。", "北京"),
    # The answer ends inside a word: "Francece" is "France" "##ce".
    ("What?", "the Francece word", "France"),
])
def test_gold_token_span_re_extracts_the_answer_text(question, context, answer):
    example = SquadExample("q", question, context, ((answer, context.index(answer)),))
    windows = squad.make_windows([example], tokenizer(), 32)
    assert len(windows["token_ids"]) == 1
    assert windows["token_ids"][0, 0] == CLS and gold_text(example, windows, 0) == answer
    ids, segments, mask = windows["token_ids"][0], windows["segment_ids"][0], windows["padding_mask"][0]
    length = int(mask.sum())
    assert list(ids[length:]) == [PAD] * (32 - length) and ids[length - 1] == SEP
    first_context = int(np.argmax(segments))
    assert ids[first_context - 1] == SEP and segments[length - 1] == 1 and not segments[length:].any()
    # Only context tokens have character spans, and they cover context characters in order.
    spans = windows["char_starts"][0]
    assert (spans[:first_context] == -1).all() and (spans[length - 1 :] == -1).all()
    assert (spans[first_context : length - 1] >= 0).all() and (np.diff(spans[first_context : length - 1]) > 0).all()


@pytest.mark.parametrize("answer", ["Beyoncé", "İstanbul", "SANG"])
def test_uncased_accent_stripping_tokenizer_keeps_whole_word_answers(answer):
    # Folding shortens "Beyoncé" and "İstanbul" by a byte: their last token must still reach the word's end.
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "bey", "##once", "sang", "in", "istanbul", "who", "?"]
    context = "Beyoncé SANG in İstanbul"
    example = SquadExample("q", "Who?", context, ((answer, context.index(answer)),))
    windows = squad.make_windows([example], make_tokenizer(vocabulary, lowercase=True, strip_accents=True), 16)
    assert gold_text(example, windows, 0) == answer


def test_long_context_slides_windows_with_the_answer_only_where_it_fits():
    words = ["word"] * 40 + ["answer", "here"] + ["word"] * 20
    context = " ".join(words)
    example = SquadExample("q", "Where ?", context, (("answer here", context.index("answer here")),))
    unanswerable = SquadExample("n", "Where ?", context, (), is_impossible=True)
    windows = squad.make_windows([example, unanswerable], tokenizer(), 20, doc_stride=6)
    # 20 - 2 question tokens - 3 specials = 15 context tokens a window.
    mine = np.flatnonzero(windows["example_index"] == 0)
    assert len(mine) > 3 and (np.flatnonzero(windows["example_index"] == 1) > mine[-1]).all()
    word_starts = np.cumsum([0] + [len(w) + 1 for w in words])
    assert list(windows["char_starts"][mine, 4]) == list(word_starts[0 : 6 * len(mine) : 6])
    answer_start = context.index("answer")
    holding = [r for r in mine if windows["char_starts"][r, 4] <= answer_start
               and windows["char_ends"][r].max() >= answer_start + len("answer here")]
    assert len(holding) >= 2
    for row in mine:
        if row in holding:
            assert gold_text(example, windows, row) == "answer here"
        else:
            assert windows["start_positions"][row] == windows["end_positions"][row] == 0
    # The last window reaches the end of the context; the unanswerable example points at [CLS].
    assert windows["char_ends"][mine[-1]].max() == len(context)
    assert not windows["start_positions"][windows["example_index"] == 1].any()


def decode_setup():
    context = "the capital of France is Paris ."
    examples = [SquadExample("a", "What ?", context, (("Paris", context.index("Paris")),))]
    windows = squad.make_windows(examples, tokenizer(), 16)
    position = {VOCABULARY[t]: i for i, t in enumerate(windows["token_ids"][0]) if windows["char_starts"][0, i] >= 0}
    return examples, windows, position


def test_decode_finds_the_best_valid_span_and_the_null_margin():
    examples, windows, position = decode_setup()
    starts, ends = np.zeros((2, 1, 16))
    starts[0, position["Paris"]] = ends[0, position["Paris"]] = 5.0
    # An end before its start, and the [SEP] after the context, score higher but are not spans.
    ends[0, position["the"]] = 9.0
    sep = int(windows["padding_mask"][0].sum()) - 1
    starts[0, sep] = ends[0, sep] = 20.0
    starts[0, 0], ends[0, 0] = 1.0, 2.0
    (prediction,) = squad.decode_answers(examples, windows, starts, ends)
    assert prediction.text == "Paris" and prediction.char_start == examples[0].context.index("Paris")
    assert prediction.score == 10.0 and prediction.null_diff == 3.0 - 10.0
    # A long high-scoring span loses to a shorter one when it is over max_answer_length tokens.
    starts[0, position["the"]], ends[0, position["the"]] = 8.0, 0.0
    assert squad.decode_answers(examples, windows, starts, ends)[0].text == "the capital of France is Paris"
    short = squad.decode_answers(examples, windows, starts, ends, max_answer_length=3)[0]
    assert short.text == "Paris" and short.char_end - short.char_start == 5


def test_null_answer_wins_above_the_threshold_and_null_score_is_the_minimum_over_windows():
    context = " ".join(["word"] * 30 + ["answer"])
    examples = [SquadExample("q", "Where ?", context, (("answer", context.index("answer")),))]
    windows = squad.make_windows(examples, tokenizer(), 16, doc_stride=8)
    rows = len(windows["token_ids"])
    starts, ends = np.zeros((2, rows, 16))
    starts[:, 0] = ends[:, 0] = np.arange(rows) + 4.0  # [CLS]: 8 in window 0, more after
    last = rows - 1
    answer_token = int(np.flatnonzero(windows["char_starts"][last] == context.index("answer"))[0])
    starts[last, answer_token] = ends[last, answer_token] = 3.0
    (prediction,) = squad.decode_answers(examples, windows, starts, ends)
    assert prediction.text == "answer" and prediction.null_diff == 8.0 - 6.0
    assert squad.apply_null_threshold([prediction], 0.0) == [""]
    assert squad.apply_null_threshold([prediction], 2.5) == ["answer"]


def test_best_null_threshold_maximises_f1_as_the_official_script():
    context = "Paris is the capital of France."
    examples = [
        SquadExample("a", "Q", context, (("Paris", 0),)),
        SquadExample("b", "Q", context, (("capital of France", 13),)),
        SquadExample("c", "Q", context, (), is_impossible=True),
        SquadExample("d", "Q", context, (("France", 24),)),
    ]
    predictions = [
        AnswerPrediction("a", "Paris", 0, 5, 9.0, -1.0),
        AnswerPrediction("b", "France", 24, 30, 5.0, 0.5),  # F1 1/2 with "capital of France"
        AnswerPrediction("c", "Paris", 0, 5, 4.0, 2.0),
        AnswerPrediction("d", "Paris", 0, 5, 1.0, 3.0),  # wrong: better left unanswered
    ]
    threshold, best_f1 = squad.best_null_threshold(predictions, examples)
    assert threshold == 0.5 and best_f1 == pytest.approx(100 * (1 + 0.5 + 1) / 4)
    texts = squad.apply_null_threshold(predictions, threshold)
    assert texts == ["Paris", "France", "", ""]
    assert squad.squad_metrics(examples, texts)["f1"] == pytest.approx(best_f1)


def test_official_squad_normalisation_exact_match_and_f1():
    assert squad.normalize_answer("  The Cat!  sat, an  hour ") == "cat sat hour"
    assert squad.exact_match("The Cat!", ["cat"]) == 1.0 and squad.exact_match("cats", ["cat"]) == 0.0
    # "the black cat" vs "a cat": 1 common word, precision 1/2, recall 1.
    assert squad.f1("the black cat", ["a cat"]) == pytest.approx(2 / 3)
    assert squad.f1("the black cat", ["dog", "black cat"]) == 1.0
    # Unanswerable gold is the single answer "": only "" scores.
    assert squad.f1("", []) == squad.exact_match("", []) == 1.0
    assert squad.f1("cat", []) == squad.exact_match("cat", []) == 0.0
    assert squad.f1("", ["cat"]) == 0.0
    with pytest.raises(ValueError, match="language must be"):
        squad.f1("cat", ["cat"], language="english")


def test_squad_v2_metrics_split_answerable_and_unanswerable():
    context = "Paris is the capital of France."
    examples = [
        SquadExample("a", "Q", context, (("Paris", 0),)),
        SquadExample("b", "Q", context, (("the capital", 9),)),
        SquadExample("c", "Q", context, (), is_impossible=True),
        SquadExample("d", "Q", context, (), is_impossible=True),
    ]
    scores = squad.squad_metrics(examples, {"a": "paris", "b": "capital of France", "c": "", "d": "Paris"})
    assert scores == pytest.approx({
        "exact": 50.0, "f1": 100 * (1 + 0.5 + 1 + 0) / 4, "total": 4,
        "HasAns_exact": 50.0, "HasAns_f1": 75.0, "HasAns_total": 2,
        "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2,
    })
    assert set(squad.squad_metrics(examples[:2], ["Paris", ""])) == {"exact", "f1", "total"}
    with pytest.raises(ValueError, match="no prediction for 1 examples"):
        squad.squad_metrics(examples, {"a": "", "b": "", "c": ""})


def test_chinese_scores_characters_like_cmrc_and_is_chosen_from_the_contexts():
    # LCS of characters: "北京市" vs "北京" = 2; precision 2/3, recall 1.
    assert squad.f1("北京市", ["北京"], language="zh") == pytest.approx(0.8)
    assert squad.exact_match("“北京”。", ["北京"], language="zh") == 1.0
    # English and number runs stay one token; punctuation goes.
    assert squad._tokens("iPhone 12手机，好", "zh") == ["iphone", "12", "手", "机", "好"]
    # CMRC counts the longest common run (手机), not the bag: precision = recall = 2/4.
    assert squad.f1("iPhone 13手机", ["iPhone 12手机"], language="zh") == pytest.approx(0.5)
    chinese = [SquadExample("q", "中国的首都是哪里？", "北京是中国的首都。", (("北京", 0),))]
    assert squad.squad_metrics(chinese, ["北京市"])["f1"] == pytest.approx(80.0)
    assert squad.squad_metrics(chinese, ["北京市"], language="en")["f1"] == 0.0


def test_korean_follows_korquad_normalisation_and_character_f1():
    assert squad.exact_match("《서울》", ["서울"], language="ko") == 1.0
    # Characters: 서 울 in common; precision 2/3, recall 1.
    assert squad.f1("서울은", ["서울"], language="ko") == pytest.approx(0.8)
    korean = [SquadExample("q", "수도는?", "서울은 대한민국의 수도이다.", (("서울", 0),))]
    assert squad.squad_metrics(korean, ["서울은"])["f1"] == pytest.approx(80.0)
    assert squad.squad_metrics(korean, ["서울은"], language="en")["f1"] == 0.0
