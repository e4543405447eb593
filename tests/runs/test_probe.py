"""The downstream probe: a closed-form linear read-out of the frozen encoder."""


import numpy as np
import pytest
from conftest import write_task

from electra_keras.data.tokenizer import build_vocabulary
from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.finetuning import LabelledDataError
from electra_keras.runs.probe import ProbeTask


class BagOfTokens:
    """An 'encoder' whose features are token counts: a probe on it must read the label word."""

    def __init__(self, vocabulary_size):
        self.vocabulary_size = vocabulary_size

    def __call__(self, inputs, training=False):
        ids = inputs["token_ids"]
        one_hot = np.eye(self.vocabulary_size)[ids] * inputs["padding_mask"][:, :, None]
        return {"sequence_output": one_hot}


class Constant:
    def __call__(self, inputs, training=False):
        return {"sequence_output": np.ones(inputs["token_ids"].shape + (4,))}


def test_probe_reads_a_linearly_readable_label_and_not_a_constant_encoder(tmp_path):
    write_task(tmp_path / "task")
    vocabulary = build_vocabulary(["good bad film plot actor scene long short"] * 20, 60)
    task = ProbeTask(tmp_path / "task", make_tokenizer(vocabulary), 16, max_rows=100)
    assert task.labels == ["neg", "pos"] and len(task.targets["train"]) == 100
    assert task.accuracy(BagOfTokens(len(vocabulary))) == 1.0
    # Constant features leave only the intercept: the train split's majority class.
    train_majority = np.bincount(task.targets["train"]).argmax()
    assert task.accuracy(Constant()) == pytest.approx(np.mean(task.targets["test"] == train_majority))


def test_probe_folder_errors_name_the_file(tmp_path):
    vocabulary = build_vocabulary(["a b c"] * 5, 30)
    with pytest.raises(LabelledDataError, match="train.jsonl: missing"):
        ProbeTask(tmp_path, make_tokenizer(vocabulary), 16)
