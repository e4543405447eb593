"""Faults during training: a full disk, a damaged checkpoint, a closed stdout, two runs on one folder.

Each test says what must survive the fault and what the run must say.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import FAST
from conftest import MASK
from conftest import PRETRAIN
from conftest import TINY_MODEL
from conftest import file_size_limit
from conftest import make_batch

from electra_keras.files import WriteFailed
from electra_keras.files import save_model_atomic
from electra_keras.pretraining.trainer import ElectraPretrainer
from electra_keras.runs import RunFolder
from electra_keras.runs import RunFolderError
from electra_keras.runs.checkpoints import CheckpointError
from electra_keras.runs.checkpoints import list_checkpoints
from electra_keras.runs.checkpoints import restore_checkpoint
from electra_keras.runs.checkpoints import restore_newest
from electra_keras.runs.checkpoints import save_checkpoint
from electra_keras.runs.run_folder import LOCK_NAME

INPUTS = {"corpus": {"a.txt": "0" * 64}}


def pretrainer(model=TINY_MODEL):
    model = ElectraPretrainer(model, {}, mask_token_id=MASK, special_token_ids=[0, 2, 3, 4])
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), run_eagerly=True)
    return model


def train(model, steps):
    model.fit(tf.data.Dataset.from_tensors(make_batch()).repeat(), steps_per_epoch=steps, verbose=0)


# --- A full disk while a checkpoint is written ---------------------------------


def test_a_full_disk_refuses_a_checkpoint_before_writing_and_keeps_the_previous_one(tmp_path, monkeypatch):
    model = pretrainer()
    train(model, 1)
    save_checkpoint(model, tmp_path, 1)
    train(model, 1)
    # A disk with 100 KB left; the weights with Adam's slots need a few hundred.
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2**30, 2**30 - 10**5, 10**5))
    with pytest.raises(WriteFailed) as failed:
        save_checkpoint(model, tmp_path, 2)
    message = str(failed.value)
    assert f"{tmp_path / 'ckpt-000000002'}: could not be written, the disk is full ([Errno 28] 0.1 MiB free" in message
    # Only the previous checkpoint: no half-written one, no staging folder.
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-000000001"]
    restored = pretrainer()
    assert restore_checkpoint(restored, tmp_path / "ckpt-000000001")["step"] == 1


def test_a_full_disk_while_the_final_model_is_written_keeps_the_previous_file(tmp_path):
    model = pretrainer()
    train(model, 1)
    target = tmp_path / "pretrainer.keras"
    save_model_atomic(model, target)
    before = target.read_bytes()
    train(model, 1)
    # ulimit -f: the write fails part-way, in the zip writer, as on a disk that fills meanwhile.
    with file_size_limit(64 * 1024), pytest.raises(
        WriteFailed, match="pretrainer.keras: could not be written, a file outgrew the file-size limit .*File too large"
    ):
        save_model_atomic(model, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pretrainer.keras"]


# --- A damaged newest checkpoint ----------------------------------------------


@pytest.mark.parametrize("damage", ["truncated weights", "garbled state"])
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_one_before_it_restored(tmp_path, caplog, damage):
    model = pretrainer()
    for step in (1, 2, 3):
        train(model, 1)
        save_checkpoint(model, tmp_path, step)
        if step == 2:
            at_step_2 = [w.copy() for w in model.get_weights()]
    newest = tmp_path / "ckpt-000000003"
    if damage == "truncated weights":
        weights = newest / "model.weights.h5"
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        (newest / "state.json").write_bytes(b'{"step": 3, "seed_gen\x00\xff')

    restored = pretrainer()
    path, state = restore_newest(restored, tmp_path)
    assert path == tmp_path / "ckpt-000000002" and state["step"] == 2
    for x, y in zip(restored.get_weights(), at_step_2, strict=True):
        np.testing.assert_array_equal(x, y)
    assert f"{newest}" in caplog.text and "resuming from the checkpoint before it" in caplog.text
    # Kept to look at, but never resumed from again.
    assert (tmp_path / "corrupt" / "ckpt-000000003").is_dir()
    assert [step for step, _ in list_checkpoints(tmp_path)] == [1, 2]


def test_a_checkpoint_that_does_not_fit_is_an_error_not_skipped(tmp_path):
    model = pretrainer()
    train(model, 1)
    save_checkpoint(model, tmp_path, 1)
    save_checkpoint(model, tmp_path, 2)
    # Every older checkpoint would not fit either: none is set aside.
    with pytest.raises(CheckpointError, match="ckpt-000000002.*does not fit this model"):
        restore_newest(pretrainer({**TINY_MODEL, "num_layers": 3}), tmp_path)
    assert [step for step, _ in list_checkpoints(tmp_path)] == [1, 2]


def test_when_no_checkpoint_can_be_read_the_error_says_so(tmp_path):
    model = pretrainer()
    train(model, 1)
    save_checkpoint(model, tmp_path, 1)
    (tmp_path / "ckpt-000000001" / "model.weights.h5").write_bytes(b"not HDF5")
    with pytest.raises(CheckpointError, match="no checkpoint could be read; pass --overwrite"):
        restore_newest(pretrainer(), tmp_path)


# --- Two runs on one folder ---------------------------------------------------


def test_a_second_claim_on_a_folder_is_refused_naming_the_first(tmp_path):
    first = RunFolder(tmp_path / "run")
    first.claim(False, None, INPUTS)
    first.mark("running", INPUTS)
    holder = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    # flock: a second open of the lock file conflicts, in this process as in another.
    with pytest.raises(RunFolderError) as refused:
        RunFolder(tmp_path / "run").claim(False, None, INPUTS)
    message = str(refused.value)
    assert "another run is training there" in message
    assert f"pid {os.getpid()} on {socket.gethostname()}, started {holder['started']}" in message
    first.release()
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_a_lock_left_by_a_dead_run_is_taken_over_with_a_warning(tmp_path, caplog):
    run = RunFolder(tmp_path / "run")
    run.claim(False, None, INPUTS)
    run.mark("running", INPUTS)
    # What a SIGKILLed run leaves: the file, without the flock (the kernel drops it).
    dead = {"pid": 999999, "host": "elsewhere", "started": "2026-01-01T00:00:00+00:00"}
    run.release()
    (tmp_path / "run" / LOCK_NAME).write_text(json.dumps(dead))
    again = RunFolder(tmp_path / "run")
    again.claim(False, None, INPUTS)
    assert "taking over the lock of a run that ended without releasing it (pid 999999 on elsewhere" in caplog.text
    assert json.loads((tmp_path / "run" / LOCK_NAME).read_text())["pid"] == os.getpid()
    again.release()


# --- Real processes -----------------------------------------------------------


def test_progress_output_to_a_closed_pipe_is_discarded_not_fatal():
    read_end, write_end = os.pipe()
    os.close(read_end)
    script = (
        "import sys\n"
        "from electra_keras.cli import survive_closed_stdout\n"
        "survive_closed_stdout()\n"
        "for step in range(3):\n"
        "    print('Epoch', step, flush=True)\n"
        "print('still running', file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], stdout=write_end, stderr=subprocess.PIPE, text=True,
                            timeout=120, check=False)
    os.close(write_end)
    # Exits cleanly: no BrokenPipeError, not even at the interpreter's last flush.
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BrokenPipeError" not in result.stderr and result.stderr.endswith("still running\n")


LONG_RUN = ["--steps", 400, *FAST]


def start(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, str(PRETRAIN), *map(str, args)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, **kwargs,
    )


def wait_for_checkpoint(process, checkpoints, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if list_checkpoints(checkpoints):
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended first:\n{process.stderr.read()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint within {timeout}s")


@pytest.mark.slow
def test_sigterm_with_stdout_a_closed_pipe_saves_and_exits_in_bounded_time(small_corpus, tmp_path):
    output = tmp_path / "run"
    read_end, write_end = os.pipe()
    # The reader goes away at once (a `| head` that ended, a dead log collector).
    os.close(read_end)
    process = start("--corpus", *small_corpus, "--output", output, *LONG_RUN, stdout=write_end)
    os.close(write_end)
    wait_for_checkpoint(process, output / "checkpoints")
    # Past the first epoch's progress lines: each write has hit the closed pipe.
    while not list((output / "logs" / "validation").glob("events.*")):
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    signalled = time.time()
    _, stderr = process.communicate(timeout=60)
    assert time.time() - signalled < 60
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
    state = json.loads((output / "run_state.json").read_text())
    assert state["status"] == "interrupted"
    assert list_checkpoints(output / "checkpoints")[-1][0] == state["step"] > 15


@pytest.mark.slow
def test_a_second_run_on_a_folder_in_use_is_refused_naming_the_first(small_corpus, tmp_path):
    output = tmp_path / "run"
    first = start("--corpus", *small_corpus, "--output", output, *LONG_RUN, stdout=subprocess.DEVNULL)
    try:
        wait_for_checkpoint(first, output / "checkpoints")
        second = subprocess.run(
            [sys.executable, str(PRETRAIN), "--corpus", *map(str, small_corpus), "--output", str(output),
             *map(str, LONG_RUN)],
            capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert second.returncode == 2, second.stderr[-3000:]
        assert f"another run is training there (pid {first.pid} on {socket.gethostname()}, started " in second.stderr
        # The first run was not disturbed.
        assert first.poll() is None
        assert json.loads((output / "run_state.json").read_text())["pid"] == first.pid
    finally:
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert not (output / LOCK_NAME).exists()


@pytest.mark.slow
def test_a_full_disk_then_a_damaged_checkpoint_then_the_run_resumes(small_corpus, tmp_path):
    output = tmp_path / "run"
    command = ["--corpus", *small_corpus, "--output", output, "--steps", 60, *FAST]
    first = start(*command, stdout=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(list_checkpoints(output / "checkpoints")) < 2:
        assert first.poll() is None and time.time() < deadline, first.stderr.read()[-3000:]
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
    saved = list_checkpoints(output / "checkpoints")
    assert len(saved) >= 2

    # 1. No room for the next checkpoint (ulimit -f: files of 256 KB at most, about 2 MB needed): the run
    # says so and where, and stops.
    def small_files():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))

    full = subprocess.run(
        [sys.executable, str(PRETRAIN), *map(str, command)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, preexec_fn=small_files,
    )
    assert full.returncode == 4, full.stderr[-3000:]
    assert "Traceback" not in full.stderr
    assert f"error: {output / 'checkpoints'}/ckpt-" in full.stderr
    assert "could not be written, a file outgrew the file-size limit (ulimit -f)" in full.stderr
    assert "run the same command again to resume" in full.stderr
    assert json.loads((output / "run_state.json").read_text())["status"] == "failed"
    # The checkpoints before it are all there, and nothing half-written beside them.
    assert list_checkpoints(output / "checkpoints") == saved
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == [path.name for _, path in saved]

    # 2. The newest checkpoint is damaged meanwhile: the run warns and resumes from the one before.
    (_, before), (_, newest) = saved[-2:]
    (newest / "model.weights.h5").write_bytes(b"\0" * 4096)
    resumed = subprocess.run(
        [sys.executable, str(PRETRAIN), *map(str, command)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{newest / 'model.weights.h5'}: cannot be read" in resumed.stderr
    assert f"resumed from {before} at step" in resumed.stderr
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["steps"] == 60 and metrics["resumed_from_step"] == saved[-2][0]
    assert (output / "checkpoints" / "corrupt" / newest.name).is_dir()
