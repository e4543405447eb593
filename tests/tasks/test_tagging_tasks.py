"""The tagging tasks built from registry packages, on small files the tests make (no network)."""

import hashlib
import io
import tarfile

import pytest

from electra_keras.tasks.formats import tagging_tasks
from electra_keras.tasks.formats.labelled_tasks import FetchError
from electra_keras.tasks.formats.tagging import read_tagged

BROWN = (
    "\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr "
    "Ivan/np Allen/np Jr./np ,/, of/in Atlanta's/np$ mayor/nn ./.\n\n"
    "\tHe/pps voted/vbd ./.\n"
)


def test_marked_spans_tag_the_words_they_touch():
    markup = (
        '<h1>도움말</h1><p><span class="emph">탐색 도구 표시줄</span>을 사용합니다. '
        '<span class="avis"><span class="emph">A</span> <span class="emph">B</span></span> '
        '<span class="menuitem">서식 - 셀</span> 또는 <span class="keycode">Ctrl+1</span>, '
        '<span class="literal">x</span></p>'
    )
    sentences = tagging_tasks.marked_sentences(markup)
    assert sentences[0] == (["도움말"], ["O"])
    words, tags = sentences[1]
    assert list(zip(words, tags)) == [
        ("탐색", "B-UI"), ("도구", "I-UI"), ("표시줄을", "I-UI"), ("사용합니다.", "O"),
        ("A", "B-UI"), ("B", "B-UI"),  # two spans side by side: two entities
        ("서식", "B-MENU"), ("-", "I-MENU"), ("셀", "I-MENU"), ("또는", "O"), ("Ctrl+1,", "B-KEY"), ("x", "O"),
    ]


def test_help_pages_give_hangul_sentences_once(tmp_path):
    page = tmp_path / "text" / "scalc" / "01" / "a.html"
    page.parent.mkdir(parents=True)
    page.write_text('<p><span class="emph">셀 서식</span> 대화 상자를 엽니다.</p><p>English only here too.</p>'
                    '<p>짧은 문장</p>')
    (tmp_path / "text" / "scalc" / "b.html").write_text("<p><span class=\"emph\">셀 서식</span> 대화 상자를 엽니다.</p>")
    rows = tagging_tasks.libreoffice_tagged_rows(tmp_path / "text")
    assert rows == [{"tokens": ["셀", "서식", "대화", "상자를", "엽니다."], "tags": ["B-UI", "I-UI", "O", "O", "O"],
                     "group": "scalc/01/a.html"}]
    with pytest.raises(FetchError, match="no Hangul help paragraphs"):
        tagging_tasks.libreoffice_tagged_rows(tmp_path / "text" / "scalc" / "01" / "none")


def test_brown_titles_and_names_come_from_the_hand_made_tags(tmp_path):
    (tmp_path / "ca01").write_text(BROWN)
    (tmp_path / "README").write_text("not a Brown file")
    rows = tagging_tasks.brown_tagged_rows(tmp_path)
    assert [row["group"] for row in rows] == ["ca01", "ca01"]
    assert list(zip(rows[0]["tokens"], rows[0]["tags"])) == [
        ("The", "O"), ("Fulton", "B-TITLE"), ("County", "I-TITLE"), ("Grand", "I-TITLE"), ("Jury", "I-TITLE"),
        ("said", "O"), ("Friday", "O"), ("Ivan", "B-NAME"), ("Allen", "I-NAME"), ("Jr.", "I-NAME"), (",", "O"),
        ("of", "O"), ("Atlanta's", "B-NAME"), ("mayor", "O"), (".", "O"),
    ]
    assert rows[1]["tags"] == ["O", "O", "O"]


def test_a_written_task_reads_back_as_conll_split_by_group(tmp_path):
    rows = [{"tokens": ["Kim", f"w{i}"], "tags": ["B-NAME", "O"], "group": f"file{i % 20}"} for i in range(100)]
    counts = tagging_tasks.write_tagged_task(rows, tmp_path / "task", "# note")
    train, test = read_tagged(tmp_path / "task" / "train.conll"), read_tagged(tmp_path / "task" / "test.conll")
    assert len(train) + len(test) == 100 and 0 < len(test) < 50
    assert counts["train"] == {"rows": len(train), "labels": {"NAME": len(train)}}
    assert "# note" in (tmp_path / "task" / "SOURCE.md").read_text()


def _brown_package(path):
    data = BROWN.encode()
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("package/ca01")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_brown_package_is_checked_against_its_pinned_checksum(tmp_path, monkeypatch):
    name, version, _ = tagging_tasks.BROWN_PACKAGE
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    digest = _brown_package(downloads / f"{name}-{version}.tgz")
    with pytest.raises(FetchError, match=f"{name}-{version}.tgz: sha256 {digest}, expected"):
        tagging_tasks.fetch("brown_names", tmp_path / "out", downloads)
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(tagging_tasks, "BROWN_PACKAGE", (name, version, digest))
    counts = tagging_tasks.fetch("brown_names", tmp_path / "out", downloads)
    assert counts["train"]["rows"] + counts["test"]["rows"] == 2
