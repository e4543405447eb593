import pytest

from electra_keras.files import atomic_path


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "ckpt-1.weights.h5"
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(".weights.h5")
        assert temporary.name.startswith(".")
        temporary.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-1.weights.h5"]


def test_a_full_disk_is_a_write_failed_naming_the_file_and_the_old_file_stays(tmp_path):
    import errno

    from electra_keras.files import WriteFailed
    from electra_keras.files import write_json_atomic

    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"loss": 1.0})
    with pytest.raises(WriteFailed, match=r"metrics.json: could not be written, the disk is full \(\[Errno 28\]"):
        with atomic_path(target) as temporary:
            temporary.write_text("{half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == '{\n  "loss": 1.0\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_replacing_a_folder_never_leaves_neither(tmp_path, monkeypatch):
    import os

    from electra_keras.files import replace_directory

    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_text("old")
    (tmp_path / ".1.tmp").mkdir()
    (tmp_path / ".1.tmp" / "saved_model.pb").write_text("new")
    # The two-rename fallback has a moment with no "1"; a rename is the only way to get there.
    monkeypatch.setattr(os, "rename", lambda *args: pytest.fail("renamed in two steps"))
    replace_directory(tmp_path / ".1.tmp", tmp_path / "1")
    assert (tmp_path / "1" / "saved_model.pb").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["1"]


def test_staging_left_by_a_dead_process_is_removed_by_the_next_write(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from electra_keras.files import atomic_directory

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    host = socket.gethostname()
    left = tmp_path / f".2.tmp-{host}-{dead.stdout.strip()}"
    running = tmp_path / f".3.tmp-{host}-{os.getpid()}"
    left.mkdir()
    running.mkdir()
    with atomic_directory(tmp_path / "4") as staging:
        (staging / "saved_model.pb").write_text("4")
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, "4"]
