"""The one fine-tuning loop: every task writes the same layout, reads no vocabulary file, and is read back."""

import json
from unittest import mock

import pytest
from conftest import FAST
from conftest import ROOT
from conftest import run

from electra_keras.finetuning import loop
from electra_keras.finetuning.job import FinetuningSettings
from electra_keras.finetuning.job import run_finetuning
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.tasks.formats.tagging import read_tagged
from electra_keras.tasks.registry import TASKS
from electra_keras.tasks.registry import task_named

pytestmark = pytest.mark.slow
FIXTURES = ROOT / "tests" / "fixtures" / "labelled"
# Every module that could open a vocabulary file below the loop, by the name it imported.
VOCABULARY_READERS = ("electra_keras.data.tokenizer.load_vocabulary", "electra_keras.data.offsets.load_vocabulary",
                      "electra_keras.export.text_encoding.load_vocabulary", "electra_keras.export.tagger.load_vocabulary",
                      "electra_keras.export.answerer.load_vocabulary")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loop") / "run"
    result = run("--corpus", FIXTURES / "libreoffice_ko" / "train.jsonl", "--output", folder, "--steps", 2, *FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def small_task_files(task, folder):
    """A few rows of a fixture task in its own format: `(train, eval)` paths."""
    if task == "tagging":
        sentences = read_tagged(FIXTURES / "brown_names" / "train.conll")[:24]
        path = folder / "tagged.jsonl"
        path.write_text("".join(json.dumps({"tokens": s.words, "tags": s.tags}) + "\n" for s in sentences))
    elif task == "qa":
        squad = json.loads((FIXTURES / "libreoffice_ko_qa" / "train.json").read_text(encoding="utf-8"))
        path = folder / "squad.json"
        path.write_text(json.dumps({**squad, "data": squad["data"][:2]}), encoding="utf-8")
    else:
        source = {"classification": "libreoffice_ko", "regression": "libreoffice_ko_hangul",
                  "multi_label": "libreoffice_ko_modules"}[task]
        path = folder / f"{task}.jsonl"
        path.write_text("".join((FIXTURES / source / "train.jsonl").read_text(encoding="utf-8").splitlines(True)[:40]),
                        encoding="utf-8")
    return path, path


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_writes_one_layout_without_reading_a_vocabulary_file(run_dir, tmp_path, task):
    train, held_out = small_task_files(task, tmp_path)
    settings = FinetuningSettings(str(train), str(held_out), str(tmp_path / "out"), task=task, epochs=1, min_steps=0,
                                  batch_size=16, sequence_length=64)
    real_open = loop.open_pretrained
    readers = [mock.patch(name, side_effect=AssertionError(f"{name} called below the loop"))
               for name in VOCABULARY_READERS]

    def open_then_forbid_vocabulary_files(*args, **kwargs):
        source = real_open(*args, **kwargs)
        for reader in readers:
            reader.start()
        return source

    try:
        with mock.patch.object(loop, "open_pretrained", open_then_forbid_vocabulary_files):
            summary = run_finetuning([run_dir], settings, verbose=0)
    finally:
        mock.patch.stopall()

    output = tmp_path / "out"
    export_name = task_named(task).export_name
    assert summary["export"] == str(output / "export" / export_name / "1")
    assert (output / "metrics.json").is_file() and (output / "preset" / "metadata.json").is_file()
    assert (output / "export" / export_name / "1" / "saved_model.pb").is_file()
    architectures = json.loads((output / "huggingface" / "config.json").read_text())["architectures"]
    assert architectures == [{"tagging": "ElectraForTokenClassification", "qa": "ElectraForQuestionAnswering"}.get(
        task, "ElectraForSequenceClassification")]
    # --init-from reads the fine-tuned folder: its encoder, with the run's vocabulary.
    source = open_pretrained([output])
    assert source.vocabulary == open_pretrained([run_dir]).vocabulary
    assert source.model_config.hidden_size == open_pretrained([run_dir]).model_config.hidden_size
