"""`Task`: what a fine-tuning task plugs into the one loop (`finetuning.loop.run_task`).

The loop opens the checkpoint, builds the tokenizer once, plans, compiles,
keeps the best epoch, stops early, and writes the output folder; a task says
everything that differs: how its files are read, how rows are encoded, its
head and loss, its dev metric, what it saves and how it serves.
`tasks.registry.TASKS` names every task; `docs/ARCHITECTURE.md` says how to add one.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Prepared:
    """A task's rows, encoded for training; each task's subclass adds the fields it needs.

    Attributes:
        train_x, train_y: what `fit` trains on.
        train_rows: the rows an epoch trains on (for the number of steps).
        sample: encoder inputs (`token_ids`, `segment_ids`, `padding_mask`)
            of some training rows, for the starting encoder's health check.
        labels: the class or tag names in logit order, or None.

    Example:
    ```python
    prepared = task_named("tagging").prepare(settings, sequence_length=128, tokenizer=tokenizer)
    prepared.train_rows, prepared.labels
    ```
    """

    train_x: object
    train_y: object
    train_rows: int
    sample: dict
    labels: list = None


class Task:
    """One fine-tuning task; subclasses fill in every method the loop calls.

    Attributes:
        name: the `--task` value.
        selection_metric: the dev score that picks the best epoch (higher is better).
        export_name: the serving folder, `export/<export_name>/1/`.

    Example:
    ```python
    class MultipleChoiceTask(Task):
        name, selection_metric, export_name = "multiple_choice", "accuracy", "chooser"
        ...  # prepare, build, compile_kwargs, evaluate, save_huggingface, export
    ```
    """

    name = None
    selection_metric = None
    export_name = None

    def prepare(self, settings, sequence_length, tokenizer):
        """Reads `settings.train` and `settings.eval` (errors name file and line) and encodes them: a `Prepared`."""
        raise NotImplementedError

    def build(self, encoder, prepared, settings):
        """The model to fine-tune: the task's head on `encoder`."""
        raise NotImplementedError

    def compile_kwargs(self, prepared):
        """`loss` (and whatever else `compile` needs) for the model `build` gives."""
        raise NotImplementedError

    def guards(self, best, prepared, health, settings, min_epochs):
        """Callbacks that stop a run going nowhere; a guard with a `message` fails the run."""
        return []

    def evaluate(self, model, prepared, settings):
        """The dev scores after an epoch: `selection_metric` and `loss` at least."""
        raise NotImplementedError

    def finish(self, model, best, prepared, settings):
        """The best epoch's weights are back in `model`: its final dev scores (the task may tune the model)."""
        return best.best

    def save_preset(self, model, folder, tokenizer, prepared):
        """Writes a keras-hub preset into `folder` (a staging folder the loop renames).

        By default the fine-tuned encoder (`model.encoder`) and the tokenizer
        only: keras-hub has no ELECTRA task class for a tagging or answering
        head, so the head is in the Hugging Face folder and the SavedModel.
        A task whose model is a keras-hub task writes all of it.
        """
        model.encoder.save_to_preset(str(folder))
        tokenizer.save_to_preset(str(folder))

    def save_huggingface(self, model, folder, tokenizer, prepared):
        """Writes the model as a Hugging Face task folder."""
        raise NotImplementedError

    def export(self, model, export_dir, tokenizer, prepared, settings):
        """Writes the serving SavedModel; returns its folder."""
        raise NotImplementedError

    def summary(self, prepared, final):
        """The task's own `metrics.json` fields (beside the loop's)."""
        return {"labels": prepared.labels, "eval": final}


def softmax_cross_entropy(logits, targets):
    """The mean cross-entropy of integer `targets` under `logits` (`[rows, classes]`), in NumPy.

    Example:
    ```python
    softmax_cross_entropy(np.array([[2.0, 0.0]]), np.array([0]))  # 0.127
    ```
    """
    shifted = logits - logits.max(-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(-np.mean(log_probabilities[np.arange(len(targets)), targets]))
