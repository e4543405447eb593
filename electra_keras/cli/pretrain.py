"""`scripts/pretrain.py` (and `electra-pretrain`): arguments to `run_pretraining`.

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
import pathlib
import sys

from electra_keras.cli import WRITE_FAILED
from electra_keras.cli import add_version_flags
from electra_keras.cli import input_errors
from electra_keras.cli import positive_int
from electra_keras.cli import survive_closed_stdout
from electra_keras.cli import write_failure
from electra_keras.config import CONFIG_DIR


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Pretrain an ELECTRA discriminator (replaced token detection).",
        epilog="With no arguments: the tiny config on the bundled English+Korean corpus.",
    )
    add_version_flags(parser)
    parser.add_argument("--config", default=str(CONFIG_DIR / "tiny.yaml"), help="YAML config")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--corpus", nargs="+",
        help="corpus files (.txt, or .jsonl/.csv with a \"text\" field), optionally .gz; default: bundled corpus",
    )
    source.add_argument("--data", help="a dataset folder built by scripts/build_dataset.py")
    parser.add_argument("--vocab", help="vocab.txt to use; default: bundled with the bundled corpus, else built")
    parser.add_argument("--output", help="output folder; default: ./runs/<config>-<time>")
    parser.add_argument("--steps", type=positive_int, help="training.num_steps")
    parser.add_argument("--batch-size", type=positive_int, help="training.batch_size")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set optimizer.learning_rate=1e-4",
    )
    parser.add_argument(
        "--init-from", nargs="+", metavar="DIR",
        help="continue pretraining a pretrained ELECTRA (domain adaptation): a run folder or one of its "
        "checkpoints, a Hugging Face pair (a folder with generator/ and discriminator/, or the two model "
        "folders), a keras-hub preset or an official TF1 checkpoint folder; its sizes and vocabulary are used",
    )
    parser.add_argument(
        "--strategy", choices=["auto", "default", "mirrored", "multi_worker", "tpu"],
        help="training.strategy: tf.distribute strategy (multi_worker reads TF_CONFIG)",
    )
    parser.add_argument(
        "--accumulate", type=positive_int, metavar="K",
        help="training.gradient_accumulation_steps: split each batch into K micro-batches",
    )
    parser.add_argument(
        "--probe", metavar="DIR",
        help="training.probe_data: a folder with labelled train.jsonl/test.jsonl (e.g. from "
        "scripts/fetch_labelled_data.py); a linear probe on the discriminator is scored at each evaluation",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace an earlier run in --output (without it, an unfinished run there is resumed)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    survive_closed_stdout()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from electra_keras.config import ElectraConfig
    from electra_keras.data.corpus import DEFAULT_CORPUS
    from electra_keras.data.corpus import DEFAULT_VOCABULARY
    from electra_keras.pretraining.job import run_pretraining
    from electra_keras.runs.callbacks import NonFiniteLossError
    from electra_keras.runs.callbacks import TrainingInterrupted

    overrides = list(args.set)
    if args.steps:
        overrides.append(f"training.num_steps={args.steps}")
    if args.batch_size:
        overrides.append(f"training.batch_size={args.batch_size}")
    if args.strategy:
        overrides.append(f"training.strategy={args.strategy}")
    if args.accumulate:
        overrides.append(f"training.gradient_accumulation_steps={args.accumulate}")
    if args.probe:
        overrides.append(f"training.probe_data={args.probe}")
    corpus = args.corpus or [str(p) for p in DEFAULT_CORPUS]
    vocab = args.vocab
    if vocab is None and not args.corpus and not args.data and not args.init_from:
        vocab = str(DEFAULT_VOCABULARY)
    output = args.output or str(
        pathlib.Path("runs") / f"{pathlib.Path(args.config).stem}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    )
    try:
        config = ElectraConfig.from_yaml(args.config, overrides)
        metrics = run_pretraining(
            config, corpus, output, vocabulary_path=vocab, overwrite=args.overwrite, data_dir=args.data,
            init_from=args.init_from,
        )
    except input_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except TrainingInterrupted as error:
        print(f"stopped: {error} (--output {output})", file=sys.stderr)
        return 128 + error.signal_number
    except KeyboardInterrupt:
        print(f"interrupted; {output} is marked failed", file=sys.stderr)
        return 130
    except OSError as error:
        message = write_failure(error)
        if message is None:
            raise
        print(f"{message}\nmake room, then run the same command again to resume {output} from its newest "
              "complete checkpoint", file=sys.stderr)
        return WRITE_FAILED
    if "worker" in metrics:
        print(f"{metrics['worker']}: done, {metrics['steps']} steps; the chief writes the outputs")
        return 0
    held_out = metrics["eval"]
    print(
        f"done in {metrics['seconds']:.0f}s, {metrics['steps']} steps: held-out "
        f"mlm_loss {held_out.get('mlm_loss', float('nan')):.3f}, "
        f"gen_accuracy {held_out.get('gen_accuracy', float('nan')):.3f}, "
        f"disc_accuracy {held_out.get('disc_accuracy', float('nan')):.3f} "
        f"(all-original baseline {metrics['eval_all_original_accuracy']:.3f}), "
        f"disc_auc {held_out.get('disc_auc', float('nan')):.3f}"
        + (f", probe_accuracy {held_out['probe_accuracy']:.3f}" if "probe_accuracy" in held_out else "")
        + "\n"
        f"outputs in {output}; discriminator SavedModel in {output}/export/discriminator/1"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
