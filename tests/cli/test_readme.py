"""README.md's Keras example runs as written: text file to classifier, through presets."""

import gzip
import os
import re

import keras_hub
import numpy as np
import pytest
from conftest import ROOT

import electra_keras
from electra_keras import data


def readme_code():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In your own Keras code", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_keras_path_is_short_and_never_touches_token_ids():
    code = readme_code()
    lines = [line for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(lines) < 15
    assert "token_ids" not in code and "mask_token_id" not in code


@pytest.mark.slow  # learns a vocabulary, trains and saves two models
def test_own_code_example_runs(tmp_path, monkeypatch):
    code = readme_code()
    # Same code, fewer steps.
    for old, new in {"steps_per_epoch=1000, epochs=2": "steps_per_epoch=2, epochs=1", "epochs=3": "epochs=1"}.items():
        assert old in code, old
        code = code.replace(old, new)
    with gzip.open(data.DEFAULT_CORPUS[0], "rt", encoding="utf-8") as file:
        (tmp_path / "corpus.txt").write_text("\n".join(file.read().splitlines()[:300]), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert os.getcwd() == str(tmp_path)

    pretrainer, classifier = namespace["pretrainer"], namespace["classifier"]
    assert int(pretrainer.optimizer.iterations) == 2
    batch = pretrainer.preprocessor(["The jury said it did find that the election was conducted."])
    backbone = keras_hub.models.ElectraBackbone.from_preset(str(tmp_path / "my_electra"))
    np.testing.assert_allclose(
        backbone(batch)["sequence_output"], pretrainer.discriminator(batch)["sequence_output"], atol=1e-5
    )
    reloaded = electra_keras.ElectraTextClassifier.from_preset(str(tmp_path / "my_classifier"))
    texts = ["what a film", "a tedious mess"]
    np.testing.assert_allclose(reloaded.predict(texts, verbose=0), classifier.predict(texts, verbose=0), atol=1e-5)
