"""The cloze QA tasks built from marked help pages, on pages the tests make (no network)."""

import pytest

from electra_keras.tasks.formats import qa_tasks
from electra_keras.tasks.formats.labelled_tasks import FetchError
from electra_keras.tasks.formats.squad import read_squad
from electra_keras.tasks.formats.tagging_tasks import marked_paragraphs

PAGE = ('<h1>셀 서식</h1><p><span class="emph">셀 서식</span> 대화 상자를 엽니다. 그 다음 <span class="emph">확인</span>을 '
        '누릅니다.</p><p><span class="menuitem">서식 - 셀</span></p><p>English only.</p>')


def test_marked_paragraphs_keep_each_span_as_a_character_range():
    paragraphs = marked_paragraphs(PAGE)
    text, spans = paragraphs[1]
    assert [(kind, text[start:end]) for kind, start, end in spans] == [("UI", "셀 서식"), ("UI", "확인")]
    assert paragraphs[2] == ("서식 - 셀", [("MENU", 0, 6)])


def test_each_marked_name_is_blanked_out_of_its_own_sentence():
    context = "셀 서식 대화 상자를 엽니다. 그 다음 확인을 누릅니다.\n다른 문단."
    questions = qa_tasks.cloze_questions(context, [("UI", 0, 4), ("UI", 22, 24)], "p.html")
    assert [q["question"] for q in questions] == ["＿＿＿ 대화 상자를 엽니다.", "그 다음 ＿＿＿을 누릅니다."]
    assert [q["answers"] for q in questions] == [[{"text": "셀 서식", "answer_start": 0}],
                                                 [{"text": "확인", "answer_start": 22}]]
    # A name that is its whole sentence, or a single character, makes no question.
    assert qa_tasks.cloze_questions("서식 - 셀\n확", [("MENU", 0, 6), ("UI", 7, 8)], "p.html") == []


def test_pages_become_a_squad_v2_file_with_unanswerable_questions(tmp_path):
    root = tmp_path / "text"
    for name, word in (("a", "확인"), ("b", "취소"), ("c", "닫기")):
        page = root / "scalc" / f"{name}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f'<p>대화 상자에서 <span class="emph">{word}</span> 단추를 누릅니다.</p>')
    pages = qa_tasks.libreoffice_qa_pages(root)
    assert [page for page, _, _ in pages] == ["scalc/a.html", "scalc/b.html", "scalc/c.html"]
    dataset = qa_tasks.squad_v2(pages)
    second = dataset["data"][1]["paragraphs"][0]
    impossible = [qa for qa in second["qas"] if qa["is_impossible"]]
    assert len(impossible) == 1 and impossible[0]["plausible_answers"][0]["text"] == "확인"
    counts = qa_tasks.write_qa_task(pages, tmp_path / "task", "# note", test_fraction=0.5)
    examples = read_squad(tmp_path / "task" / "train.json") + read_squad(tmp_path / "task" / "dev.json")
    assert len(examples) == counts["train"]["questions"] + counts["dev"]["questions"]
    answered = [e for e in examples if not e.is_impossible]
    assert all(e.context[e.answers[0][1]:].startswith(e.answers[0][0]) for e in answered)
    with pytest.raises(FetchError, match="no help pages with marked names"):
        qa_tasks.libreoffice_qa_pages(tmp_path / "text" / "none")
