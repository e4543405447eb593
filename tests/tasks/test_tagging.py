"""Tagged files, conlleval's chunks and score, and first-subword labels."""

import json

import pytest

from electra_keras.data.offsets import OffsetTokenizer
from electra_keras.data.tokenizer import build_vocabulary
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.tagging import IGNORED_LABEL
from electra_keras.tasks.formats.tagging import encode_tagged
from electra_keras.tasks.formats.tagging import entity_metrics
from electra_keras.tasks.formats.tagging import entity_spans
from electra_keras.tasks.formats.tagging import read_tagged
from electra_keras.tasks.formats.tagging import repair_tags
from electra_keras.tasks.formats.tagging import spans_to_tags
from electra_keras.tasks.formats.tagging import word_tags

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_conll_sentences_skip_docstart_and_take_the_last_column(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(CONLL)
    sentences = read_tagged(path)
    assert [s.words for s in sentences] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    assert sentences[1].tags == ["B-PER", "I-PER"]
    assert sentences[1].where == [f"{path}:8", f"{path}:9"]
    assert read_tagged(path, tag_column=2)[0].tags == ["B-NP", "B-VP", "B-NP", "I-NP"]


def test_jsonl_and_untagged_files(tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_text(json.dumps({"tokens": ["서울", "에", "가다"], "tags": ["B-LOC", "O", "O"]}, ensure_ascii=False)
                    + "\n\n" + json.dumps({"tokens": ["北京", "很", "大"], "tags": ["S-LOC", "O", "O"]}) + "\n")
    sentences = read_tagged(path)
    assert sentences[0].words == ["서울", "에", "가다"] and sentences[1].tags == ["S-LOC", "O", "O"]
    untagged = tmp_path / "input.conll"
    untagged.write_text("Peter\nBlackburn\n\nEU\n")
    assert [s.tags for s in read_tagged(untagged, require_tags=False)] == [None, None]
    # Feature columns without tags: prediction reads the words only.
    features = tmp_path / "features.conll"
    features.write_text("EU NNP\nrejects VBZ\n")
    assert read_tagged(features, require_tags=False)[0].words == ["EU", "rejects"]


@pytest.mark.parametrize("content, name, message", [
    ("EU B-ORG\nrejects\n", "a.conll", "a.conll:2: one column 'rejects'"),
    ("EU B-ORG\nrejects X O\n", "a.conll", "a.conll:2: 3 columns where the file has 2"),
    ("EU ORG\n", "a.conll", "a.conll:1: tag 'ORG' is not O or B-/I-/E-/S-"),
    ("\n\n", "a.conll", "a.conll: no sentences"),
    ('{"tokens": ["a", "b"], "tags": ["O"]}\n', "a.jsonl", "a.jsonl:1: 'tags' must be a list as long"),
    ('{"tokens": []}\n', "a.jsonl", "a.jsonl:1: 'tokens' must be a non-empty list"),
    ("{not json\n", "a.jsonl", "a.jsonl:1: not valid JSON"),
    ("EU B-ORG\n", "b.conll", "b.conll:1: no column 5 for the tag"),
])
def test_bad_files_name_the_file_and_line(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(LabelledDataError, match=message.replace("(", r"\(").replace("[", r"\[")):
        read_tagged(path, tag_column=5 if name == "b.conll" else -1)


def test_chunks_follow_conlleval_for_bio_iob1_and_bioes():
    assert entity_spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC"]) == [
        ("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6)]
    # A type change inside a chunk opens a new one; E- and S- close theirs.
    assert entity_spans(["B-PER", "I-ORG", "E-ORG", "S-LOC", "I-LOC"]) == [
        ("PER", 0, 1), ("ORG", 1, 3), ("LOC", 3, 4), ("LOC", 4, 5)]
    assert spans_to_tags([("LOC", 1, 3), ("PER", 3, 4)], 5, "bioes") == ["O", "B-LOC", "E-LOC", "S-PER", "O"]
    assert repair_tags(["O", "I-PER", "I-PER", "I-LOC"]) == ["O", "B-PER", "I-PER", "B-LOC"]
    assert repair_tags(["I-PER", "E-PER", "I-LOC"], "bioes") == ["B-PER", "E-PER", "S-LOC"]


def test_entity_score_counts_exact_chunks_as_conlleval_does():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "B-MISC"]]
    scores = entity_metrics(gold, predicted)
    # Correct: LOC and ORG (PER's end differs); 4 predicted, 3 gold.
    assert scores["precision"] == pytest.approx(2 / 4) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert scores["by_type"]["PER"]["f1"] == 0.0 and scores["by_type"]["LOC"]["f1"] == 1.0
    assert scores["by_type"]["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "entities": 0, "predicted": 1}
    assert scores["token_accuracy"] == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="2 gold tags has 1 predicted"):
        entity_metrics([["O", "O"]], [["O"]])


def test_first_subwords_carry_the_labels_for_english_korean_and_chinese(tmp_path):
    sentences = read_tagged(_write(tmp_path, [
        (["Blackburnshire", "visited", "서울특별시", "."], ["B-LOC", "O", "B-LOC", "O"]),
        (["北京", "是", "首都"], ["B-LOC", "I-LOC", "O"]),
    ]))
    vocabulary = SPECIAL + ["Black", "##burn", "##shire", "visited", "서울", "##특별", "##시", ".", "北", "京", "是", "首", "都"]
    labels = ["B-LOC", "I-LOC", "O"]
    encoded = encode_tagged(OffsetTokenizer(vocabulary), sentences, 16, {t: i for i, t in enumerate(labels)})
    for row, sentence in enumerate(sentences):
        positions = [p for p in range(16) if encoded["word_index"][row, p] >= 0]
        # One labelled position per word, in order, with that word's tag.
        assert [encoded["word_index"][row, p] for p in positions] == list(range(len(sentence.words)))
        assert [labels[encoded["labels"][row, p]] for p in positions] == sentence.tags
        others = [p for p in range(16) if p not in positions]
        assert all(encoded["labels"][row, p] == IGNORED_LABEL for p in others)
        pieces = [vocabulary[i] for i in encoded["token_ids"][row, positions]]
        assert not any(piece.startswith("##") for piece in pieces)
    # Blackburnshire and 서울특별시 are several subwords each: the rest are ignored.
    assert encoded["padding_mask"][0].sum() == 2 + 3 + 1 + 3 + 1
    assert encoded["truncated_words"] == 0
    predicted = word_tags(encoded, encoded["labels"].clip(0), sentences, labels)
    assert predicted == [s.tags for s in sentences]


def test_cut_words_are_counted_and_predicted_outside_and_unknown_tags_are_named(tmp_path):
    path = _write(tmp_path, [(["Peter", "Blackburn", "visited", "Seoul"], ["B-PER", "I-PER", "O", "B-LOC"])])
    sentences = read_tagged(path)
    vocabulary = build_vocabulary(["Peter Blackburn visited Seoul"] * 20, 40)
    index = {"B-PER": 0, "I-PER": 1, "O": 2, "B-LOC": 3}
    encoded = encode_tagged(OffsetTokenizer(vocabulary), sentences, 4, index)
    assert encoded["truncated_words"] == 2
    tags = word_tags(encoded, encoded["labels"].clip(0), sentences, list(index))
    assert tags == [["B-PER", "I-PER", "O", "O"]]
    with pytest.raises(LabelledDataError, match=r"train\.jsonl:1: tag 'B-LOC' does not occur"):
        encode_tagged(OffsetTokenizer(vocabulary), sentences, 16, {"B-PER": 0, "I-PER": 1, "O": 2})


def _write(tmp_path, rows):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"tokens": w, "tags": t}, ensure_ascii=False) + "\n" for w, t in rows))
    return path
