"""`scripts/finetune.py` (and `electra-finetune`): arguments to `run_finetuning`."""

import argparse
import logging
import sys

from electra_keras.cli import input_errors
from electra_keras.cli import positive_int


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Fine-tune a pretrained discriminator on labelled CSV/TSV/JSONL rows.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="pretraining output folder")
    source.add_argument(
        "--init-from", nargs="+", metavar="DIR",
        help="any pretrained ELECTRA: a run folder or one of its checkpoints, a Hugging Face pair, "
        "a keras-hub preset, an official TF1 checkpoint",
    )
    parser.add_argument("--checkpoint", help="a checkpoints/ckpt-<step> folder; default: the final model")
    parser.add_argument("--train", required=True, help="labelled rows: .csv, .tsv or .jsonl (optionally .gz)")
    parser.add_argument("--eval", required=True, help="held-out rows, same format")
    parser.add_argument("--output", required=True, help="folder for metrics.json and the weights")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--pair-field", help="second text of a pair task")
    parser.add_argument("--label-field", default="label")
    parser.add_argument("--task", choices=["classification", "regression"], default="classification")
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--layer-decay", type=float, default=0.8, help="layer-wise learning-rate decay")
    parser.add_argument("--warmup-fraction", type=float, default=0.1)
    parser.add_argument("--sequence-length", type=positive_int, help="default: the run's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from electra_keras.finetuning.job import FinetuningSettings
    from electra_keras.finetuning.job import run_finetuning

    settings = FinetuningSettings(
        train=args.train, eval=args.eval, output=args.output, text_field=args.text_field,
        pair_field=args.pair_field, label_field=args.label_field, task=args.task, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, layer_decay=args.layer_decay,
        warmup_fraction=args.warmup_fraction, sequence_length=args.sequence_length, seed=args.seed,
    )
    try:
        summary = run_finetuning([args.run] if args.run else args.init_from, settings, checkpoint=args.checkpoint)
    except input_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics = summary["eval"]
    print(f"held-out {', '.join(f'{k} {v:.4f}' for k, v in metrics.items())}; outputs in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
