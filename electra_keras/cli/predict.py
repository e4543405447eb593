"""`scripts/predict.py` (and `electra-predict`): arguments to `predict_file`."""

import argparse
import logging
import sys

from electra_keras.cli import add_version_flags
from electra_keras.cli import input_errors


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Run a fine-tuned classifier over CSV/TSV/JSONL rows (a tagger: also CoNLL files; "
        "a question answerer: SQuAD files) and write JSON Lines predictions.",
    )
    add_version_flags(parser)
    parser.add_argument("--model", required=True, help="a fine-tuning output folder, or a SavedModel folder")
    parser.add_argument("--input", required=True, help="rows: .csv, .tsv or .jsonl (optionally .gz); a tagger also reads CoNLL; a QA model reads SQuAD .json")
    parser.add_argument("--output", required=True, help="predictions, one JSON object per line")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--pair-field", help="second text of a pair task")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from electra_keras.finetuning.predict import predict_file

    try:
        count = predict_file(args.model, args.input, args.output, args.text_field, args.pair_field, args.batch_size)
    except input_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} predictions to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
