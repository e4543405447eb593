"""The release's promises about versions: ranges in pyproject.toml, floors tested by CI."""

import re

import pytest
from conftest import ROOT

import electra_keras

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _floor_pins():
    pins = {}
    for line in (ROOT / "constraints" / "floor.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_every_dependency_is_a_range_whose_floor_ci_installs():
    floors = {}
    for requirement in _pyproject()["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)(,<[0-9.]+)?", requirement)
        assert match, f"{requirement!r} is not a range with a floor"
        floors[match.group(1).lower()] = match.group(2)
    assert floors == _floor_pins()


def test_tensorflow_and_its_companions_share_a_floor_minor_version():
    pins = _floor_pins()
    minor = pins["tensorflow"].rsplit(".", 1)[0]
    for companion in ("tensorflow-text", "tensorflow-serving-api", "tensorboard"):
        assert pins[companion].startswith(minor + "."), companion


def test_the_version_is_declared_once():
    project = _pyproject()
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "electra_keras.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {electra_keras.__version__} (" in changelog
