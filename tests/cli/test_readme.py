"""README.md's own-code example runs as written (on a small corpus)."""

import gzip
import os
import re
import shutil

import keras_hub
from conftest import ROOT

from electra_keras import data


def test_own_code_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In your own Keras code", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # Same code, fewer steps.
    code = code.replace("steps_per_epoch=1000, epochs=10", "steps_per_epoch=2, epochs=1")
    assert "steps_per_epoch=2" in code
    with gzip.open(data.DEFAULT_CORPUS[0], "rt", encoding="utf-8") as file:
        (tmp_path / "corpus.txt").write_text("\n".join(file.read().splitlines()[:400]), encoding="utf-8")
    shutil.copy(data.DEFAULT_VOCABULARY, tmp_path / "vocab.txt")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert isinstance(namespace["backbone"], keras_hub.models.ElectraBackbone)
    assert int(namespace["pretrainer"].optimizer.iterations) == 2
    assert os.getcwd() == str(tmp_path)
