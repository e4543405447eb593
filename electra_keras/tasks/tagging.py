"""Tagging (`--task tagging`): CoNLL or JSONL sentences in, an entity tagger out.

Files are read by `formats.tagging.read_tagged` (`tokens_field`,
`tags_field` for JSONL, `tag_column` for CoNLL). The first subword of each
word carries its tag; the model is an `ElectraTokenClassifier`. The best
epoch is the one with the best entity F1, as the CoNLL evaluation computes
it. It serves as `tag` and `serving_default` (`export.tagger`) and is written
as an `ElectraForTokenClassification` folder.
"""

import dataclasses
import logging

import keras

from electra_keras.data.offsets import OffsetTokenizer
from electra_keras.data.tokenizer import tokenizer_kwargs
from electra_keras.export.tagger import export_tagger
from electra_keras.interop.huggingface_tasks import save_tagger_huggingface
from electra_keras.models.task_heads import ElectraTokenClassifier
from electra_keras.tasks.base import Prepared
from electra_keras.tasks.base import Task
from electra_keras.tasks.base import softmax_cross_entropy
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.tagging import IGNORED_LABEL
from electra_keras.tasks.formats.tagging import encode_tagged
from electra_keras.tasks.formats.tagging import entity_metrics
from electra_keras.tasks.formats.tagging import read_tagged
from electra_keras.tasks.formats.tagging import word_tags

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PreparedSentences(Prepared):
    """Tagged sentences as subword rows, and the dev sentences with their encoding."""

    sequence_length: int = None
    held_out: list = None
    eval_encoded: dict = None
    truncated_words: dict = None
    warmup_texts: list = None


class TaggingTask(Task):
    """Entity tagging of words (see the module doc).

    Example:
    ```python
    prepared = TaggingTask().prepare(settings, 128, make_tokenizer(vocabulary))
    prepared.labels  # ["B-PER", "I-PER", "O"]
    ```
    """

    name, selection_metric, export_name = "tagging", "f1", "tagger"

    def prepare(self, settings, sequence_length, tokenizer):
        fields = {"tag_column": settings.tag_column, "tokens_field": settings.tokens_field,
                  "tags_field": settings.tags_field}
        train, held_out = read_tagged(settings.train, **fields), read_tagged(settings.eval, **fields)
        labels = sorted({tag for sentence in train for tag in sentence.tags})
        if len(labels) < 2:
            raise LabelledDataError(
                f"{settings.train}: every word is tagged {labels[0]!r}; a tagger needs two tags or more"
            )
        offsets = OffsetTokenizer.like(tokenizer)
        label_index = {label: i for i, label in enumerate(labels)}
        train_encoded = encode_tagged(offsets, train, sequence_length, label_index)
        eval_encoded = encode_tagged(offsets, held_out, sequence_length, label_index)
        for path, encoded in ((settings.train, train_encoded), (settings.eval, eval_encoded)):
            if encoded["truncated_words"]:
                logger.warning("%s: %d words fall past %d subwords and are not trained on or predicted (tagged O)",
                               path, encoded["truncated_words"], sequence_length)
        return PreparedSentences(
            model_inputs(train_encoded), train_encoded["labels"], len(train), model_inputs(train_encoded), labels,
            sequence_length=sequence_length, held_out=held_out, eval_encoded=eval_encoded,
            truncated_words={"train": train_encoded["truncated_words"], "eval": eval_encoded["truncated_words"]},
            warmup_texts=[" ".join(sentence.words) for sentence in train[:32]],
        )

    def build(self, encoder, prepared, settings):
        return ElectraTokenClassifier(encoder, num_classes=len(prepared.labels))

    def compile_kwargs(self, prepared):
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORED_LABEL)}

    def evaluate(self, model, prepared, settings):
        return evaluate_tagger(model, prepared.eval_encoded, prepared.held_out, prepared.labels)

    def finish(self, model, best, prepared, settings):
        return {**best.best,
                **evaluate_tagger(model, prepared.eval_encoded, prepared.held_out, prepared.labels, by_type=True)}

    def save_huggingface(self, model, folder, tokenizer, prepared):
        save_tagger_huggingface(model, tokenizer.get_vocabulary(), folder, prepared.labels,
                                **tokenizer_kwargs(tokenizer))

    def export(self, model, export_dir, tokenizer, prepared, settings):
        return export_tagger(model, export_dir, tokenizer.get_vocabulary(), prepared.sequence_length,
                             prepared.labels, **tokenizer_kwargs(tokenizer), warmup_texts=prepared.warmup_texts)

    def summary(self, prepared, final):
        return {"labels": prepared.labels, "eval": final, "train_rows": prepared.train_rows,
                "eval_rows": len(prepared.held_out), "truncated_words": prepared.truncated_words}


def task(name):
    """The registry's entry point (`tasks.registry`).

    Example:
    ```python
    task("tagging").export_name  # "tagger"
    ```
    """
    return TaggingTask()


def model_inputs(encoded):
    """The model's three inputs from `encode_tagged`'s output.

    Example:
    ```python
    tagger.predict(model_inputs(encode_tagged(offsets, sentences, 128)))
    ```
    """
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
    kept = encoded["labels"] != IGNORED_LABEL
    scores["loss"] = softmax_cross_entropy(logits[kept], encoded["labels"][kept])
    return scores
