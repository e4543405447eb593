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
import signal
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from electra_keras import data
from electra_keras import export
from electra_keras import tokenizer as tokenization
from electra_keras.checkpointing import CheckpointError
from electra_keras.checkpointing import TrainingCheckpoint
from electra_keras.checkpointing import checkpoint_path  # noqa: F401  (public here too)
from electra_keras.checkpointing import list_checkpoints
from electra_keras.checkpointing import optimizer_step
from electra_keras.checkpointing import restore_checkpoint
from electra_keras.files import atomic_path
from electra_keras.logging_callbacks import TrainingLog
from electra_keras.logging_callbacks import scalar
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
        # A factory: each `fit` needs a dataset object of its own (see `_run`).
        "make_train_dataset": lambda: data.make_tfrecord_dataset(data_dir, batch_size, seed=seed),
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
        gradient_accumulation_steps=config.training.gradient_accumulation_steps,
        dtype=config.training.precision,
    )


class StopAtStep(keras.callbacks.Callback):
    """Stops `fit` once the optimizer has taken `num_steps` steps."""

    def __init__(self, num_steps):
        super().__init__()
        self.num_steps = num_steps

    def on_train_batch_end(self, batch, logs=None):
        if optimizer_step(self.model) >= self.num_steps:
            self.model.stop_training = True


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` naming the step when the loss is not finite.

    The loss of step `k` is computed from the weights after step `k - 1`, so
    a checkpoint from step `k - 1` on holds weights that gave a non-finite
    loss: those are moved to `checkpoints/nonfinite/` (kept for debugging),
    and the newest checkpoint left is the last good one. It runs before
    `TrainingCheckpoint`, so the broken step itself is never saved. Only the
    process that writes the run (`write=True`) moves checkpoints.
    """

    def __init__(self, checkpoint_directory, write=True):
        super().__init__()
        self.checkpoint_directory = pathlib.Path(checkpoint_directory)
        self.write = write

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = scalar(loss)
        if math.isfinite(loss):
            return
        step = optimizer_step(self.model)
        good = []
        for checkpoint_step, checkpoint in list_checkpoints(self.checkpoint_directory):
            if checkpoint_step >= step - 1 and self.write:
                quarantine = self.checkpoint_directory / "nonfinite"
                quarantine.mkdir(exist_ok=True)
                shutil.rmtree(quarantine / checkpoint.name, ignore_errors=True)
                checkpoint.rename(quarantine / checkpoint.name)
            else:
                good.append(checkpoint)
        raise NonFiniteLossError(
            f"the loss became {loss} at step {step}; stopped "
            f"(last good checkpoint: {good[-1] if good else 'none'}). "
            "Lower optimizer.learning_rate or check the data."
        )


class EvaluationLog(keras.callbacks.Callback):
    """Collects each epoch's held-out metrics with the step they were taken at."""

    def __init__(self):
        super().__init__()
        self.evaluations = []
        self.last_train = {}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        step = optimizer_step(self.model)
        self.last_train = {k: scalar(v) for k, v in logs.items() if not k.startswith("val_")}
        held_out = {k[4:]: scalar(v) for k, v in logs.items() if k.startswith("val_")}
        if held_out:
            self.evaluations.append({"step": step, **held_out})


class TrainingInterrupted(RuntimeError):
    """SIGTERM or SIGINT stopped training after a checkpoint was saved."""

    def __init__(self, signal_number, step, checkpoint):
        self.signal_number = signal_number
        self.step = step
        self.checkpoint = checkpoint
        super().__init__(
            f"{signal.Signals(signal_number).name} at step {step}: saved {checkpoint}; "
            "run the same command again to resume"
        )


class StopOnSignal(keras.callbacks.Callback):
    """Turns SIGTERM/SIGINT into a checkpoint and a clean stop.

    The handler only records the signal; after the step that is running, the
    callback saves a checkpoint and raises `TrainingInterrupted` (raising
    rather than `stop_training` skips the epoch's evaluation, which could
    outlast a scheduler's grace period). A second SIGINT interrupts at once.
    """

    def __init__(self, checkpoint):
        super().__init__()
        self.checkpoint = checkpoint
        self.received = None
        self._previous = {}

    def _handle(self, signal_number, frame):
        if self.received == signal.SIGINT and signal_number == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal_number
        logger.warning("%s received: saving after this step", signal.Signals(signal_number).name)

    def on_train_begin(self, logs=None):
        for number in (signal.SIGTERM, signal.SIGINT):
            self._previous[number] = signal.signal(number, self._handle)

    def on_train_end(self, logs=None):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def on_train_batch_end(self, batch, logs=None):
        if self.received is None:
            return
        step = optimizer_step(self.model)
        self.checkpoint.save(step)
        self.on_train_end()
        raise TrainingInterrupted(self.received, step, checkpoint_path(self.checkpoint.directory, step))


def make_strategy(name):
    """The `tf.distribute` strategy for `training.strategy`.

    Call it before any other TensorFlow work: multi-worker collectives must be
    set up at program start.

    - `auto`: `multi_worker` when `TF_CONFIG` names several tasks, `mirrored`
      with several GPUs, else the default strategy.
    - `mirrored`: all local GPUs (or the CPU).
    - `multi_worker`: `MultiWorkerMirroredStrategy`, cluster from `TF_CONFIG`.
    - `tpu`: `TPUStrategy` on the TPU named by `TPU_NAME` (or the local one).

    Example:
    ```python
    strategy = make_strategy("mirrored")
    with strategy.scope():
        pretrainer = build_pretrainer(config, tokenizer)
    ```
    """
    if name == "auto":
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
        if sum(len(tasks) for tasks in cluster.values()) > 1:
            name = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise OutputError("training.strategy=multi_worker needs TF_CONFIG naming the cluster and this task")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}")


def task_identity(strategy):
    """`(is_chief, name)` of this process in a multi-worker cluster.

    The chief is task `chief`, or `worker` 0 when the cluster has no chief;
    single-process strategies are always the chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, "chief"
    cluster = resolver.cluster_spec().as_dict()
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True, "chief"
    is_chief = task_type == "worker" and task_id == 0 and "chief" not in cluster
    return is_chief, f"{task_type}-{task_id}"


def run_pretraining(
    config, corpus_paths, output_dir, vocabulary_path=None, overwrite=False, verbose=None, data_dir=None,
    init_from=None,
):
    """Pretrains ELECTRA and writes everything to `output_dir`.

    The examples come from text files (`corpus_paths`, read, tokenized and
    packed in memory: fine for small corpora) or from a dataset built by
    `scripts/build_dataset.py` (`data_dir`, streamed from its shards; a
    `vocabulary_path` whose SHA-256 differs from the dataset's is refused).

    Writes `config.yaml`, `vocab.txt`, `logs/` (TensorBoard), `checkpoints/`,
    `samples.jsonl`, `pretrainer.keras`, `metrics.json`, the discriminator
    SavedModel under `export/discriminator/1/`, and `run_state.json`.

    A folder left by an unfinished run (crashed, killed or stopped by
    SIGTERM/SIGINT) is resumed from its newest checkpoint: weights, optimizer
    slots, step, schedule, dropout generators and input position, so the run
    ends as if never interrupted. The config and inputs must be the ones it
    started with.

    `init_from` (one folder with `generator/` and `discriminator/`, or the two
    Hugging Face model folders) continues pretraining from a published pair
    (domain adaptation): its sizes replace the `model` section, its
    `vocab.txt` and casing are used, and the held-out metrics of the imported
    model are logged as the evaluation of step 0.

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    ```python
    config = electra_keras.ElectraConfig.from_yaml("configs/tiny.yaml")
    metrics = electra_keras.training.run_pretraining(config, ["corpus.txt"], "runs/demo")
    ```
    """
    strategy = make_strategy(config.training.strategy)  # before any other TensorFlow work
    init_pair = None
    if init_from:
        config, vocabulary_path, init_pair = _adopt_pretrained(config, init_from, vocabulary_path)
    is_chief, task_name = task_identity(strategy)
    output_dir = pathlib.Path(output_dir)
    inputs = _describe_inputs(corpus_paths, data_dir, vocabulary_path)
    if init_pair:
        inputs["init_from"] = [str(folder) for folder in init_pair[1:]]
    if not is_chief:
        # Workers read the chief's checkpoints and write nothing else there.
        resume_from = _newest_checkpoint(output_dir) if (output_dir / "run_state.json").exists() else None
        if resume_from is not None:
            vocabulary_path = output_dir / "vocab.txt"
        return _run(config, corpus_paths, data_dir, output_dir, vocabulary_path, verbose, strategy,
                    resume_from, writer=False, task_name=task_name, init_pair=init_pair)
    resume_from = _claim_output_dir(output_dir, overwrite, config, inputs)
    if resume_from is not None:
        # The vocabulary the run started with, even if it was built then.
        vocabulary_path = output_dir / "vocab.txt"
    write_json_atomic(
        output_dir / "run_state.json", {"status": "running", "pid": os.getpid(), "inputs": inputs}
    )
    try:
        metrics = _run(config, corpus_paths, data_dir, output_dir, vocabulary_path, verbose, strategy,
                       resume_from, writer=True, task_name=task_name, init_pair=init_pair)
    except TrainingInterrupted as error:
        write_json_atomic(
            output_dir / "run_state.json",
            {"status": "interrupted", "step": error.step, "error": str(error), "inputs": inputs},
        )
        raise
    except BaseException as error:
        write_json_atomic(
            output_dir / "run_state.json",
            {"status": "failed", "error": f"{type(error).__name__}: {error}", "inputs": inputs},
        )
        raise
    write_json_atomic(output_dir / "run_state.json", {"status": "complete", "inputs": inputs})
    return metrics


def _describe_inputs(corpus_paths, data_dir, vocabulary_path):
    """What a resumed run must read again to continue at the same position."""
    from electra_keras.dataset_builder import file_sha256

    if data_dir is not None:
        manifest = pathlib.Path(data_dir) / "manifest.json"
        described = {"data": str(data_dir), "manifest_sha256": file_sha256(manifest) if manifest.exists() else None}
    else:
        described = {"corpus": {str(p): file_sha256(p) for p in corpus_paths if pathlib.Path(p).exists()}}
    if vocabulary_path is not None and pathlib.Path(vocabulary_path).exists():
        described["vocabulary_sha256"] = file_sha256(vocabulary_path)
    return described


def _newest_checkpoint(output_dir):
    found = list_checkpoints(output_dir / "checkpoints")
    return found[-1][1] if found else None


def _adopt_pretrained(config, init_from, vocabulary_path):
    """The config, vocabulary and source of a run that continues a published model.

    `init_from` is a Hugging Face pair (two folders, or one with generator/
    and discriminator/), an official TF1 checkpoint folder (a `checkpoint`
    file and `vocab.txt`), or a local keras-hub preset (`metadata.json`).
    """
    from electra_keras import huggingface
    from electra_keras import official
    from electra_keras import presets

    folders = [pathlib.Path(f) for f in init_from]
    single = folders[0] if len(folders) == 1 else None
    if single is not None and (single / "checkpoint").exists():
        own_vocabulary = single / "vocab.txt"
        tensors = official.read_official_checkpoint(single)
        model = official.model_config_from_official(tensors)
        lowercase = config.data.lowercase  # not recorded by the official code
        source = ("official", single)
    elif single is not None and (single / "metadata.json").exists():
        import keras_hub

        backbone_config = keras_hub.models.ElectraBackbone.from_preset(str(single)).get_config()
        tokenizer = keras_hub.models.ElectraTokenizer.from_preset(str(single))
        own_vocabulary = None
        model = presets.model_config_from_backbone(backbone_config, config.model)
        lowercase = bool(tokenizer.lowercase)
        source = ("keras_hub", single, tokenizer.get_vocabulary())
    else:
        generator, discriminator = huggingface.find_pair(*folders)
        model = huggingface.model_config_from_huggingface(
            huggingface.read_config(generator), huggingface.read_config(discriminator), source=str(discriminator)
        )
        own_vocabulary = discriminator / "vocab.txt"
        _, lowercase = huggingface.read_vocabulary(discriminator, model.vocabulary_size)
        source = ("huggingface", generator, discriminator)
    if vocabulary_path is not None and (
        own_vocabulary is None or pathlib.Path(vocabulary_path).resolve() != own_vocabulary.resolve()
    ):
        raise OutputError(
            f"--vocab {vocabulary_path} cannot be used with --init-from: the model's own vocabulary is used"
        )
    if own_vocabulary is None:  # a keras-hub preset keeps it among its assets
        own_vocabulary = pathlib.Path(tempfile.mkdtemp(prefix="electra-preset-vocab-")) / "vocab.txt"
        tokenization.save_vocabulary(source[2], own_vocabulary)
        source = source[:2]
    if model.max_position_embeddings < config.data.sequence_length:
        raise OutputError(
            f"{folders[-1]}: max_position_embeddings {model.max_position_embeddings} is shorter than "
            f"data.sequence_length {config.data.sequence_length}"
        )
    config = dataclasses.replace(
        config,
        model=dataclasses.replace(model, vocabulary_size=None),
        data=dataclasses.replace(config.data, lowercase=lowercase),
    )
    return config, own_vocabulary, source


def _load_pretrained(pretrainer, source):
    from electra_keras import huggingface
    from electra_keras import official

    kind, *paths = source
    if kind == "huggingface":
        huggingface.load_huggingface_weights(pretrainer, *paths)
    elif kind == "official":
        official.assign_official_tensors(pretrainer, official.read_official_checkpoint(paths[0]), paths[0])
    else:
        import keras_hub

        # A preset holds the discriminator only; the generator starts fresh.
        pretrainer.discriminator.load_keras_hub_backbone(
            keras_hub.models.ElectraBackbone.from_preset(str(paths[0]))
        )
    logger.info("initialised from %s", " and ".join(map(str, paths)))


def _run(config, corpus_paths, data_dir, output_dir, vocabulary_path, verbose, strategy, resume_from,
         writer, task_name, init_pair=None):
    started = time.time()
    keras.utils.set_random_seed(config.training.seed)
    if writer:
        (output_dir / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    if data_dir is not None:
        prepared = prepare_built_data(config, data_dir, vocabulary_path)
    else:
        prepared = prepare_data(config, corpus_paths, vocabulary_path)
        training = config.training
        prepared["make_train_dataset"] = lambda: data.make_dataset(
            prepared["train"], training.batch_size, seed=training.seed
        )
        prepared["eval_dataset"] = data.make_dataset(
            prepared["eval"], training.batch_size, shuffle=False, repeat=False
        )
    if writer:
        tokenization.save_vocabulary(prepared["vocabulary"], output_dir / "vocab.txt")
    logger.info("data: %s", prepared["statistics"])

    training = config.training
    eval_dataset = prepared["eval_dataset"]
    if eval_dataset is not None:
        eval_dataset = eval_dataset.take(training.eval_batches)

    with strategy.scope():
        pretrainer = build_pretrainer(config, prepared["tokenizer"])
        pretrainer.compile(
            optimizer=build_optimizer(config.optimizer, training.num_steps),
            jit_compile=training.jit_compile,
        )
    probe = None
    if training.probe_data:
        from electra_keras.probe import DownstreamProbe
        from electra_keras.probe import ProbeTask

        probe = DownstreamProbe(ProbeTask(
            training.probe_data, prepared["tokenizer"], config.data.sequence_length, training.probe_rows
        ))
    evaluation_log = EvaluationLog()
    start_step = 0
    if init_pair is not None and resume_from is None:
        _load_pretrained(pretrainer, init_pair)
        if eval_dataset is not None:
            # Where domain adaptation starts from.
            initial = {k: scalar(v) for k, v in pretrainer.evaluate(eval_dataset, return_dict=True, verbose=0).items()}
            if probe is not None:
                initial["probe_accuracy"] = probe.task.accuracy(pretrainer.discriminator)
            evaluation_log.evaluations.append({"step": 0, **initial})
    if resume_from is not None:
        state = restore_checkpoint(pretrainer, resume_from)
        start_step = state["step"]
        evaluation_log.evaluations = [e for e in state.get("evaluations", []) if e["step"] <= start_step]
        logger.info("resumed from %s at step %d", resume_from, start_step)

    checkpoints = TrainingCheckpoint(
        output_dir / "checkpoints",
        training.steps_per_checkpoint,
        keep=training.keep_checkpoints,
        # One batch per step: the input position is the step.
        state_fn=lambda step: {"batches_consumed": step, "evaluations": evaluation_log.evaluations},
        write=writer,
    )
    sample_inputs = _sample_inputs(prepared, config) if writer else None
    callbacks = [
        StopAtStep(training.num_steps),
        StopOnNonFiniteLoss(output_dir / "checkpoints", write=writer),
        checkpoints,
        StopOnSignal(checkpoints),
        *([probe] if probe is not None else []),
        TrainingLog(
            output_dir / "logs",
            training.steps_per_log,
            training.steps_per_sample,
            sample_inputs=sample_inputs,
            vocabulary=prepared["vocabulary"],
            samples_path=output_dir / "samples.jsonl",
            write=writer,
        ),
        evaluation_log,
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    steps_per_epoch = min(training.steps_per_eval, training.num_steps)

    def fit(first_batch, **kwargs):
        # The data order is fixed by the seed: skipping the batches already
        # trained on puts a resumed run where the interrupted one stopped. A
        # new dataset object each time: a second iterator over the same
        # seeded shuffle would draw the next permutation, not the first.
        dataset = prepared["make_train_dataset"]()
        if first_batch:
            dataset = dataset.skip(first_batch)
        pretrainer.fit(
            dataset, validation_data=eval_dataset, callbacks=callbacks,
            shuffle=False,  # the dataset shuffles itself
            verbose=verbose, **kwargs,
        )

    step = start_step
    if step % steps_per_epoch and step < training.num_steps:
        # Finish the interrupted epoch first, so evaluations stay at the
        # same steps as in an uninterrupted run.
        remaining = min(steps_per_epoch - step % steps_per_epoch, training.num_steps - step)
        fit(step, epochs=1, steps_per_epoch=remaining)
        step += remaining
    if step < training.num_steps:
        fit(
            step,
            initial_epoch=step // steps_per_epoch,
            epochs=math.ceil(training.num_steps / steps_per_epoch),
            steps_per_epoch=steps_per_epoch,
        )
    final_step = optimizer_step(pretrainer)
    if writer:
        saved = list_checkpoints(output_dir / "checkpoints")
        if not saved or saved[-1][0] != final_step:
            checkpoints.save(final_step)

    if not writer:
        # A worker keeps its final weights beside the chief's outputs, so
        # that the replicas can be checked to agree.
        worker_weights = output_dir / "workers" / f"{task_name}.weights.h5"
        with atomic_path(worker_weights) as temporary:
            pretrainer.save_weights(temporary)
        return {"steps": final_step, "worker": task_name}

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
        "steps": final_step,
        "resumed_from_step": start_step or None,
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


def _sample_inputs(prepared, config):
    """One fixed sentence, tokenized and padded: the logged sample."""
    texts = prepared["sample_texts"] or export.DEFAULT_WARMUP_TEXTS
    # A real sentence rather than a heading.
    text = next((t for t in texts if len(t.split()) >= 8), texts[0])
    tokenizer = prepared["tokenizer"]
    length = config.data.sequence_length
    ids = [int(i) for i in keras.ops.convert_to_numpy(tokenizer(text))][: length - 2]
    ids = [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]
    padding = length - len(ids)
    return {
        "token_ids": np.array([ids + [tokenizer.pad_token_id] * padding], dtype="int32"),
        "segment_ids": np.zeros((1, length), dtype="int32"),
        "padding_mask": np.array([[1] * len(ids) + [0] * padding], dtype="int32"),
    }


def _claim_output_dir(output_dir, overwrite, config, inputs):
    """Prepares `output_dir`; returns the checkpoint to resume from, or None."""
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: exists and is not a folder")
    if output_dir.exists() and any(output_dir.iterdir()):
        state_path = output_dir / "run_state.json"
        if not state_path.exists():
            raise OutputError(
                f"{output_dir}: not an electra_keras run folder (no run_state.json); "
                "refusing to use it, choose another --output"
            )
        if overwrite:
            shutil.rmtree(output_dir)
        else:
            return _resumable_checkpoint(output_dir, json.loads(state_path.read_text()), config, inputs)
    output_dir.mkdir(parents=True, exist_ok=True)
    return None


def _resumable_checkpoint(output_dir, state, config, inputs):
    status = state.get("status")
    if status == "complete":
        raise OutputError(
            f"{output_dir}: holds a complete run; choose another --output or pass --overwrite to replace it"
        )
    pid = state.get("pid")
    if status == "running" and pid and pid != os.getpid() and _process_alive(pid):
        raise OutputError(f"{output_dir}: another process (pid {pid}) is training there")
    saved_config = output_dir / "config.yaml"
    if saved_config.exists():
        from electra_keras.config import ElectraConfig

        differences = _config_differences(ElectraConfig.from_yaml(saved_config), config)
        breaking = [d for d in differences if d.split(" ")[0].startswith(_RESUME_BREAKING)]
        if breaking:
            raise OutputError(
                f"{output_dir}: cannot resume, the config differs from the run's config.yaml in "
                f"{', '.join(breaking)}; pass the same settings, or --overwrite to start over"
            )
        if differences:
            logger.warning("resuming with changed settings: %s", ", ".join(differences))
    previous_inputs = state.get("inputs")
    if previous_inputs is not None:
        previous_data = {k: v for k, v in previous_inputs.items() if k != "vocabulary_sha256"}
        current_data = {k: v for k, v in inputs.items() if k != "vocabulary_sha256"}
        if previous_data != current_data:
            raise OutputError(
                f"{output_dir}: cannot resume, the training data differs from the interrupted run's "
                f"({previous_data} before, {current_data} now); a resumed run must read the same data"
            )
    checkpoint = _newest_checkpoint(output_dir)
    if checkpoint is None:
        logger.info("%s: unfinished run without a checkpoint; starting it again", output_dir)
        for child in output_dir.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    else:
        logger.info("%s: resuming the unfinished run from %s", output_dir, checkpoint.name)
    return checkpoint


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Settings that change what the checkpoint or the data position mean. The
# rest (learning rate, steps, strategy, logging...) may change on resume, for
# example to lower the learning rate after a non-finite loss.
_RESUME_BREAKING = ("model.", "objective.", "data.", "training.batch_size", "training.seed")


def _config_differences(saved, current):
    saved, current = dataclasses.asdict(saved), dataclasses.asdict(current)
    return [
        f"{section}.{key} ({saved[section][key]!r} before, {current[section][key]!r} now)"
        for section in saved
        for key in saved[section]
        if saved[section][key] != current[section].get(key)
    ]


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
    `checkpoints/ckpt-<step>` folder, or a `.weights.h5` file) when given.

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
                f"with one of the folders in {run_dir / 'checkpoints'}"
            )
        pretrainer = keras.models.load_model(final)
    else:
        checkpoint = pathlib.Path(checkpoint)
        if not checkpoint.exists():
            raise OutputError(f"{checkpoint}: checkpoint not found")
        tokenizer = tokenization.make_tokenizer(vocabulary, config.data.lowercase, config.data.strip_accents)
        pretrainer = build_pretrainer(config, tokenizer)
        if checkpoint.is_dir():
            checkpoint = checkpoint / "model.weights.h5"
        pretrainer.load_weights(checkpoint)
    return config, vocabulary, pretrainer


def next_version(model_dir):
    """1 + the highest numeric version folder in `model_dir` (TF Serving layout)."""
    model_dir = pathlib.Path(model_dir)
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1
