"""Extractive question answering (`--task qa`): SQuAD-layout files in, a reader out.

SQuAD v1.1 and v2.0, KorQuAD 1.0 and CMRC 2018 files are read alike
(`formats.squad`), cut into windows every `doc_stride` context tokens. The
best epoch is the one with the best official F1 (0-100; for v2.0 at the
no-answer threshold that maximises F1 on the dev file). It serves as
`answer` and `serving_default` (`export.answerer`) and is written as an
`ElectraForQuestionAnswering` folder.
"""

import dataclasses
import math

import keras
import numpy as np

from electra_keras.data.tokenizer import tokenizer_kwargs
from electra_keras.export.answerer import export_answerer
from electra_keras.interop.huggingface_tasks import save_answerer_huggingface
from electra_keras.models.task_heads import ElectraQuestionAnswerer
from electra_keras.tasks.base import Prepared
from electra_keras.tasks.base import Task
from electra_keras.tasks.base import softmax_cross_entropy
from electra_keras.tasks.formats.squad import apply_null_threshold
from electra_keras.tasks.formats.squad import best_null_threshold
from electra_keras.tasks.formats.squad import decode_answers
from electra_keras.tasks.formats.squad import make_windows
from electra_keras.tasks.formats.squad import read_squad
from electra_keras.tasks.formats.squad import squad_metrics

INPUTS = ("token_ids", "segment_ids", "padding_mask")


@dataclasses.dataclass
class PreparedWindows(Prepared):
    """Question-context windows, the examples they come from, and the serving's no-answer threshold."""

    sequence_length: int = None
    question_tokens: int = None
    train: list = None
    held_out: list = None
    eval_windows: dict = None
    null_threshold: float = None  # set by `finish`, from the best epoch


class QuestionAnsweringTask(Task):
    """Answer spans in a context (see the module doc).

    Example:
    ```python
    prepared = QuestionAnsweringTask().prepare(settings, 384, make_tokenizer(vocabulary))
    len(prepared.train_windows["token_ids"])
    ```
    """

    name, selection_metric, export_name = "qa", "f1", "answerer"

    def prepare(self, settings, sequence_length, tokenizer):
        train, held_out = read_squad(settings.train), read_squad(settings.eval)
        question_tokens = min(settings.max_question_tokens, sequence_length // 2)
        train_windows = make_windows(train, tokenizer, sequence_length, question_tokens, settings.doc_stride)
        eval_windows = make_windows(held_out, tokenizer, sequence_length, question_tokens, settings.doc_stride)
        return PreparedWindows(
            {name: train_windows[name] for name in INPUTS},
            {"start_logits": train_windows["start_positions"], "end_logits": train_windows["end_positions"]},
            len(train_windows["token_ids"]), train_windows, sequence_length=sequence_length,
            question_tokens=question_tokens, train=train, held_out=held_out, eval_windows=eval_windows,
        )

    def build(self, encoder, prepared, settings):
        return ElectraQuestionAnswerer(encoder)

    def compile_kwargs(self, prepared):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return {"loss": {"start_logits": loss, "end_logits": loss}}

    def evaluate(self, model, prepared, settings):
        return evaluate_reader(model, prepared.eval_windows, prepared.held_out, settings)

    def finish(self, model, best, prepared, settings):
        threshold = best.best.get("null_threshold")
        if threshold is None and any(example.is_impossible for example in prepared.train):
            threshold = 0.0  # a v2.0 task scored on a dev file without unanswerable questions: no tuning possible
        if threshold is not None and not math.isfinite(threshold):
            threshold = None  # no dev span was ever found: answer whatever scores best
        prepared.null_threshold = threshold
        return best.best

    def save_huggingface(self, model, folder, tokenizer, prepared):
        save_answerer_huggingface(model, tokenizer.get_vocabulary(), folder, **tokenizer_kwargs(tokenizer))

    def export(self, model, export_dir, tokenizer, prepared, settings):
        return export_answerer(
            model, export_dir, tokenizer.get_vocabulary(), prepared.sequence_length, prepared.question_tokens,
            settings.doc_stride, settings.max_answer_length, prepared.null_threshold,
            warmup_pairs=[(example.question, example.context) for example in prepared.train[:16]],
            n_best=settings.n_best, **tokenizer_kwargs(tokenizer),
        )

    def summary(self, prepared, final):
        return {"exact": final["exact"], "f1": final["f1"], "eval": final, "train_rows": len(prepared.train),
                "eval_rows": len(prepared.held_out), "train_windows": prepared.train_rows,
                "max_question_tokens": prepared.question_tokens, "null_threshold": prepared.null_threshold}


def task(name):
    """The registry's entry point (`tasks.registry`).

    Example:
    ```python
    task("qa").export_name  # "answerer"
    ```
    """
    return QuestionAnsweringTask()


def evaluate_reader(reader, windows, examples, settings):
    """Official EM/F1 (0-100) of the reader's answers, v2.0 at the best no-answer threshold, and the dev loss.

    Example:
    ```python
    evaluate_reader(reader, make_windows(dev, tokenizer, 384), dev, settings)["f1"]
    ```
    """
    logits = reader.predict({name: windows[name] for name in INPUTS}, batch_size=64, verbose=0)
    start, end = np.asarray(logits["start_logits"]), np.asarray(logits["end_logits"])
    predictions = decode_answers(examples, windows, start, end, settings.n_best, settings.max_answer_length)
    scores = {}
    if any(example.is_impossible for example in examples):
        threshold, _ = best_null_threshold(predictions, examples)
        scores["null_threshold"] = float(threshold) if math.isfinite(threshold) else None
        texts = apply_null_threshold(predictions, threshold)
    else:
        texts = [prediction.text for prediction in predictions]
    scores.update(squad_metrics(examples, texts))
    scores["loss"] = float(np.mean([softmax_cross_entropy(start, windows["start_positions"]),
                                    softmax_cross_entropy(end, windows["end_positions"])]))
    return scores
