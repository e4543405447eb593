"""What every fine-tuning task shares: the settings, the default rates by model size, the best-epoch callback."""

import dataclasses
import logging
import math

import keras

from electra_keras.finetuning.optimization import layerwise_decay_adamw
from electra_keras.pretraining.optimization import WarmupLinearDecay
from electra_keras.tasks import registry

logger = logging.getLogger(__name__)

TASKS = tuple(registry.TASKS)
# (widest hidden size, learning rate, layer-wise decay): the paper's Table 7
# for small, base and large. Tiny (hidden 128, this project's demo size) is
# not in the paper; see docs/finetuning.md for how its rate was chosen.
RATES_BY_SIZE = ((128, 1e-3, 0.8), (256, 3e-4, 0.8), (768, 1e-4, 0.8), (math.inf, 5e-5, 0.9))


@dataclasses.dataclass
class FinetuningSettings:
    """What a fine-tuning run reads and how it trains; `None` means the default.

    Example:
    ```python
    settings = FinetuningSettings(train="train.csv", eval="dev.csv", output="runs/task")
    ```
    """

    train: str
    eval: str
    output: str
    text_field: str = "text"
    pair_field: str = None
    label_field: str = "label"
    task: str = "classification"
    # Multi-label rows in CSV/TSV: labels joined by this (JSONL: a list).
    label_separator: str = "|"
    epochs: int = 10
    patience: int = 2
    # Small data: train at least this many steps (more epochs) and never stop
    # early before them. From a new task's start the dev score can sit at the
    # majority class for a few hundred steps: measured on 1,350 Rotten Tomatoes
    # rows, an untrained tiny encoder left it only after about 380 steps, when
    # 10 epochs with patience 2 had stopped it at 215.
    min_steps: int = 600
    batch_size: int = 32
    learning_rate: float = None  # by model size
    layer_decay: float = None  # by model size
    warmup_fraction: float = 0.1
    sequence_length: int = None  # the checkpoint's, else 128
    seed: int = 0
    # The checkpoint's sizes and vocabulary but random weights: what
    # pretraining buys is the difference.
    random_init: bool = False
    # A starting encoder whose token states collapsed to one vector
    # (finetuning.health): "warn", "fail", or "random-init" (start from random weights).
    on_collapse: str = "warn"
    # Tagging: where a JSONL row keeps its words and tags; a CoNLL file's tag column.
    tokens_field: str = "tokens"
    tags_field: str = "tags"
    tag_column: int = -1
    # Question answering: windows every `doc_stride` context tokens, questions cut
    # to `max_question_tokens`, answers of at most `max_answer_length` tokens
    # found among each window's `n_best` starts and ends (the official code's values).
    doc_stride: int = 128
    max_question_tokens: int = 64
    max_answer_length: int = 30
    n_best: int = 20


def default_rates(hidden_size):
    """`(learning_rate, layer_decay)` for an encoder of `hidden_size`.

    Example:
    ```python
    default_rates(256)  # (3e-4, 0.8): ELECTRA-Small
    ```
    """
    for widest, learning_rate, decay in RATES_BY_SIZE:
        if hidden_size <= widest:
            return learning_rate, decay
    raise AssertionError("unreachable: the last size is unbounded")


class BestEpoch(keras.callbacks.Callback):
    """Scores the dev rows after every epoch, keeps the best weights, stops early.

    The best epoch is the one with the best selection metric (ties: the lower
    dev loss). Training stops when neither the metric nor the dev loss has
    improved for `patience` epochs: from a new task's start the metric often
    sits at the majority class for a few epochs while the loss already falls,
    and stopping on the metric alone ends those runs before they learn. No
    stop comes before `min_epochs`.

    Example:
    ```python
    best = BestEpoch(lambda: {"accuracy": dev_accuracy(), "loss": dev_loss()}, "classification", patience=2)
    model.fit(x, y, epochs=10, callbacks=[best])
    best.restore(model)
    ```
    """

    def __init__(self, evaluate, task, patience, min_epochs=0):
        super().__init__()
        self.evaluate = evaluate
        self.metric = registry.task_named(task).selection_metric
        self.patience = patience
        self.min_epochs = min_epochs
        self.history = []
        self.best, self.best_epoch, self._weights = None, None, None
        self._lowest_loss, self._last_progress = math.inf, 0

    def on_epoch_end(self, epoch, logs=None):
        scores = self.evaluate()
        self.history.append({"epoch": epoch + 1, "train_loss": float((logs or {}).get("loss", float("nan"))),
                             **scores})
        logger.info("epoch %d: dev %s", epoch + 1, ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        loss = scores.get("loss", math.inf)
        metric_gain = self.best is None or scores[self.metric] > self.best[self.metric]
        tie_lower_loss = not metric_gain and scores[self.metric] == self.best[self.metric] and loss < self.best.get(
            "loss", math.inf)
        if metric_gain or tie_lower_loss:
            self.best, self.best_epoch = scores, epoch + 1
            self._weights = self.model.get_weights()
        if metric_gain or loss < self._lowest_loss - 1e-4:
            self._last_progress = epoch + 1
        self._lowest_loss = min(self._lowest_loss, loss)
        if epoch + 1 >= self.min_epochs and epoch + 1 - self._last_progress >= self.patience:
            self.model.stop_training = True

    def restore(self, model):
        """Puts the best epoch's weights back."""
        if self._weights is not None:
            model.set_weights(self._weights)


@dataclasses.dataclass
class TrainingPlan:
    """The resolved defaults of one fine-tuning run.

    Example:
    ```python
    plan = plan_training(source, settings)
    plan.learning_rate, plan.layer_decay, plan.sequence_length
    ```
    """

    learning_rate: float
    layer_decay: float
    sequence_length: int


def plan_training(source, settings):
    """Seeds the run and resolves what `settings` leaves to the model: the rates by size, the length.

    Example:
    ```python
    plan = plan_training(open_pretrained(["runs/demo"]), FinetuningSettings("a.csv", "b.csv", "out"))
    ```
    """
    keras.utils.set_random_seed(settings.seed)
    learning_rate, decay = default_rates(source.model_config.hidden_size)
    length = min(settings.sequence_length or source.sequence_length or 128, source.model_config.max_position_embeddings)
    return TrainingPlan(settings.learning_rate or learning_rate, settings.layer_decay or decay, length)


def compile_for_finetuning(model, encoder, plan, settings, num_rows, **compile_kwargs):
    """Compiles `model` with the paper's optimizer (warmup, linear decay, layer-wise rates); returns the epochs.

    Returns:
        `(epochs, min_epochs)`: `settings.epochs`, raised so that training
        takes at least `settings.min_steps` steps, and the epochs before
        which early stopping may not stop (for `BestEpoch`).

    Example:
    ```python
    epochs, min_epochs = compile_for_finetuning(tagger, encoder, plan, settings, len(train), loss=loss)
    ```
    """
    steps_per_epoch = math.ceil(num_rows / settings.batch_size)
    min_epochs = math.ceil(settings.min_steps / steps_per_epoch)
    epochs = max(settings.epochs, min_epochs)
    total_steps = epochs * steps_per_epoch
    schedule = WarmupLinearDecay(plan.learning_rate, int(settings.warmup_fraction * total_steps), total_steps)
    model.compile(optimizer=layerwise_decay_adamw(model, schedule, encoder.num_layers, plan.layer_decay),
                  **compile_kwargs)
    return epochs, min_epochs


def run_summary(source, settings, plan, best, export_dir, **task_fields):
    """The `metrics.json` fields every task writes, then the task's own.

    Example:
    ```python
    write_json_atomic(folder / "metrics.json", run_summary(source, settings, plan, best, export_dir, labels=labels))
    ```
    """
    return {
        "task": settings.task,
        "best_epoch": best.best_epoch,
        "epochs": best.history,
        "selection_metric": registry.task_named(settings.task).selection_metric,
        "init_from": source.describe() + (" (random weights)" if settings.random_init else ""),
        "learning_rate": plan.learning_rate,
        "layer_decay": plan.layer_decay,
        "sequence_length": plan.sequence_length,
        "settings": dataclasses.asdict(settings),
        "export": str(export_dir),
        **task_fields,
    }
