"""The tagging job (`--task tagging`): CoNLL or JSONL sentences in, an entity tagger out.

Same defaults as classification (`job.py`): the learning rate and layer-wise
decay from the model's size, an evaluation on the dev file after every
epoch, the best epoch (by entity F1, as the CoNLL evaluation computes it)
kept, early stopping. The first subword of each word carries its tag.

The output folder:

| path | what |
|---|---|
| `metrics.json` | dev entity precision/recall/F1 of every epoch, the best epoch, the settings |
| `huggingface/` | the tagger as an `ElectraForTokenClassification` folder (also how it reloads) |
| `export/tagger/1/` | a SavedModel for TF Serving (`tag`, `serving_default`) |
"""

import logging
import pathlib
import sys

import keras
import numpy as np

from electra_keras.data.offsets import OffsetTokenizer
from electra_keras.export.tagger import export_tagger
from electra_keras.files import write_json_atomic
from electra_keras.finetuning.health import checked_encoder
from electra_keras.finetuning.settings import BestEpoch
from electra_keras.finetuning.settings import compile_for_finetuning
from electra_keras.finetuning.settings import plan_training
from electra_keras.finetuning.settings import run_summary
from electra_keras.interop.huggingface_tasks import save_tagger_huggingface
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.models.task_heads import ElectraTokenClassifier
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.tagging import IGNORED_LABEL
from electra_keras.tasks.formats.tagging import encode_tagged
from electra_keras.tasks.formats.tagging import entity_metrics
from electra_keras.tasks.formats.tagging import read_tagged
from electra_keras.tasks.formats.tagging import word_tags

logger = logging.getLogger(__name__)


def run_tagging(init_from, settings, checkpoint=None, verbose=None):
    """Fine-tunes the encoder of `init_from` to tag the words of CoNLL/JSONL sentences.

    `settings` is a `FinetuningSettings` with `task="tagging"`; its
    `tokens_field`, `tags_field` (JSONL) and `tag_column` (CoNLL) say where
    the words and tags are.

    Example:
    ```python
    settings = FinetuningSettings("train.conll", "dev.conll", "runs/ner", task="tagging")
    run_tagging(["runs/demo"], settings)["eval"]["f1"]
    ```
    """
    source = open_pretrained(init_from, checkpoint=checkpoint)
    fields = {"tag_column": settings.tag_column, "tokens_field": settings.tokens_field,
              "tags_field": settings.tags_field}
    train, held_out = read_tagged(settings.train, **fields), read_tagged(settings.eval, **fields)
    labels = sorted({tag for sentence in train for tag in sentence.tags})
    if len(labels) < 2:
        raise LabelledDataError(f"{settings.train}: every word is tagged {labels[0]!r}; a tagger needs two tags or more")

    plan = plan_training(source, settings)
    length = plan.sequence_length
    tokenizer = OffsetTokenizer(source.vocabulary, **source.tokenizer_kwargs())
    label_index = {label: i for i, label in enumerate(labels)}
    train_encoded = encode_tagged(tokenizer, train, length, label_index)
    eval_encoded = encode_tagged(tokenizer, held_out, length, label_index)
    for path, encoded in ((settings.train, train_encoded), (settings.eval, eval_encoded)):
        if encoded["truncated_words"]:
            logger.warning("%s: %d words fall past %d subwords and are not trained on or predicted (tagged O)",
                           path, encoded["truncated_words"], length)

    encoder, health = checked_encoder(source, settings, model_inputs(train_encoded))
    tagger = ElectraTokenClassifier(encoder, num_classes=len(labels))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORED_LABEL)
    epochs, min_epochs = compile_for_finetuning(tagger, encoder, plan, settings, len(train), loss=loss)
    best = BestEpoch(lambda: evaluate_tagger(tagger, eval_encoded, held_out, labels), "tagging", settings.patience,
                     min_epochs)
    tagger.fit(
        model_inputs(train_encoded), train_encoded["labels"], batch_size=settings.batch_size, epochs=epochs,
        callbacks=[best], verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
    )
    best.restore(tagger)
    final = {**best.best, **evaluate_tagger(tagger, eval_encoded, held_out, labels, by_type=True)}

    output = pathlib.Path(settings.output)
    output.mkdir(parents=True, exist_ok=True)
    save_tagger_huggingface(tagger, source.vocabulary, output / "huggingface", labels, **source.tokenizer_kwargs())
    export_dir = export_tagger(
        tagger, output / "export" / "tagger" / "1", source.vocabulary, length, labels,
        **source.tokenizer_kwargs(),
        warmup_texts=[" ".join(sentence.words) for sentence in train[:32]],
    )
    summary = run_summary(
        source, settings, plan, best, export_dir, labels=labels, eval=final, train_rows=len(train),
        eval_rows=len(held_out),
        truncated_words={"train": train_encoded["truncated_words"], "eval": eval_encoded["truncated_words"]},
        encoder_health=health,
    )
    write_json_atomic(output / "metrics.json", summary)
    return summary


def model_inputs(encoded):
    """The model's three inputs from `encode_tagged`'s output."""
    return {name: encoded[name] for name in ("token_ids", "segment_ids", "padding_mask")}


def evaluate_tagger(tagger, encoded, sentences, labels, by_type=False):
    """Entity precision/recall/F1 (CoNLL evaluation), token accuracy and the loss on labelled subwords.

    Example:
    ```python
    evaluate_tagger(tagger, encode_tagged(tokenizer, dev, 128, index), dev, labels)["f1"]
    ```
    """
    logits = tagger.predict(model_inputs(encoded), batch_size=64, verbose=0)
    predicted = word_tags(encoded, logits.argmax(-1), sentences, labels)
    scores = entity_metrics([sentence.tags for sentence in sentences], predicted)
    if not by_type:
        scores.pop("by_type")
    targets = encoded["labels"]
    kept = targets != IGNORED_LABEL
    shifted = logits[kept] - logits[kept].max(-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    scores["loss"] = float(-np.mean(log_probabilities[np.arange(kept.sum()), targets[kept]]))
    return scores
