"""`scripts/build_dataset.py` and `scripts/build_vocab.py`: arguments to the data builders."""

import argparse
import json
import logging
import os
import sys

from electra_keras.cli import add_version_flags
from electra_keras.cli import input_errors
from electra_keras.cli import positive_int


def build_dataset_main(argv=None):
    """`scripts/build_dataset.py`: text, JSONL or CSV into TFRecord shards."""
    parser = argparse.ArgumentParser(
        description="Tokenize and pack a corpus into sharded, compressed TFRecords (resumable).",
    )
    add_version_flags(parser)
    parser.add_argument("inputs", nargs="+", help=".txt/.jsonl/.csv files, optionally .gz")
    parser.add_argument("--vocab", required=True, help="vocab.txt (scripts/build_vocab.py makes one)")
    parser.add_argument("--output", required=True, help="dataset folder; re-run to resume or append")
    parser.add_argument("--sequence-length", type=positive_int, default=128)
    parser.add_argument("--text-field", default="text", help="JSONL field holding the text")
    parser.add_argument("--text-column", default="text", help="CSV column holding the text")
    parser.add_argument("--lowercase", action="store_true")
    parser.add_argument("--examples-per-shard", type=positive_int, default=10000)
    parser.add_argument("--eval-fraction", type=float, default=0.0, help="share of examples for eval shards")
    parser.add_argument("--processes", type=positive_int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from electra_keras.data.builder import BuildSettings
    from electra_keras.data.builder import build_dataset

    if not 0.0 <= args.eval_fraction < 1.0:
        parser.error(f"--eval-fraction must be in [0, 1), got {args.eval_fraction}")
    settings = BuildSettings(
        sequence_length=args.sequence_length, lowercase=args.lowercase,
        text_field=args.text_field, text_column=args.text_column,
        examples_per_shard=args.examples_per_shard, eval_fraction=args.eval_fraction, seed=args.seed,
    )
    try:
        manifest = build_dataset(args.inputs, args.output, args.vocab, settings, args.processes)
    except input_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(manifest["totals"]))
    return 0


def build_vocab_main(argv=None):
    """`scripts/build_vocab.py`: a WordPiece vocab.txt from corpora."""
    parser = argparse.ArgumentParser(description="Learn a WordPiece vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK] first).")
    add_version_flags(parser)
    parser.add_argument("inputs", nargs="+", help=".txt/.jsonl/.csv files, optionally .gz")
    parser.add_argument("--output", required=True, help="vocab.txt to write")
    parser.add_argument("--size", type=positive_int, default=30522)
    parser.add_argument("--lowercase", action="store_true")
    parser.add_argument("--trainer", choices=["keras_hub", "tokenizers"], default="keras_hub")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--text-column", default="text")
    args = parser.parse_args(argv)
    from electra_keras.data import tokenizer as tokenization
    from electra_keras.data.corpus import read_corpus

    try:
        documents, _ = read_corpus(args.inputs, args.text_field, args.text_column)
    except input_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    lines = [line for document in documents for line in document]
    vocabulary = tokenization.build_vocabulary(lines, args.size, args.lowercase, trainer=args.trainer)
    tokenization.save_vocabulary(vocabulary, args.output)
    print(f"wrote {args.output}: {len(vocabulary)} tokens")
    return 0
