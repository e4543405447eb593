"""A whole pretraining run: data, model, `fit`, checkpoints, metrics, export.

`run_pretraining` is what `scripts/pretrain.py` calls. The output folder holds
`run_state.json`, which says `running` until everything is written and
`complete` at the end (or `failed` with the error), so a folder left by a
crashed run is never mistaken for a finished one.
"""

import dataclasses
import json
import logging
import math
import os
import pathlib
import shutil
import sys
import time

import keras

from electra_keras import data
from electra_keras import export
from electra_keras import tokenizer as tokenization
from electra_keras.files import atomic_path
from electra_keras.optimization import build_optimizer
from electra_keras.pretrainer import ElectraPretrainer

logger = logging.getLogger(__name__)


class OutputError(ValueError):
    """An output folder that cannot be used."""


def prepare_data(config, corpus_paths, vocabulary_path=None):
    """Reads, tokenizes and packs a corpus; builds a vocabulary if none given.

    Returns:
        dict with `tokenizer`, `vocabulary`, `sample_texts`, `train` and
        `eval` examples and `statistics`.

    Example:
    ```python
    prepared = electra_keras.training.prepare_data(config, ["corpus.txt"], "vocab.txt")
    ```
    """
    documents, statistics = data.read_corpus(corpus_paths)
    if vocabulary_path is not None:
        vocabulary = tokenization.load_vocabulary(vocabulary_path)
    else:
        logger.info("building a %d-token WordPiece vocabulary", config.data.vocabulary_size)
        lines = [line for document in documents for line in document]
        vocabulary = tokenization.build_vocabulary(
            lines, config.data.vocabulary_size, config.data.lowercase, config.data.strip_accents
        )
    tokenizer = tokenization.make_tokenizer(
        vocabulary, lowercase=config.data.lowercase, strip_accents=config.data.strip_accents
    )
    token_documents = data.tokenize_documents(documents, tokenizer)
    examples = data.pack_documents(
        token_documents,
        config.data.sequence_length,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
        single_segment_probability=config.data.single_segment_probability,
        short_sequence_probability=config.data.short_sequence_probability,
        seed=config.training.seed,
    )
    train, held_out = data.split_examples(
        examples, config.data.eval_fraction, config.training.batch_size, seed=config.training.seed
    )
    statistics = dataclasses.asdict(statistics)
    statistics.update(
        examples=len(examples["token_ids"]),
        train_examples=len(train["token_ids"]),
        eval_examples=len(held_out["token_ids"]),
        tokens=int(examples["padding_mask"].sum()),
    )
    return {
        "tokenizer": tokenizer,
        "vocabulary": vocabulary,
        # A few real lines: TF Serving warmup requests.
        "sample_texts": [document[0] for document in documents[:32]],
        "train": train,
        "eval": held_out,
        "statistics": statistics,
    }


def prepare_built_data(config, data_dir, vocabulary_path=None):
    """Streams a dataset built by `scripts/build_dataset.py`.

    Refuses a `vocabulary_path` whose SHA-256 differs from the one the
    dataset was built with, and a sequence length other than the config's.

    Example:
    ```python
    prepared = electra_keras.training.prepare_built_data(config, "data/built")
    ```
    """
    from electra_keras import dataset_builder

    data_dir = pathlib.Path(data_dir)
    manifest = dataset_builder.read_manifest(data_dir)
    vocabulary_path = pathlib.Path(vocabulary_path or data_dir / "vocab.txt")
    vocabulary = tokenization.load_vocabulary(vocabulary_path)
    digest = dataset_builder.file_sha256(vocabulary_path)
    if digest != manifest["vocabulary_sha256"]:
        raise data.CorpusError(
            f"{vocabulary_path} (sha256 {digest[:12]}...) is not the vocabulary {data_dir} was "
            f"built with (sha256 {manifest['vocabulary_sha256'][:12]}...); use {data_dir / 'vocab.txt'}"
        )
    built_length = manifest["settings"]["sequence_length"]
    if built_length != config.data.sequence_length:
        raise data.CorpusError(
            f"{data_dir} holds sequences of {built_length} tokens but data.sequence_length is "
            f"{config.data.sequence_length}; pass --set data.sequence_length={built_length}"
        )
    settings = manifest["settings"]
    tokenizer = tokenization.make_tokenizer(vocabulary, settings["lowercase"], settings["strip_accents"])
    batch_size, seed = config.training.batch_size, config.training.seed
    has_eval = bool(manifest["shards"]["eval"])
    return {
        "tokenizer": tokenizer,
        "vocabulary": vocabulary,
        "sample_texts": [],
        "train_dataset": data.make_tfrecord_dataset(data_dir, batch_size, seed=seed),
        "eval_dataset": data.make_tfrecord_dataset(
            data_dir, batch_size, split="eval", shuffle=False, repeat=False
        ) if has_eval else None,
        "statistics": {"data_dir": str(data_dir), **manifest["totals"]},
    }


def build_pretrainer(config, tokenizer):
    """An `ElectraPretrainer` for `config`, sized to the tokenizer's vocabulary.

    Example:
    ```python
    pretrainer = electra_keras.training.build_pretrainer(config, tokenizer)
    ```
    """
    model_config = dataclasses.replace(config.model, vocabulary_size=tokenizer.vocabulary_size())
    return ElectraPretrainer(
        model_config=model_config,
        objective_config=config.objective,
        mask_token_id=tokenizer.mask_token_id,
        special_token_ids=tokenization.never_masked_ids(tokenizer),
        gradient_clip_norm=config.optimizer.clip_norm,
        seed=config.training.seed,
        dtype=config.training.precision,
    )


class StopAtStep(keras.callbacks.Callback):
    """Stops `fit` once the optimizer has taken `num_steps` steps."""

    def __init__(self, num_steps):
        super().__init__()
        self.num_steps = num_steps

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) >= self.num_steps:
            self.model.stop_training = True


def checkpoint_path(directory, step):
    """Where `WeightsCheckpoint` keeps the weights of `step`."""
    return pathlib.Path(directory) / f"ckpt-{step:09d}.weights.h5"


def list_checkpoints(directory):
    """`(step, path)` of the checkpoints in `directory`, oldest first."""
    paths = pathlib.Path(directory).glob("ckpt-*.weights.h5")
    return sorted((int(path.name[len("ckpt-") :].split(".")[0]), path) for path in paths)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` naming the step when the loss is not finite.

    The loss of step `k` is computed from the weights after step `k - 1`, so
    a checkpoint from step `k - 1` on holds weights that gave a non-finite
    loss: those are moved to `checkpoints/nonfinite/` (kept for debugging),
    and the newest checkpoint left is the last good one. It runs before
    `WeightsCheckpoint`, so the broken step itself is never saved.
    """

    def __init__(self, checkpoint_directory):
        super().__init__()
        self.checkpoint_directory = pathlib.Path(checkpoint_directory)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        step = int(self.model.optimizer.iterations)
        good = []
        for checkpoint_step, checkpoint in list_checkpoints(self.checkpoint_directory):
            if checkpoint_step >= step - 1:
                quarantine = self.checkpoint_directory / "nonfinite"
                quarantine.mkdir(exist_ok=True)
                checkpoint.rename(quarantine / checkpoint.name)
            else:
                good.append(checkpoint)
        raise NonFiniteLossError(
            f"the loss became {float(loss)} at step {step}; stopped "
            f"(last good checkpoint: {good[-1] if good else 'none'}). "
            "Lower optimizer.learning_rate or check the data."
        )


class WeightsCheckpoint(keras.callbacks.Callback):
    """Saves weights every `every` steps, atomically, keeping the last `keep`."""

    def __init__(self, directory, every, keep=3):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.every = every
        self.keep = keep

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        if step % self.every == 0:
            self.save(step)

    def save(self, step):
        with atomic_path(checkpoint_path(self.directory, step)) as temporary:
            self.model.save_weights(temporary)
        for _, old in list_checkpoints(self.directory)[: -self.keep]:
            old.unlink()


class EvaluationLog(keras.callbacks.Callback):
    """Collects each epoch's held-out metrics with the step they were taken at."""

    def __init__(self):
        super().__init__()
        self.evaluations = []
        self.last_train = {}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        step = int(self.model.optimizer.iterations)
        self.last_train = {k: float(v) for k, v in logs.items() if not k.startswith("val_")}
        held_out = {k[4:]: float(v) for k, v in logs.items() if k.startswith("val_")}
        if held_out:
            self.evaluations.append({"step": step, **held_out})


def run_pretraining(
    config, corpus_paths, output_dir, vocabulary_path=None, overwrite=False, verbose=None, data_dir=None
):
    """Pretrains ELECTRA and writes everything to `output_dir`.

    The examples come from text files (`corpus_paths`, read, tokenized and
    packed in memory: fine for small corpora) or from a dataset built by
    `scripts/build_dataset.py` (`data_dir`, streamed from its shards; a
    `vocabulary_path` whose SHA-256 differs from the dataset's is refused).

    Writes `config.yaml`, `vocab.txt`, `logs/` (TensorBoard), `checkpoints/`,
    `pretrainer.keras`, `metrics.json`, the discriminator SavedModel under
    `export/discriminator/1/`, and `run_state.json`.

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    ```python
    config = electra_keras.ElectraConfig.from_yaml("configs/tiny.yaml")
    metrics = electra_keras.training.run_pretraining(config, ["corpus.txt"], "runs/demo")
    ```
    """
    output_dir = pathlib.Path(output_dir)
    _claim_output_dir(output_dir, overwrite)
    write_json_atomic(output_dir / "run_state.json", {"status": "running", "pid": os.getpid()})
    try:
        metrics = _run(config, corpus_paths, data_dir, output_dir, vocabulary_path, verbose)
    except BaseException as error:
        write_json_atomic(
            output_dir / "run_state.json",
            {"status": "failed", "error": f"{type(error).__name__}: {error}"},
        )
        raise
    write_json_atomic(output_dir / "run_state.json", {"status": "complete"})
    return metrics


def _run(config, corpus_paths, data_dir, output_dir, vocabulary_path, verbose):
    started = time.time()
    keras.utils.set_random_seed(config.training.seed)
    (output_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    if data_dir is not None:
        prepared = prepare_built_data(config, data_dir, vocabulary_path)
    else:
        prepared = prepare_data(config, corpus_paths, vocabulary_path)
        training = config.training
        prepared["train_dataset"] = data.make_dataset(prepared["train"], training.batch_size, seed=training.seed)
        prepared["eval_dataset"] = data.make_dataset(
            prepared["eval"], training.batch_size, shuffle=False, repeat=False
        )
    tokenization.save_vocabulary(prepared["vocabulary"], output_dir / "vocab.txt")
    logger.info("data: %s", prepared["statistics"])

    training = config.training
    train_dataset = prepared["train_dataset"]
    eval_dataset = prepared["eval_dataset"]
    if eval_dataset is not None:
        eval_dataset = eval_dataset.take(training.eval_batches)

    pretrainer = build_pretrainer(config, prepared["tokenizer"])
    pretrainer.compile(
        optimizer=build_optimizer(config.optimizer, training.num_steps),
        jit_compile=training.jit_compile,
    )
    steps_per_epoch = min(training.steps_per_eval, training.num_steps)
    evaluation_log = EvaluationLog()
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    pretrainer.fit(
        train_dataset,
        epochs=math.ceil(training.num_steps / steps_per_epoch),
        steps_per_epoch=steps_per_epoch,
        validation_data=eval_dataset,
        callbacks=[
            StopAtStep(training.num_steps),
            StopOnNonFiniteLoss(output_dir / "checkpoints"),
            WeightsCheckpoint(output_dir / "checkpoints", training.steps_per_checkpoint),
            keras.callbacks.TensorBoard(
                log_dir=str(output_dir / "logs"), update_freq=training.steps_per_log
            ),
            evaluation_log,
        ],
        shuffle=False,  # the dataset shuffles itself
        verbose=verbose,
    )

    save_model_atomic(pretrainer, output_dir / "pretrainer.keras")
    export.export_discriminator(
        pretrainer,
        output_dir / "export" / "discriminator" / "1",
        vocabulary=prepared["vocabulary"],
        sequence_length=config.data.sequence_length,
        lowercase=config.data.lowercase,
        strip_accents=config.data.strip_accents,
        warmup_texts=prepared["sample_texts"] or export.DEFAULT_WARMUP_TEXTS,
    )
    final_eval = evaluation_log.evaluations[-1] if evaluation_log.evaluations else {}
    metrics = {
        "steps": int(pretrainer.optimizer.iterations),
        "train": evaluation_log.last_train,
        "eval": final_eval,
        # Accuracy of a discriminator that calls every token original.
        "eval_all_original_accuracy": 1.0 - final_eval.get("replaced_fraction", float("nan")),
        "evaluations": evaluation_log.evaluations,
        "data": prepared["statistics"],
        "seconds": time.time() - started,
    }
    write_json_atomic(output_dir / "metrics.json", metrics)
    return metrics


def _claim_output_dir(output_dir, overwrite):
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: exists and is not a folder")
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise OutputError(
                f"{output_dir}: folder exists and is not empty; choose another --output "
                "or pass --overwrite to replace an earlier run there"
            )
        if not (output_dir / "run_state.json").exists():
            raise OutputError(
                f"{output_dir}: not an electra_keras run folder (no run_state.json); "
                "refusing to delete it, choose another --output"
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)


def write_json_atomic(path, value):
    """Writes JSON to a temporary file beside `path`, then renames it.

    Example:
    ```python
    write_json_atomic("out/metrics.json", {"loss": 1.0})
    ```
    """
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")


def save_model_atomic(model, path):
    """Saves a `.keras` file beside `path`, then renames it into place."""
    with atomic_path(path) as temporary:
        model.save(temporary)


def load_run(run_dir, checkpoint=None):
    """The config, vocabulary and trained pretrainer of a run folder.

    Takes the final `pretrainer.keras`, or the weights of `checkpoint` (a
    `.weights.h5` file, e.g. from `checkpoints/`) when given.

    Example:
    ```python
    config, vocabulary, pretrainer = electra_keras.training.load_run("runs/demo")
    ```
    """
    from electra_keras.config import ElectraConfig

    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise OutputError(f"{run_dir}: not a pretraining run folder (no config.yaml)")
    config = ElectraConfig.from_yaml(run_dir / "config.yaml")
    vocabulary = tokenization.load_vocabulary(run_dir / "vocab.txt")
    if checkpoint is None:
        final = run_dir / "pretrainer.keras"
        if not final.exists():
            raise OutputError(
                f"{final}: not found (the run did not finish); pass --checkpoint "
                f"with one of {run_dir / 'checkpoints'}/*.weights.h5"
            )
        pretrainer = keras.models.load_model(final)
    else:
        checkpoint = pathlib.Path(checkpoint)
        if not checkpoint.exists():
            raise OutputError(f"{checkpoint}: checkpoint not found")
        tokenizer = tokenization.make_tokenizer(vocabulary, config.data.lowercase, config.data.strip_accents)
        pretrainer = build_pretrainer(config, tokenizer)
        pretrainer.load_weights(checkpoint)
    return config, vocabulary, pretrainer


def next_version(model_dir):
    """1 + the highest numeric version folder in `model_dir` (TF Serving layout)."""
    model_dir = pathlib.Path(model_dir)
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1
