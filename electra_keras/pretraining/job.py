"""The pretraining job: config and corpus in, a run folder out.

`run_pretraining` is what `scripts/pretrain.py` calls, and is callable from
Python. It asks `RunFolder` for everything on disk (claiming the folder,
resuming, state, outputs), `electra_keras.data` for the batches,
`open_pretrained` for an `--init-from` start, and `electra_keras.export` for
the discriminator SavedModel. A job module sits on top of the package
layers: nothing but the command line imports it.
"""

import dataclasses
import logging
import math
import sys
import time

import keras

from electra_keras.data import prepared as preparation
from electra_keras.export.discriminator import export_discriminator
from electra_keras.export.savedmodel import DEFAULT_WARMUP_TEXTS
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.pretraining.compute import compute_budget
from electra_keras.pretraining.compute import describe_budget
from electra_keras.pretraining.compute import run_flops
from electra_keras.pretraining.distribution import make_strategy
from electra_keras.pretraining.distribution import task_identity
from electra_keras.pretraining.health import fresh_encoder_like
from electra_keras.pretraining.optimization import build_optimizer
from electra_keras.pretraining.trainer import build_pretrainer
from electra_keras.runs import callbacks
from electra_keras.runs.checkpoints import list_checkpoints
from electra_keras.runs.checkpoints import optimizer_step
from electra_keras.runs.checkpoints import restore_newest
from electra_keras.runs.probe import ProbeTask
from electra_keras.runs.run_folder import RunFolder
from electra_keras.runs.run_folder import RunFolderError
from electra_keras.runs.run_folder import describe_inputs
from electra_keras.tasks.formats.labelled_rows import encode_pairs

logger = logging.getLogger(__name__)
HEALTH_EXAMPLES = 32  # held-out examples the representation health is measured on


def run_pretraining(
    config, corpus_paths, output_dir, vocabulary_path=None, overwrite=False, verbose=None, data_dir=None,
    init_from=None,
):
    """Pretrains and writes everything to the run folder `output_dir`.

    The examples come from text files (`corpus_paths`, read, tokenized and
    packed in memory: fine for small corpora) or from a dataset built by
    `scripts/build_dataset.py` (`data_dir`, streamed from its shards; a
    `vocabulary_path` whose SHA-256 differs from the dataset's is refused).

    A folder left by an unfinished run (crashed, killed or stopped by
    SIGTERM/SIGINT) is resumed from its newest checkpoint: weights, optimizer
    slots, step, schedule, dropout generators and input position, so the run
    ends as if never interrupted. The config and inputs must be the ones it
    started with.

    `init_from` continues pretraining from anything `open_pretrained` reads (a
    run folder, a Hugging Face pair, a keras-hub preset, an official TF1
    checkpoint; domain adaptation): its sizes replace the `model` section,
    its vocabulary and casing are used, and the held-out metrics of the
    imported model are logged as the evaluation of step 0.

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    ```python
    config = electra_keras.ElectraConfig.from_yaml("configs/tiny.yaml")
    metrics = run_pretraining(config, ["corpus.txt"], "runs/demo")
    ```
    """
    strategy = make_strategy(config.training.strategy)  # before any other TensorFlow work
    source = None
    vocabulary = vocabulary_path
    if init_from:
        source = open_pretrained(init_from, defaults=config.model)
        config = _adopt(config, source, vocabulary_path)
        vocabulary = source.vocabulary
    is_chief, task_name = task_identity(strategy)
    run = RunFolder(output_dir, writer=is_chief)
    inputs = describe_inputs(corpus_paths, data_dir, vocabulary_path)
    if source is not None:
        inputs["init_from"] = [str(path) for path in source.paths]
    if not is_chief:
        # Workers read the chief's checkpoints and write nothing else there.
        resume_from = run.newest_checkpoint() if run.state_path.exists() else None
        if resume_from is not None:
            vocabulary = run.vocabulary_path
        return _train(config, run, corpus_paths, data_dir, vocabulary, strategy, resume_from, source, verbose,
                      task_name)
    try:
        resume_from = run.claim(overwrite, config, inputs)
        if resume_from is not None:
            # The vocabulary the run started with, even if it was built then.
            vocabulary = run.vocabulary_path
        run.mark("running", inputs)
        try:
            metrics = _train(config, run, corpus_paths, data_dir, vocabulary, strategy, resume_from, source,
                             verbose, task_name)
        except callbacks.TrainingInterrupted as error:
            run.mark("interrupted", inputs, step=error.step, error=str(error))
            raise
        except BaseException as error:
            try:
                run.mark("failed", inputs, error=f"{type(error).__name__}: {error}")
            except OSError as marking:
                # A full disk may refuse this small file too; the error that stopped the run matters more.
                logger.error("could not mark %s failed: %s", run.path, marking)
            raise
        run.mark("complete", inputs)
        return metrics
    finally:
        run.release()


def _adopt(config, source, vocabulary_path):
    """The config of a run that continues `source`: its sizes and casing."""
    if vocabulary_path is not None:
        raise RunFolderError(
            f"--vocab {vocabulary_path} cannot be used with --init-from: the model's own vocabulary is used"
        )
    if not source.tokenize_chinese_chars:
        raise RunFolderError(
            f"{source.describe()}: tokenize_chinese_chars false; continued pretraining splits CJK characters "
            "apart, as BERT does by default"
        )
    if source.model_config.max_position_embeddings < config.data.sequence_length:
        raise RunFolderError(
            f"{source.paths[-1]}: max_position_embeddings {source.model_config.max_position_embeddings} is "
            f"shorter than data.sequence_length {config.data.sequence_length}"
        )
    return dataclasses.replace(
        config,
        model=dataclasses.replace(source.model_config, vocabulary_size=None),
        data=dataclasses.replace(config.data, lowercase=source.lowercase, strip_accents=source.strip_accents),
    )


def _train(config, run, corpus_paths, data_dir, vocabulary, strategy, resume_from, source, verbose, task_name):
    started = time.time()
    training = config.training
    keras.utils.set_random_seed(training.seed)
    if run.writer:
        run.write_config(config)
    if data_dir is not None:
        prepared = preparation.prepare_built(config, data_dir, vocabulary)
    else:
        prepared = preparation.prepare_corpus(config, corpus_paths, vocabulary)
    if run.writer:
        run.write_vocabulary(prepared.vocabulary)
    logger.info("data: %s", prepared.statistics)
    eval_dataset = prepared.eval_dataset
    if eval_dataset is not None:
        eval_dataset = eval_dataset.take(training.eval_batches)
    held_out = preparation.held_out_size(eval_dataset)
    logger.info("each evaluation covers %(examples)d held-out examples, %(tokens)d tokens", held_out)

    with strategy.scope():
        pretrainer = build_pretrainer(config, prepared.tokenizer)
        pretrainer.compile(
            optimizer=build_optimizer(config.optimizer, training.num_steps), jit_compile=training.jit_compile
        )
    health = None
    if eval_dataset is not None:
        # Built at the same point of a new and a resumed run, so both draw the same random numbers after it.
        health = callbacks.RepresentationHealth(
            {key: value[:HEALTH_EXAMPLES] for key, value in next(iter(eval_dataset)).items()},
            fresh_encoder_like(pretrainer.discriminator),
        )
    probe = None
    if training.probe_data:
        probe = callbacks.DownstreamProbe(
            ProbeTask(training.probe_data, prepared.tokenizer, config.data.sequence_length, training.probe_rows)
        )
    evaluation_log = callbacks.EvaluationLog()
    sized = dataclasses.replace(config, model=pretrainer.model_config)
    flops_per_sequence, total_flops = run_flops(sized)
    logger.info("%s", describe_budget(compute_budget(total_flops)))
    start_step = 0
    if source is not None and resume_from is None:
        source.load_into(pretrainer)
        logger.info("initialised from %s", source.describe())
        if eval_dataset is not None:
            # Where domain adaptation starts from.
            initial = pretrainer.evaluate(eval_dataset, return_dict=True, verbose=0)
            initial = {k: callbacks.scalar(v) for k, v in initial.items()}
            if probe is not None:
                initial["probe_accuracy"] = probe.task.accuracy(pretrainer.discriminator)
            evaluation_log.evaluations.append({"step": 0, **initial})
    if resume_from is not None:
        # The newest readable checkpoint: one damaged since it was written is set aside.
        resume_from, state = restore_newest(pretrainer, run.checkpoints_dir, set_aside=run.writer)
        start_step = state["step"]
        evaluation_log.evaluations = [e for e in state.get("evaluations", []) if e["step"] <= start_step]
        logger.info("resumed from %s at step %d", resume_from, start_step)

    checkpoints = callbacks.TrainingCheckpoint(
        run.checkpoints_dir,
        training.steps_per_checkpoint,
        keep=training.keep_checkpoints,
        # One batch per step: the input position is the step.
        state_fn=lambda step: {"batches_consumed": step, "evaluations": evaluation_log.evaluations},
        write=run.writer,
    )
    # The sample shows the generator's guesses and the discriminator's calls.
    electra = config.objective.kind == "electra"
    sample_inputs = _sample_inputs(prepared, config) if run.writer and electra else None
    run_callbacks = [
        callbacks.StopAtStep(training.num_steps),
        callbacks.StopOnNonFiniteLoss(run.checkpoints_dir, write=run.writer),
        checkpoints,
        callbacks.StopOnSignal(checkpoints),
        *([probe] if probe is not None else []),
        *([health] if health is not None else []),
        *([callbacks.PlateauWarning(config.optimizer.warmup_steps)] if electra else []),
        callbacks.TrainingLog(
            run.logs_dir,
            training.steps_per_log,
            training.steps_per_sample,
            sample_inputs=sample_inputs,
            vocabulary=prepared.vocabulary,
            samples_path=run.samples_path,
            write=run.writer,
        ),
        evaluation_log,
    ]
    fit_started = time.time()
    _fit_to_step(pretrainer, prepared, eval_dataset, run_callbacks, training, start_step, verbose)
    fit_seconds = time.time() - fit_started
    final_step = optimizer_step(pretrainer)
    if not run.writer:
        run.save_worker_weights(pretrainer, task_name)
        return {"steps": final_step, "worker": task_name}
    saved = list_checkpoints(run.checkpoints_dir)
    if not saved or saved[-1][0] != final_step:
        checkpoints.save(final_step)
    run.save_pretrainer(pretrainer)
    if electra:
        export_discriminator(
            pretrainer,
            run.discriminator_export_dir,
            vocabulary=prepared.vocabulary,
            sequence_length=config.data.sequence_length,
            lowercase=config.data.lowercase,
            strip_accents=config.data.strip_accents,
            warmup_texts=prepared.sample_texts or DEFAULT_WARMUP_TEXTS,
        )
    final_eval = evaluation_log.evaluations[-1] if evaluation_log.evaluations else {}
    # Wall-clock rate of this process's steps, evaluations included.
    steps_trained = final_step - start_step
    rate = flops_per_sequence * training.batch_size * steps_trained / fit_seconds if steps_trained else None
    budget = {
        **compute_budget(total_flops, rate),
        "flops_per_sequence": flops_per_sequence,
        "steps_trained_here": steps_trained,
        "fit_seconds": fit_seconds,
    }
    logger.info("%s", describe_budget(budget))
    metrics = {
        "steps": final_step,
        "resumed_from_step": start_step or None,
        "train": evaluation_log.last_train,
        "eval": final_eval,
        # What the eval figures are averaged over: the same examples in every evaluation.
        "held_out": held_out,
        # Accuracy of a discriminator that calls every token original.
        "eval_all_original_accuracy": 1.0 - final_eval.get("replaced_fraction", float("nan")),
        "evaluations": evaluation_log.evaluations,
        # Token-state spread against a fresh encoder's at every evaluation; a warning if it collapsed.
        "representation_warnings": health.warnings if health is not None else [],
        "data": prepared.statistics,
        # Training FLOPs against the paper's ELECTRA-Small points, and each point's time at this rate.
        "compute": budget,
        "seconds": time.time() - started,
    }
    run.write_metrics(metrics)
    return metrics


def _fit_to_step(pretrainer, prepared, eval_dataset, run_callbacks, training, start_step, verbose):
    """Trains from `start_step` to `training.num_steps`, evaluating every
    `steps_per_eval` steps (one Keras epoch each)."""
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    steps_per_epoch = min(training.steps_per_eval, training.num_steps)

    def fit(first_batch, **kwargs):
        # The data order is fixed by the seed: skipping the batches already
        # trained on puts a resumed run where the interrupted one stopped.
        dataset = prepared.make_train_dataset()
        if first_batch:
            dataset = dataset.skip(first_batch)
        pretrainer.fit(
            dataset, validation_data=eval_dataset, callbacks=run_callbacks,
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


def _sample_inputs(prepared, config):
    """One fixed sentence, tokenized and padded: the logged sample."""
    texts = prepared.sample_texts or DEFAULT_WARMUP_TEXTS
    # A real sentence rather than a heading.
    text = next((t for t in texts if len(t.split()) >= 8), texts[0])
    return encode_pairs(prepared.tokenizer, [text], [None], config.data.sequence_length)
