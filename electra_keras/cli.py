"""Command line of `scripts/pretrain.py` (and the `electra-pretrain` script).

Pretrains ELECTRA on text files; with no arguments, the bundled demo.

Examples:
    ```
    python scripts/pretrain.py
    python scripts/pretrain.py --config configs/small.yaml --corpus a.txt b.txt.gz \
        --vocab vocab.txt --output runs/small --steps 100000 --batch-size 128 \
        --set optimizer.learning_rate=3e-4
    ```
"""

import argparse
import datetime
import logging
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Pretrain an ELECTRA discriminator (replaced token detection).",
        epilog="With no arguments: the tiny config on the bundled English+Korean corpus.",
    )
    parser.add_argument("--config", default=str(CONFIG_DIR / "tiny.yaml"), help="YAML config")
    parser.add_argument("--corpus", nargs="+", help="text files (.txt/.txt.gz); default: bundled corpus")
    parser.add_argument("--vocab", help="vocab.txt to use; default: bundled with the bundled corpus, else built")
    parser.add_argument("--output", help="output folder; default: ./runs/<config>-<time>")
    parser.add_argument("--steps", type=positive_int, help="training.num_steps")
    parser.add_argument("--batch-size", type=positive_int, help="training.batch_size")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set optimizer.learning_rate=1e-4",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Imported after parsing so that --help and usage errors are instant.
    from electra_keras import data
    from electra_keras.config import ConfigError
    from electra_keras.config import ElectraConfig
    from electra_keras.tokenizer import VocabularyError
    from electra_keras.training import OutputError
    from electra_keras.training import run_pretraining

    overrides = list(args.set)
    if args.steps:
        overrides.append(f"training.num_steps={args.steps}")
    if args.batch_size:
        overrides.append(f"training.batch_size={args.batch_size}")
    corpus = args.corpus or [str(p) for p in data.DEFAULT_CORPUS]
    vocab = args.vocab
    if vocab is None and not args.corpus:
        vocab = str(data.DEFAULT_VOCABULARY)
    output = args.output or str(
        pathlib.Path("runs") / f"{pathlib.Path(args.config).stem}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    )
    try:
        config = ElectraConfig.from_yaml(args.config, overrides)
        metrics = run_pretraining(config, corpus, output, vocabulary_path=vocab, overwrite=args.overwrite)
    except (ConfigError, data.CorpusError, VocabularyError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; {output} is marked failed", file=sys.stderr)
        return 130
    held_out = metrics["eval"]
    print(
        f"done in {metrics['seconds']:.0f}s, {metrics['steps']} steps: held-out "
        f"mlm_loss {held_out.get('mlm_loss', float('nan')):.3f}, "
        f"gen_accuracy {held_out.get('gen_accuracy', float('nan')):.3f}, "
        f"disc_accuracy {held_out.get('disc_accuracy', float('nan')):.3f} "
        f"(all-original baseline {metrics['eval_all_original_accuracy']:.3f})\n"
        f"outputs in {output}; discriminator SavedModel in {output}/export/discriminator/1"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


def export_main(argv=None):
    """`scripts/export.py`: a run's discriminator into a TF Serving model folder."""
    parser = argparse.ArgumentParser(
        description="Export a trained discriminator as a SavedModel under BASE/NAME/VERSION.",
    )
    parser.add_argument("--run", required=True, help="pretraining output folder")
    parser.add_argument("--checkpoint", help="a checkpoints/*.weights.h5 file; default: the final model")
    parser.add_argument("--base", required=True, help="model base folder (TF Serving's model_base_path parent)")
    parser.add_argument("--name", default="electra", help="model name (folder under --base)")
    parser.add_argument("--version", type=positive_int, help="version number; default: next free one")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from electra_keras import export
    from electra_keras.config import ConfigError
    from electra_keras.tokenizer import VocabularyError
    from electra_keras.training import OutputError
    from electra_keras.training import load_run
    from electra_keras.training import next_version

    try:
        config, vocabulary, pretrainer = load_run(args.run, args.checkpoint)
    except (ConfigError, VocabularyError, OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    model_dir = pathlib.Path(args.base) / args.name
    version = args.version or next_version(model_dir)
    target = export.export_discriminator(
        pretrainer,
        model_dir / str(version),
        vocabulary=vocabulary,
        sequence_length=config.data.sequence_length,
        lowercase=config.data.lowercase,
        strip_accents=config.data.strip_accents,
        warmup_texts=export.DEFAULT_WARMUP_TEXTS,
    )
    print(f"exported {target}")
    return 0
