import gzip

import numpy as np
import pytest
import tensorflow as tf

from electra_keras import data
from electra_keras.data.tokenizer import build_vocabulary
from electra_keras.data.tokenizer import make_tokenizer

CLS, SEP = 2, 3


def token_documents(rng, num_documents=30):
    counter = iter(range(100, 10**6))
    return [
        [
            [next(counter) for _ in range(int(rng.integers(1, 40)))]
            for _ in range(int(rng.integers(1, 8)))
        ]
        for _ in range(num_documents)
    ]


def test_packing_keeps_every_token_in_order_with_the_documented_frame():
    rng = np.random.default_rng(0)
    documents = token_documents(rng)
    documents[0].append(list(range(5000, 5100)))  # longer than one example
    examples = data.pack_documents(
        documents, 32, cls_token_id=CLS, sep_token_id=SEP, single_segment_probability=0.3, seed=1
    )
    recovered = []
    two_segments = 0
    for ids, segments, mask in zip(examples["token_ids"], examples["segment_ids"], examples["padding_mask"]):
        used = int(mask.sum())
        assert mask[:used].all() and not mask[used:].any()
        ids, segments = ids[:used], segments[:used]
        assert ids[0] == CLS and ids[-1] == SEP
        separators = np.flatnonzero(ids == SEP)
        assert len(separators) in (1, 2)
        first_end = separators[0]
        # Segment 0 is [CLS] A [SEP]; segment 1 is B [SEP].
        assert not segments[: first_end + 1].any()
        assert segments[first_end + 1 :].all()
        if len(separators) == 2:
            two_segments += 1
            assert separators[1] == used - 1 and first_end + 1 < used - 1
        recovered.extend(int(t) for t in ids if t not in (CLS, SEP))
    expected = [t for document in documents for line in document for t in line]
    assert recovered == expected
    assert 0 < two_segments < len(examples["token_ids"])


def test_documents_are_never_merged():
    documents = [[[100, 101]], [[200, 201]]]
    examples = data.pack_documents(documents, 16, cls_token_id=CLS, sep_token_id=SEP)
    assert len(examples["token_ids"]) == 2


def write(path, text_bytes):
    path.write_bytes(text_bytes)
    return path


def test_read_corpus_documents_and_blank_lines(tmp_path):
    path = write(tmp_path / "a.txt", b"one.\ntwo.\n\n\nthree.\n")
    gz = tmp_path / "b.txt.gz"
    with gzip.open(gz, "wb") as file:
        file.write("\ub137\n".encode())
    documents, statistics = data.read_corpus([path, gz])
    assert documents == [["one.", "two."], ["three."], ["\ub137"]]
    assert statistics.documents == 3 and statistics.lines == 4


def test_undecodable_bytes_are_replaced_and_counted(tmp_path, caplog):
    path = write(tmp_path / "bad.txt", b"good line\nbad \xff\xfe line\nfine\n")
    documents, statistics = data.read_corpus([path])
    assert documents == [["good line", "bad \ufffd\ufffd line", "fine"]]
    assert statistics.undecodable_bytes == 2 and statistics.lines_with_undecodable_bytes == 1
    assert "bad.txt" in caplog.text and "line 2" in caplog.text


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.txt", None, "missing.txt: corpus file not found"),
        ("empty.txt", b"\n\n  \n", "corpus is empty"),
        ("cut.txt.gz", gzip.compress(b"hello world\n" * 1000)[:-30], "cut.txt.gz: cut off or corrupt"),
    ],
)
def test_unusable_corpora_raise_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(data.CorpusError, match=message):
        data.read_corpus([path])


def test_tokenize_documents_inside_tf_data_keeps_korean():
    documents = [["서울은 한국의 수도입니다.", "Seoul is big."], ["한국어 문장"]]
    vocabulary = build_vocabulary([line for d in documents for line in d] * 5, 200)
    tokenizer = make_tokenizer(vocabulary)
    tokenized = data.tokenize_documents(documents, tokenizer)
    assert [len(d) for d in tokenized] == [2, 1]
    text = tokenizer.detokenize(tf.constant(tokenized[0][0][None, :]))
    assert text[0] == "서울은 한국의 수도입니다 ."


def test_split_and_dataset_shapes():
    rng = np.random.default_rng(0)
    examples = data.pack_documents(token_documents(rng, 80), 16, cls_token_id=CLS, sep_token_id=SEP)
    train, held_out = data.split_examples(examples, 0.1, 4)
    assert len(train["token_ids"]) + len(held_out["token_ids"]) == len(examples["token_ids"])
    batch = next(iter(data.make_dataset(train, 4)))
    assert batch["token_ids"].shape == (4, 16)
    with pytest.raises(data.CorpusError, match="fewer than one batch"):
        data.make_dataset(held_out, 10**6)
