"""The question-answering job (`--task qa`): SQuAD-layout files in, an extractive reader out.

SQuAD v1.1 and v2.0, KorQuAD 1.0 and CMRC 2018 files are read alike
(`electra_keras.tasks.formats.squad`). Same defaults as classification: the learning
rate and layer-wise decay from the model's size, an evaluation on the dev
file after every epoch (the official EM and F1, 0-100; for v2.0 at the
no-answer threshold that maximises F1 on the dev file), the best epoch by F1
kept, early stopping.

The output folder:

| path | what |
|---|---|
| `metrics.json` | `exact`, `f1` (and v2.0's HasAns/NoAns figures, the null threshold) per epoch and for the best |
| `huggingface/` | the reader as an `ElectraForQuestionAnswering` folder (also how it reloads) |
| `export/answerer/1/` | a SavedModel for TF Serving (`answer`, `serving_default`) |
"""

import math
import pathlib
import sys

import keras
import numpy as np

from electra_keras.data.tokenizer import make_tokenizer
from electra_keras.export.answerer import export_answerer
from electra_keras.files import write_json_atomic
from electra_keras.finetuning.health import checked_encoder
from electra_keras.finetuning.settings import BestEpoch
from electra_keras.finetuning.settings import compile_for_finetuning
from electra_keras.finetuning.settings import plan_training
from electra_keras.finetuning.settings import run_summary
from electra_keras.interop.huggingface_tasks import save_answerer_huggingface
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.models.task_heads import ElectraQuestionAnswerer
from electra_keras.tasks.formats.squad import apply_null_threshold
from electra_keras.tasks.formats.squad import best_null_threshold
from electra_keras.tasks.formats.squad import decode_answers
from electra_keras.tasks.formats.squad import make_windows
from electra_keras.tasks.formats.squad import read_squad
from electra_keras.tasks.formats.squad import squad_metrics

INPUTS = ("token_ids", "segment_ids", "padding_mask")


def run_question_answering(init_from, settings, checkpoint=None, verbose=None):
    """Fine-tunes the encoder of `init_from` to answer questions from SQuAD-layout files.

    `settings` is a `FinetuningSettings` with `task="qa"`; its
    `doc_stride`, `max_question_tokens`, `max_answer_length` and `n_best`
    shape the windows and the decoding.

    Example:
    ```python
    settings = FinetuningSettings("train-v2.0.json", "dev-v2.0.json", "runs/squad", task="qa")
    run_question_answering(["runs/demo"], settings)["f1"]
    ```
    """
    source = open_pretrained(init_from, checkpoint=checkpoint)
    train, held_out = read_squad(settings.train), read_squad(settings.eval)
    plan = plan_training(source, settings)
    length = plan.sequence_length
    question_tokens = min(settings.max_question_tokens, length // 2)
    tokenizer = make_tokenizer(source.vocabulary, **source.tokenizer_kwargs())
    train_windows = make_windows(train, tokenizer, length, question_tokens, settings.doc_stride)
    eval_windows = make_windows(held_out, tokenizer, length, question_tokens, settings.doc_stride)

    encoder, health = checked_encoder(source, settings, train_windows)
    reader = ElectraQuestionAnswerer(encoder)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    epochs, min_epochs = compile_for_finetuning(reader, encoder, plan, settings, len(train_windows["token_ids"]),
                           loss={"start_logits": loss, "end_logits": loss})
    best = BestEpoch(lambda: evaluate_reader(reader, eval_windows, held_out, settings), "qa", settings.patience,
                     min_epochs)
    reader.fit(
        {name: train_windows[name] for name in INPUTS},
        {"start_logits": train_windows["start_positions"], "end_logits": train_windows["end_positions"]},
        batch_size=settings.batch_size, epochs=epochs, callbacks=[best],
        verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
    )
    best.restore(reader)

    output = pathlib.Path(settings.output)
    output.mkdir(parents=True, exist_ok=True)
    save_answerer_huggingface(reader, source.vocabulary, output / "huggingface", **source.tokenizer_kwargs())
    threshold = best.best.get("null_threshold")
    if threshold is None and any(example.is_impossible for example in train):
        threshold = 0.0  # a v2.0 task scored on a dev file without unanswerable questions: no tuning possible
    if threshold is not None and not math.isfinite(threshold):
        threshold = None  # no dev span was ever found: answer whatever scores best
    export_dir = export_answerer(
        reader, output / "export" / "answerer" / "1", source.vocabulary, length, question_tokens,
        settings.doc_stride, settings.max_answer_length, threshold,
        warmup_pairs=[(example.question, example.context) for example in train[:16]], n_best=settings.n_best,
        **source.tokenizer_kwargs(),
    )
    summary = run_summary(
        source, settings, plan, best, export_dir, exact=best.best["exact"], f1=best.best["f1"], eval=best.best,
        train_rows=len(train), eval_rows=len(held_out), train_windows=len(train_windows["token_ids"]),
        max_question_tokens=question_tokens, null_threshold=threshold, encoder_health=health,
    )
    write_json_atomic(output / "metrics.json", summary)
    return summary


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
    scores["loss"] = float(np.mean([_cross_entropy(start, windows["start_positions"]),
                                    _cross_entropy(end, windows["end_positions"])]))
    return scores


def _cross_entropy(logits, targets):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -np.mean(log_probabilities[np.arange(len(targets)), targets])
