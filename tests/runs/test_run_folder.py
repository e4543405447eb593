"""RunFolder: the run folder's rules, without training anything."""

import json

import pytest

from electra_keras.config import ElectraConfig
from electra_keras.runs import RunFolder
from electra_keras.runs import RunFolderError
from electra_keras.runs.checkpoints import checkpoint_path

INPUTS = {"corpus": {"a.txt": "0" * 64}}


def tiny_config(**training):
    return ElectraConfig.from_dict(
        {"model": {"hidden_size": 32, "num_heads": 2, "num_layers": 2, "embedding_size": 16,
                   "intermediate_size": 64, "max_position_embeddings": 64},
         "data": {"sequence_length": 32}, "training": training}
    )


def fake_checkpoint(run, step):
    folder = checkpoint_path(run.checkpoints_dir, step)
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"step": step}))
    (folder / "model.weights.h5").write_bytes(b"")
    return folder


def test_a_new_folder_is_claimed_and_marked(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert run.claim(False, tiny_config(), INPUTS) is None
    run.mark("running", INPUTS)
    state = run.read_state()
    assert state["status"] == "running" and state["pid"] > 0 and state["inputs"] == INPUTS
    run.mark("complete", INPUTS)
    assert run.read_state() == {"status": "complete", "inputs": INPUTS}


def test_a_folder_that_is_not_a_run_is_never_written_into(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(RunFolderError, match="not an electra_keras run folder"):
        RunFolder(tmp_path / "mine").claim(True, tiny_config(), INPUTS)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"


def test_a_complete_run_is_not_resumed_and_overwrite_starts_over(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.claim(False, tiny_config(), INPUTS)
    run.write_config(tiny_config())
    run.mark("complete", INPUTS)
    with pytest.raises(RunFolderError, match="holds a complete run"):
        run.claim(False, tiny_config(), INPUTS)
    assert run.claim(True, tiny_config(), INPUTS) is None
    # Emptied, but still locked by this run.
    assert [p.name for p in run.path.iterdir()] == [".lock"]


def test_an_unfinished_run_resumes_from_its_newest_checkpoint_if_nothing_breaking_changed(tmp_path, caplog):
    run = RunFolder(tmp_path / "run")
    run.claim(False, tiny_config(), INPUTS)
    run.write_config(tiny_config())
    run.mark("interrupted", INPUTS, step=20)
    fake_checkpoint(run, 10)
    newest = fake_checkpoint(run, 20)
    # The learning rate may change on resume (with a warning); the batch size may not.
    changed_rate = tiny_config()
    changed_rate.optimizer.learning_rate = 1e-5
    assert run.claim(False, changed_rate, INPUTS) == newest
    assert "optimizer.learning_rate" in caplog.text
    with pytest.raises(RunFolderError, match=r"training\.batch_size \(128 before, 64 now\)"):
        run.claim(False, tiny_config(batch_size=64), INPUTS)
    with pytest.raises(RunFolderError, match="the training data differs"):
        run.claim(False, tiny_config(), {"corpus": {"b.txt": "1" * 64}})


def test_a_non_writer_refuses_to_write(tmp_path):
    run = RunFolder(tmp_path / "run", writer=False)
    with pytest.raises(RunFolderError, match="not the run's writer"):
        run.write_metrics({"steps": 1})
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_weights_of_an_unfinished_run_need_a_checkpoint(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.claim(False, tiny_config(), INPUTS)
    with pytest.raises(RunFolderError, match="pretrainer.keras: not found .*pass --checkpoint"):
        run.weights_path()
    folder = fake_checkpoint(run, 30)
    assert run.weights_path(folder.name) == folder / "model.weights.h5"
    with pytest.raises(RunFolderError, match="ckpt-000000099: checkpoint not found"):
        run.weights_path("ckpt-000000099")
