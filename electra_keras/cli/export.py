"""`scripts/export.py` (and `electra-export`): arguments to `export_pretrained`."""

import argparse
import logging
import sys

from electra_keras.cli import WRITE_FAILED
from electra_keras.cli import add_version_flags
from electra_keras.cli import input_errors
from electra_keras.cli import positive_int
from electra_keras.cli import write_failure


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Export a trained discriminator as a SavedModel under BASE/NAME/VERSION "
        "(or, with --format, as Hugging Face folders or a keras-hub preset under --base).",
    )
    add_version_flags(parser, long_flag=False)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="pretraining output folder")
    source.add_argument(
        "--init-from", nargs="+", metavar="DIR",
        help="any pretrained ELECTRA: a run folder, a Hugging Face pair, a keras-hub preset, an official checkpoint",
    )
    parser.add_argument("--checkpoint", help="a checkpoints/ckpt-<step> folder; default: the final model")
    parser.add_argument("--base", required=True, help="model base folder (TF Serving's model_base_path parent)")
    parser.add_argument(
        "--format", choices=["savedmodel", "huggingface", "keras-hub"], default="savedmodel",
        help="huggingface: BASE/generator and BASE/discriminator for transformers; "
        "keras-hub: BASE as an ElectraBackbone preset",
    )
    parser.add_argument("--name", default="electra", help="model name (folder under --base)")
    parser.add_argument("--version", type=positive_int, help="version number; default: next free one")
    parser.add_argument("--sequence-length", type=positive_int, help="serving length; default: the run's, else 128")
    parser.add_argument(
        "--length-buckets", nargs="+", type=positive_int, metavar="WIDTH",
        help="widths the model runs at, each text at the narrowest that holds it "
        "(default 8 16 24 32 48 64 96 ... up to the length, with --xla 16 32 64 ...; "
        "give the length alone for fixed shapes)",
    )
    parser.add_argument(
        "--no-group-by-length", action="store_true",
        help="run a batch at the width of its longest text instead of each text at its own",
    )
    parser.add_argument(
        "--xla", action="store_true",
        help="compile the model with XLA (TF Serving then needs --xla_cpu_compilation_enabled=true)",
    )
    parser.add_argument(
        "--keras-graph", action="store_true",
        help="serve the model through its Keras layers instead of the fused serving graph "
        "(the same outputs; the fused graph is faster on CPUs)",
    )
    parser.add_argument(
        "--max-texts", type=positive_int,
        help="most texts one request may hold; more get INVALID_ARGUMENT (default 64)",
    )
    parser.add_argument(
        "--max-text-characters", type=positive_int,
        help="most characters one text may have; longer get INVALID_ARGUMENT (default 10000)",
    )
    parser.add_argument(
        "--max-request-characters", type=positive_int,
        help="most characters of all the texts of a request together (default 100000)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from electra_keras.export.job import export_pretrained

    limits = {"max_texts": args.max_texts, "max_text_characters": args.max_text_characters,
              "max_request_characters": args.max_request_characters}
    buckets = {"widths": args.length_buckets, "group_by_length": not args.no_group_by_length, "jit_compile": args.xla}
    try:
        target = export_pretrained(
            [args.run] if args.run else args.init_from, args.base, format=args.format, name=args.name,
            version=args.version, checkpoint=args.checkpoint, sequence_length=args.sequence_length,
            length_buckets=buckets, fused=not args.keras_graph,
            request_limits={name: value for name, value in limits.items() if value is not None},
        )
    except (*input_errors(), ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        message = write_failure(error)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return WRITE_FAILED
    if args.format == "huggingface":
        print(f"exported {target}/generator and {target}/discriminator")
    else:
        print(f"exported {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
