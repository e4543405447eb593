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
