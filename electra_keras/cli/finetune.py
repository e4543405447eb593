"""`scripts/finetune.py` (and `electra-finetune`): arguments to `run_finetuning`."""

import argparse
import logging
import sys

from electra_keras.cli import add_version_flags
from electra_keras.cli import input_errors
from electra_keras.cli import positive_int
from electra_keras.cli import survive_closed_stdout
from electra_keras.tasks.registry import TASKS


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Fine-tune a pretrained discriminator on labelled CSV/TSV/JSONL rows, "
        "on CoNLL/JSONL tagged sentences (--task tagging), or on SQuAD-layout JSON (--task qa).",
    )
    add_version_flags(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="pretraining output folder")
    source.add_argument(
        "--init-from", nargs="+", metavar="DIR",
        help="any pretrained ELECTRA: a run folder or one of its checkpoints, a Hugging Face pair, "
        "a keras-hub preset, an official TF1 checkpoint",
    )
    parser.add_argument("--checkpoint", help="a checkpoints/ckpt-<step> folder; default: the final model")
    parser.add_argument(
        "--train", required=True,
        help="labelled rows: .csv, .tsv or .jsonl (optionally .gz); tagging: a CoNLL file or .jsonl sentences; "
        "qa: SQuAD v1.1/v2.0, KorQuAD or CMRC JSON",
    )
    parser.add_argument("--eval", required=True, help="held-out rows, same format")
    parser.add_argument("--output", required=True, help="folder for metrics.json and the weights")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--pair-field", help="second text of a pair task")
    parser.add_argument("--label-field", default="label")
    parser.add_argument(
        "--task", choices=list(TASKS), default="classification"
    )
    parser.add_argument("--tag-column", type=int, default=-1, help="tagging: the CoNLL column of the tag")
    parser.add_argument("--tokens-field", default="tokens", help="tagging: the JSONL field of the words")
    parser.add_argument("--tags-field", default="tags", help="tagging: the JSONL field of the tags")
    parser.add_argument("--doc-stride", type=positive_int, default=128, help="qa: context tokens between windows")
    parser.add_argument("--max-question-tokens", type=positive_int, default=64, help="qa: longer questions are cut")
    parser.add_argument("--max-answer-length", type=positive_int, default=30, help="qa: the longest answer, in tokens")
    parser.add_argument("--n-best", type=positive_int, default=20, help="qa: start and end candidates per window")
    parser.add_argument(
        "--label-separator", default="|", help="multi_label: labels of a CSV/TSV row joined by this (JSONL: a list)"
    )
    parser.add_argument("--epochs", type=positive_int, default=10, help="at most this many (early stopping)")
    parser.add_argument(
        "--patience", type=positive_int, default=2, help="stop after this many epochs without a better dev score"
    )
    parser.add_argument(
        "--min-steps", type=int, default=600,
        help="train at least this many steps (more epochs on small data) before early stopping may stop",
    )
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument(
        "--learning-rate", type=float,
        help="default by model size: tiny 1e-3, small 3e-4, base 1e-4, large 5e-5",
    )
    parser.add_argument("--layer-decay", type=float, help="layer-wise learning-rate decay; default 0.8 (large 0.9)")
    parser.add_argument("--warmup-fraction", type=float, default=0.1)
    parser.add_argument("--sequence-length", type=positive_int, help="default: the checkpoint's, else 128")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--random-init", action="store_true",
        help="keep the checkpoint's sizes and vocabulary but start from random weights (a baseline)",
    )
    parser.add_argument(
        "--on-collapse", choices=("warn", "fail", "random-init"), default="warn",
        help="when the starting encoder's token states have collapsed to one vector: warn and go on (default), "
             "stop, or start from random weights of the same sizes",
    )
    args = parser.parse_args(argv)
    survive_closed_stdout()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from electra_keras.finetuning.health import CollapsedEncoderError
    from electra_keras.finetuning.job import FinetuningSettings
    from electra_keras.finetuning.job import run_finetuning

    settings = FinetuningSettings(
        train=args.train, eval=args.eval, output=args.output, text_field=args.text_field,
        pair_field=args.pair_field, label_field=args.label_field, task=args.task,
        label_separator=args.label_separator, epochs=args.epochs, patience=args.patience, min_steps=args.min_steps,
        batch_size=args.batch_size, learning_rate=args.learning_rate, layer_decay=args.layer_decay,
        warmup_fraction=args.warmup_fraction, sequence_length=args.sequence_length, seed=args.seed,
        random_init=args.random_init, tag_column=args.tag_column, tokens_field=args.tokens_field,
        tags_field=args.tags_field, doc_stride=args.doc_stride, max_question_tokens=args.max_question_tokens,
        max_answer_length=args.max_answer_length, n_best=args.n_best, on_collapse=args.on_collapse,
    )
    try:
        summary = run_finetuning([args.run] if args.run else args.init_from, settings, checkpoint=args.checkpoint)
    except input_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CollapsedEncoderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    metrics = {k: v for k, v in summary["eval"].items() if isinstance(v, float)}
    if summary["task"] == "tagging":
        metrics = {k: metrics[k] for k in ("precision", "recall", "f1", "token_accuracy")}
    elif summary["task"] == "qa":
        metrics = {k: v for k, v in metrics.items() if k in ("exact", "f1", "HasAns_f1", "NoAns_f1")}
    print(
        f"best epoch {summary['best_epoch']} of {len(summary['epochs'])}: dev "
        f"{', '.join(f'{k} {v:.4f}' for k, v in metrics.items())}; outputs in {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
