"""Faults while a SavedModel is exported: the version TF Serving loads stays whole."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import HELPERS
from conftest import file_size_limit
from conftest import run_signature
from tiny_export import TEXTS
from tiny_export import export_tiny

from electra_keras.export.savedmodel import next_version
from electra_keras.files import WriteFailed


def tree_digest(folder):
    """One hash of every file's path and bytes under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def versions(model_dir):
    """The folders TF Serving would consider: all-digit names (it loads the highest)."""
    return sorted(p.name for p in model_dir.iterdir() if p.name.isdigit())


@pytest.mark.slow  # two exports: about a minute
def test_a_full_disk_during_an_export_keeps_the_served_version(tmp_path):
    model_dir = tmp_path / "electra"
    export_tiny(model_dir / "1")
    before = tree_digest(model_dir / "1")
    # ulimit -f: TensorFlow's writer fails part-way through the new version's files.
    with file_size_limit(32 * 1024), pytest.raises(WriteFailed) as failed:
        export_tiny(model_dir / "2", seed=1)
    message = str(failed.value)
    assert f"{model_dir / '2'}: could not be written, a file outgrew the file-size limit" in message
    assert "File too large" in message
    # Nothing of version 2, not even its staging folder.
    assert [p.name for p in model_dir.iterdir()] == ["1"]
    assert tree_digest(model_dir / "1") == before


@pytest.mark.slow
def test_sigkill_during_an_export_leaves_the_previous_version_servable(tmp_path):
    model_dir = tmp_path / "electra"
    export_tiny(model_dir / "1")
    before = tree_digest(model_dir / "1")
    served = run_signature(model_dir / "1", tmp_path, "serving_default", {"text": TEXTS})

    exporting = subprocess.Popen(
        [sys.executable, str(HELPERS / "tiny_export.py"), str(model_dir / "2"), "1"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    # Killed once the new version's files are being written into its staging folder.
    deadline = time.time() + 300
    while not any(any(staging.iterdir()) for staging in model_dir.glob(f".2.tmp-*-{exporting.pid}")):
        assert exporting.poll() is None, f"the export ended before it was killed:\n{exporting.stderr.read()[-3000:]}"
        assert time.time() < deadline
        time.sleep(0.005)
    exporting.send_signal(signal.SIGKILL)
    exporting.communicate(timeout=60)
    assert exporting.returncode == -signal.SIGKILL

    # The staging folder's name is not a number: TF Serving still sees version 1 only, unchanged.
    assert versions(model_dir) == ["1"]
    assert tree_digest(model_dir / "1") == before
    again = run_signature(model_dir / "1", tmp_path, "serving_default", {"text": TEXTS})
    np.testing.assert_array_equal(again["pooled_output"], served["pooled_output"])
    # The next export takes version 2 as if nothing happened, and removes what the killed one left.
    assert next_version(model_dir) == 2
    export_tiny(model_dir / "2", seed=1)
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "2"]
