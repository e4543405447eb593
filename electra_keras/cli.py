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
import json
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
        help="continue pretraining a Hugging Face ELECTRA pair: a folder with generator/ and "
        "discriminator/, or the two model folders (their sizes and vocab.txt are used)",
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
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from electra_keras import data
    from electra_keras.config import ConfigError
    from electra_keras.dataset_builder import BuildError
    from electra_keras.config import ElectraConfig
    from electra_keras.tokenizer import VocabularyError
    from electra_keras.checkpointing import CheckpointError
    from electra_keras.finetuning import LabelledDataError
    from electra_keras.huggingface import CheckpointFormatError
    from electra_keras.training import NonFiniteLossError
    from electra_keras.training import OutputError
    from electra_keras.training import TrainingInterrupted
    from electra_keras.training import run_pretraining

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
    corpus = args.corpus or [str(p) for p in data.DEFAULT_CORPUS]
    vocab = args.vocab
    if vocab is None and not args.corpus and not args.data and not args.init_from:
        vocab = str(data.DEFAULT_VOCABULARY)
    output = args.output or str(
        pathlib.Path("runs") / f"{pathlib.Path(args.config).stem}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    )
    try:
        config = ElectraConfig.from_yaml(args.config, overrides)
        metrics = run_pretraining(
            config, corpus, output, vocabulary_path=vocab, overwrite=args.overwrite, data_dir=args.data,
            init_from=args.init_from,
        )
    except (
        ConfigError, data.CorpusError, VocabularyError, OutputError, BuildError, CheckpointError,
        CheckpointFormatError, LabelledDataError,
    ) as error:
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


def export_main(argv=None):
    """`scripts/export.py`: a run's discriminator into a TF Serving model folder,
    or the run as a Hugging Face pair or a keras-hub preset."""
    parser = argparse.ArgumentParser(
        description="Export a trained discriminator as a SavedModel under BASE/NAME/VERSION "
        "(or, with --format, as Hugging Face folders or a keras-hub preset under --base).",
    )
    parser.add_argument("--run", required=True, help="pretraining output folder")
    parser.add_argument("--checkpoint", help="a checkpoints/ckpt-<step> folder; default: the final model")
    parser.add_argument("--base", required=True, help="model base folder (TF Serving's model_base_path parent)")
    parser.add_argument(
        "--format", choices=["savedmodel", "huggingface", "keras-hub"], default="savedmodel",
        help="huggingface: BASE/generator and BASE/discriminator for transformers; "
        "keras-hub: BASE as an ElectraBackbone preset",
    )
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
        if args.format == "huggingface":
            from electra_keras.huggingface import save_huggingface

            target = save_huggingface(pretrainer, vocabulary, args.base, lowercase=config.data.lowercase)
            print(f"exported {target}/generator and {target}/discriminator")
            return 0
        if args.format == "keras-hub":
            from electra_keras.presets import save_keras_hub_preset

            target = save_keras_hub_preset(pretrainer, vocabulary, args.base, lowercase=config.data.lowercase)
            print(f"exported {target}")
            return 0
    except (ConfigError, VocabularyError, OutputError, ValueError) as error:
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


def finetune_main(argv=None):
    """`scripts/finetune.py`: a classifier (or regressor) on a run's discriminator."""
    parser = argparse.ArgumentParser(
        description="Fine-tune a pretrained discriminator on labelled CSV/TSV/JSONL rows.",
    )
    parser.add_argument("--run", required=True, help="pretraining output folder")
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
    import keras
    import numpy as np

    from electra_keras import finetuning
    from electra_keras import tokenizer as tokenization
    from electra_keras.config import ConfigError
    from electra_keras.optimization import WarmupLinearDecay
    from electra_keras.tokenizer import VocabularyError
    from electra_keras.training import OutputError
    from electra_keras.training import load_run
    from electra_keras.training import write_json_atomic

    try:
        config, vocabulary, pretrainer = load_run(args.run, args.checkpoint)
        train = finetuning.read_labelled(args.train, args.text_field, args.label_field, args.pair_field)
        held_out = finetuning.read_labelled(args.eval, args.text_field, args.label_field, args.pair_field)
        if args.task == "classification":
            names = sorted({str(label) for label in train[2]})
            index = {name: i for i, name in enumerate(names)}
            unknown = sorted({str(label) for label in held_out[2]} - set(index))
            if unknown:
                raise finetuning.LabelledDataError(f"{args.eval}: labels {unknown} do not occur in {args.train}")
            train_labels = np.array([index[str(label)] for label in train[2]], dtype="int32")
            eval_labels = np.array([index[str(label)] for label in held_out[2]], dtype="int32")
        else:
            names = None
            train_labels, eval_labels = (
                np.array([_as_float(label, path) for label in rows[2]], dtype="float32")
                for rows, path in ((train, args.train), (held_out, args.eval))
            )
    except (ConfigError, VocabularyError, OutputError, finetuning.LabelledDataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    keras.utils.set_random_seed(args.seed)
    tokenizer = tokenization.make_tokenizer(vocabulary, config.data.lowercase, config.data.strip_accents)
    length = args.sequence_length or config.data.sequence_length
    train_inputs = finetuning.encode_pairs(tokenizer, train[0], train[1], length)
    eval_inputs = finetuning.encode_pairs(tokenizer, held_out[0], held_out[1], length)

    encoder = pretrainer.discriminator
    classification = args.task == "classification"
    model = finetuning.ElectraClassifier(encoder, num_classes=len(names) if classification else 1)
    steps = args.epochs * max(1, len(train_labels) // args.batch_size)
    schedule = WarmupLinearDecay(args.learning_rate, int(args.warmup_fraction * steps), steps)
    model.compile(
        optimizer=finetuning.layerwise_decay_adamw(model, schedule, encoder.num_layers, args.layer_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if classification else keras.losses.MeanSquaredError(),
    )
    model.fit(train_inputs, train_labels, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    outputs = model.predict(eval_inputs, batch_size=args.batch_size, verbose=0)
    if classification:
        metrics = finetuning.classification_metrics(eval_labels, outputs.argmax(-1), len(names))
    else:
        metrics = finetuning.regression_metrics(eval_labels, outputs[:, 0])
    output = pathlib.Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    from electra_keras.files import atomic_path

    from electra_keras.export import export_classifier

    with atomic_path(output / "classifier.weights.h5") as temporary:
        model.save_weights(temporary)
    export_dir = export_classifier(
        model, output / "export" / "classifier" / "1", vocabulary, length, labels=names,
        pair=args.pair_field is not None, lowercase=config.data.lowercase,
        strip_accents=config.data.strip_accents,
    )
    summary = {
        "task": args.task, "labels": names, "eval": metrics, "train_rows": len(train_labels),
        "eval_rows": len(eval_labels), "steps": steps, "run": str(args.run),
        "export": str(export_dir), "sequence_length": length,
    }
    write_json_atomic(output / "metrics.json", summary)
    print(f"held-out {', '.join(f'{k} {v:.4f}' for k, v in metrics.items())}; outputs in {output}")
    return 0


def _as_float(value, path):
    try:
        return float(value)
    except (TypeError, ValueError):
        from electra_keras.finetuning import LabelledDataError

        raise LabelledDataError(f"{path}: label {value!r} is not a number (use --task classification)") from None


def build_dataset_main(argv=None):
    """`scripts/build_dataset.py`: text, JSONL or CSV into TFRecord shards."""
    parser = argparse.ArgumentParser(
        description="Tokenize and pack a corpus into sharded, compressed TFRecords (resumable).",
    )
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
    from electra_keras.dataset_builder import BuildError
    from electra_keras.dataset_builder import BuildSettings
    from electra_keras.dataset_builder import build_dataset
    from electra_keras.tokenizer import VocabularyError

    if not 0.0 <= args.eval_fraction < 1.0:
        parser.error(f"--eval-fraction must be in [0, 1), got {args.eval_fraction}")
    settings = BuildSettings(
        sequence_length=args.sequence_length, lowercase=args.lowercase,
        text_field=args.text_field, text_column=args.text_column,
        examples_per_shard=args.examples_per_shard, eval_fraction=args.eval_fraction, seed=args.seed,
    )
    try:
        manifest = build_dataset(args.inputs, args.output, args.vocab, settings, args.processes)
    except (BuildError, VocabularyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(manifest["totals"]))
    return 0


def build_vocab_main(argv=None):
    """`scripts/build_vocab.py`: a WordPiece vocab.txt from corpora."""
    parser = argparse.ArgumentParser(description="Learn a WordPiece vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK] first).")
    parser.add_argument("inputs", nargs="+", help=".txt/.jsonl/.csv files, optionally .gz")
    parser.add_argument("--output", required=True, help="vocab.txt to write")
    parser.add_argument("--size", type=positive_int, default=30522)
    parser.add_argument("--lowercase", action="store_true")
    parser.add_argument("--trainer", choices=["keras_hub", "tokenizers"], default="keras_hub")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--text-column", default="text")
    args = parser.parse_args(argv)
    from electra_keras import data
    from electra_keras import tokenizer as tokenization

    try:
        documents, _ = data.read_corpus(args.inputs, args.text_field, args.text_column)
    except data.CorpusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    lines = [line for document in documents for line in document]
    vocabulary = tokenization.build_vocabulary(lines, args.size, args.lowercase, trainer=args.trainer)
    tokenization.save_vocabulary(vocabulary, args.output)
    print(f"wrote {args.output}: {len(vocabulary)} tokens")
    return 0
