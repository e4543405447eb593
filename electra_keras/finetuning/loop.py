"""The one fine-tuning loop: a pretrained encoder and a task's labelled files in, a fine-tuned folder out.

Every task (`electra_keras.tasks.registry`) runs through `run_task`, in this
order: open the checkpoint (once), plan (seed, rates by size, length), build
the tokenizer (once; everything below gets this object, none reads a
vocabulary file), let the task read and encode its files, check the starting
encoder, build the task's head, compile with layer-wise decay, train with the
best-epoch callback and early stopping, put the best epoch back, save, export,
write `metrics.json`.

Defaults that work on a new task: the learning rate follows the model's
size (the paper's 3e-4 / 1e-4 / 5e-5 for small / base / large), training
runs up to `epochs` with an evaluation on the dev file after each, stops
when neither the dev score nor the dev loss has improved for `patience`
epochs, and keeps the best epoch's weights.

The output folder, the same for every task:

| path | what |
|---|---|
| `metrics.json` | the dev metrics of every epoch, the best epoch, the settings |
| `preset/` | the model as a keras-hub preset |
| `huggingface/` | the model as a Hugging Face `ElectraFor...` folder |
| `export/<task>/1/` | a SavedModel for TF Serving (`classifier`, `tagger` or `answerer`) |
"""

import pathlib
import sys

from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.files import atomic_directory
from electra_keras.files import write_json_atomic
from electra_keras.finetuning.health import CollapsedEncoderError
from electra_keras.finetuning.health import checked_encoder
from electra_keras.finetuning.settings import BestEpoch
from electra_keras.finetuning.settings import compile_for_finetuning
from electra_keras.finetuning.settings import plan_training
from electra_keras.finetuning.settings import run_summary
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.tasks.registry import task_named


def run_task(init_from, settings, checkpoint=None, verbose=None):
    """Fine-tunes the encoder of `init_from` on `settings.task`; writes `settings.output`, returns the summary.

    Args:
        init_from: folder(s) `open_pretrained` reads.
        settings: `FinetuningSettings`.
        checkpoint: a run folder's `ckpt-<step>` instead of its final model.
        verbose: Keras' verbosity; default a progress bar on a terminal.

    Example:
    ```python
    summary = run_task(["runs/demo"], FinetuningSettings("train.conll", "dev.conll", "runs/ner", task="tagging"))
    summary["eval"]["f1"]
    ```
    """
    task = task_named(settings.task)
    source = open_pretrained(init_from, checkpoint=checkpoint)
    plan = plan_training(source, settings)
    tokenizer = make_tokenizer(source.vocabulary, **source.tokenizer_kwargs())
    prepared = task.prepare(settings, plan.sequence_length, tokenizer)

    encoder, health = checked_encoder(source, settings, prepared.sample)
    model = task.build(encoder, prepared, settings)
    epochs, min_epochs = compile_for_finetuning(model, encoder, plan, settings, prepared.train_rows,
                                                **task.compile_kwargs(prepared))
    best = BestEpoch(lambda: task.evaluate(model, prepared, settings), settings.task, settings.patience, min_epochs)
    guards = task.guards(best, prepared, health, settings, min_epochs)
    model.fit(
        prepared.train_x, prepared.train_y, batch_size=settings.batch_size, epochs=epochs,
        callbacks=[best, *guards], verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
    )
    for guard in guards:
        if guard.message:
            raise CollapsedEncoderError(f"{settings.train}: {guard.message}")
    best.restore(model)
    final = task.finish(model, best, prepared, settings)

    output = pathlib.Path(settings.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_directory(output / "preset") as staging:
        task.save_preset(model, staging, tokenizer, prepared)
    task.save_huggingface(model, output / "huggingface", tokenizer, prepared)
    export_dir = task.export(model, output / "export" / task.export_name / "1", tokenizer, prepared, settings)
    summary = run_summary(source, settings, plan, best, export_dir, **task.summary(prepared, final),
                          encoder_health=health)
    write_json_atomic(output / "metrics.json", summary)
    return summary
