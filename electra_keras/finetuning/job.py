"""The fine-tuning job: a pretrained encoder and labelled files in, a fine-tuned folder out.

`run_finetuning` is what `scripts/finetune.py` calls. The starting point is
anything `open_pretrained` reads (a run folder or one of its checkpoints, a
Hugging Face discriminator or pair, a keras-hub preset, an official TF1
checkpoint, a fine-tuned folder); the vocabulary and casing come with it.
Every task runs through the one loop, `finetuning.loop.run_task`, which
documents the defaults and the output folder; the tasks are the plug-ins of
`electra_keras.tasks` (`tasks.registry` names them).
"""

import json
import pathlib

from electra_keras.finetuning.loop import run_task
from electra_keras.finetuning.settings import RATES_BY_SIZE  # noqa: F401  (re-exported)
from electra_keras.finetuning.settings import BestEpoch  # noqa: F401  (re-exported)
from electra_keras.finetuning.settings import FinetuningSettings  # noqa: F401  (re-exported)
from electra_keras.finetuning.settings import default_rates  # noqa: F401  (re-exported)
from electra_keras.tasks.formats.labelled_rows import LabelledDataError


def run_finetuning(init_from, settings, checkpoint=None, verbose=None):
    """Fine-tunes the encoder of `init_from` on `settings.task`; returns the summary.

    Args:
        init_from: folder(s) `open_pretrained` reads.
        settings: `FinetuningSettings`.
        checkpoint: a run folder's `ckpt-<step>` instead of its final model.
        verbose: Keras' verbosity; default a progress bar on a terminal.

    Example:
    ```python
    summary = run_finetuning(["runs/demo"], FinetuningSettings("train.csv", "dev.csv", "runs/sentiment"))
    summary["eval"]["accuracy"]
    ```
    """
    return run_task(init_from, settings, checkpoint, verbose)


def run_tagging(init_from, settings, checkpoint=None, verbose=None):
    """`run_finetuning` for `task="tagging"` settings (CoNLL or JSONL sentences).

    Example:
    ```python
    settings = FinetuningSettings("train.conll", "dev.conll", "runs/ner", task="tagging")
    run_tagging(["runs/demo"], settings)["eval"]["f1"]
    ```
    """
    return run_task(init_from, _checked(settings, "tagging"), checkpoint, verbose)


def run_question_answering(init_from, settings, checkpoint=None, verbose=None):
    """`run_finetuning` for `task="qa"` settings (SQuAD-layout files).

    Example:
    ```python
    settings = FinetuningSettings("train-v2.0.json", "dev-v2.0.json", "runs/squad", task="qa")
    run_question_answering(["runs/demo"], settings)["f1"]
    ```
    """
    return run_task(init_from, _checked(settings, "qa"), checkpoint, verbose)


def _checked(settings, task):
    if settings.task != task:
        raise ValueError(f"settings.task is {settings.task!r}; this job runs {task!r}")
    return settings


def read_summary(folder):
    """The `metrics.json` of a fine-tuned folder.

    Example:
    ```python
    read_summary("runs/sentiment")["best_epoch"]
    ```
    """
    path = pathlib.Path(folder) / "metrics.json"
    if not path.is_file():
        raise LabelledDataError(f"{folder}: no metrics.json; not a fine-tuned folder")
    return json.loads(path.read_text(encoding="utf-8"))
