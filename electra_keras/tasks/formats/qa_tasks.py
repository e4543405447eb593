"""Real question-answering tasks built from registry packages, written in the SQuAD v2.0 layout.

No QA set (SQuAD, KorQuAD, CMRC) can be had from the registries, so these
are built from real Korean and Chinese text, reproducibly: the LibreOffice
7.4 help (Debian `libreoffice-help-ko` / `-zh-cn` 7.4.7, MPL-2.0), whose
authors marked what they name in the user interface (`electra_keras.data.
tagging_tasks`). One help page is one context: its paragraphs in the
language's script, one per line. For every marked name (a dialog,
toolbar, icon or menu path; 2 to 40 characters) the question is the
sentence it is in with the name blanked out (`＿＿＿`), a cloze question,
and the answer is the name where it stands in the context. Every third
question of a page is also asked of the page after it in its split when
both are in the same module, where it has no answer (`is_impossible`,
SQuAD v2.0); a question whose answer text also occurs there is not asked
again. Pages are split train/dev by a hash of their path.
"""

import hashlib
import json
import pathlib
import re
import tempfile

from electra_keras.files import atomic_directory
from electra_keras.tasks.formats import labelled_tasks
from electra_keras.tasks.formats.labelled_tasks import FetchError
from electra_keras.tasks.formats.tagging_tasks import marked_paragraphs

TASKS = ("libreoffice_ko_qa", "libreoffice_zh_qa")
BLANK = "＿＿＿"
# A sentence ends after . ! ? (and their CJK forms) or where a paragraph does.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[ \t]*|\n")
MAX_QUESTION_CHARACTERS = 250


def cloze_questions(context, spans, page, min_length=2, max_length=40):
    """SQuAD question dicts, one per marked span of `context`: its sentence with the span blanked.

    Example:
    ```python
    cloze_questions("탐색 도구를 엽니다. 닫습니다.", [("UI", 0, 5)], "a.html")[0]["question"]  # "＿＿＿를 엽니다."
    ```
    """
    questions = []
    for number, (_, start, end) in enumerate(spans):
        answer = context[start:end]
        if not min_length <= len(answer.strip()) <= max_length or answer != answer.strip():
            continue
        sentence_start = max((m.end() for m in _SENTENCE_END.finditer(context, 0, start) if m.end() <= start),
                             default=0)
        following = _SENTENCE_END.search(context, end)
        sentence_end = following.start() if following else len(context)
        question = (context[sentence_start:start] + BLANK + context[end:sentence_end]).strip()
        # A bare name with nothing around it asks nothing; code listings make endless "sentences".
        if len(question) <= len(BLANK) + 3 or len(question) > MAX_QUESTION_CHARACTERS:
            continue
        questions.append({"id": f"{page}#{number}", "question": question,
                          "answers": [{"text": answer, "answer_start": start}], "is_impossible": False})
    return questions


def libreoffice_qa_pages(help_root, script="Hangul"):
    """`(page, context, questions)` for every help page with marked names in `script`.

    Example:
    ```python
    pages = libreoffice_qa_pages("lo/usr/share/libreoffice/help/ko/text")
    ```
    """
    pattern = labelled_tasks._SCRIPTS[script]
    pages = []
    for path in sorted(pathlib.Path(help_root).rglob("*.html")):
        page = path.relative_to(help_root).as_posix()
        context, spans = "", []
        for text, found in marked_paragraphs(path.read_text(encoding="utf-8", errors="replace")):
            if not pattern.search(text):
                continue
            offset = len(context) + (1 if context else 0)
            context = f"{context}\n{text}" if context else text
            spans.extend((kind, start + offset, end + offset) for kind, start, end in found)
        questions = cloze_questions(context, spans, page)
        if questions:
            pages.append((page, context, questions))
    if not pages:
        raise FetchError(f"{help_root}: no help pages with marked names in {script} script")
    return pages


def squad_v2(pages):
    """The SQuAD v2.0 dict of `pages`, every third question also asked of the next page of its module.

    Example:
    ```python
    json.dumps(squad_v2(libreoffice_qa_pages(root)))
    ```
    """
    data = []
    for index, (page, context, questions) in enumerate(pages):
        qas = [dict(q) for q in questions]
        previous = pages[index - 1] if index else None
        if previous and previous[0].split("/")[0] == page.split("/")[0]:
            for question in previous[2][::3]:
                answer = question["answers"][0]["text"]
                if answer not in context:
                    qas.append({"id": f"{question['id']}@{page}", "question": question["question"], "answers": [],
                                "plausible_answers": question["answers"], "is_impossible": True})
        data.append({"title": page, "paragraphs": [{"context": context, "qas": qas}]})
    return {"version": "v2.0", "data": data}


def write_qa_task(pages, output_dir, source_note, test_fraction=0.2):
    """Writes `train.json`, `dev.json` (SQuAD v2.0, split by page) and `SOURCE.md`, atomically.

    Example:
    ```python
    write_qa_task(libreoffice_qa_pages(root), "data/labelled/libreoffice_ko_qa", "# note")
    ```
    """
    dev_side = {page for page, _, _ in pages if labelled_tasks.in_test_split(page, test_fraction)}
    splits = {"train": [p for p in pages if p[0] not in dev_side], "dev": [p for p in pages if p[0] in dev_side]}
    counts = {}
    with atomic_directory(output_dir) as staging:
        for name, split in splits.items():
            dataset = squad_v2(split)
            (staging / f"{name}.json").write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
            qas = [qa for article in dataset["data"] for qa in article["paragraphs"][0]["qas"]]
            counts[name] = {"pages": len(split), "questions": len(qas),
                            "unanswerable": sum(qa["is_impossible"] for qa in qas)}
        (staging / "SOURCE.md").write_text(f"{source_note}\n\nPer split: {counts}\n", encoding="utf-8")
    return counts


def fetch_libreoffice_qa(language, output_dir, download_dir=None):
    """Downloads `libreoffice-help-ko` (or `-zh-cn`) with apt and writes its cloze QA task.

    Example:
    ```python
    fetch_libreoffice_qa("ko", "data/labelled/libreoffice_ko_qa")
    ```
    """
    package_name, help_root, script = labelled_tasks.LIBREOFFICE_LANGUAGES[language]
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(download_dir or scratch)
        package = labelled_tasks._apt_download(package_name, folder)
        version = labelled_tasks._run(["dpkg-deb", "--field", str(package), "Version"], folder).strip()
        digest = hashlib.sha256(package.read_bytes()).hexdigest()
        extracted = folder / f"extracted-{language}"
        labelled_tasks._run(["dpkg-deb", "-x", str(package), str(extracted)], folder)
        pages = libreoffice_qa_pages(extracted / help_root, script)
    note = (
        f"# LibreOffice help ({language}): cloze questions on the names its authors marked\n\n"
        f"From `/{help_root}` in the Debian package `{package_name}` {version} (sha256 {digest}), MPL-2.0. "
        "A page's paragraphs in its script are one context; each marked name (2-40 characters) is blanked "
        f"out of its sentence ({BLANK}) to make the question; every third question is also asked of the "
        "next page of the module, unanswerable there (SQuAD v2.0). Built by electra_keras/data/qa_tasks.py."
    )
    return write_qa_task(pages, output_dir, note)


def fetch(task, output_dir, download_dir=None):
    """Fetches one of `TASKS` into `output_dir`."""
    languages = {"libreoffice_ko_qa": "ko", "libreoffice_zh_qa": "zh"}
    if task not in languages:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return fetch_libreoffice_qa(languages[task], output_dir, download_dir)
