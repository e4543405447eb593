"""Predictions of a fine-tuned classifier over a labelled-rows file, as JSON Lines.

The model is a fine-tuning output folder (`preset/` and `metrics.json`, as
`scripts/finetune.py` writes it) or a SavedModel folder (its
`serving_default` signature, as TF Serving would run it). Input rows are
`.csv`, `.tsv` or `.jsonl` (optionally `.gz`) with a text field, and a second
text for pair tasks; labels are not needed.

Each output line repeats the input texts and adds, by task:

- classification: `label` and `probabilities` (class name -> probability);
- regression: `score`;
- multi-label: `labels` (the classes whose score reaches their threshold)
  and `scores` (class name -> probability);
- tagging (a `--task tagging` folder, or a SavedModel with a `tag`
  signature): `entities` (label, text, character start and end, score); the
  input is CoNLL or JSONL sentences (`tokens`), and then each line also has
  the words and their predicted BIO `tags`, or rows with a text field;
- question answering (a `--task qa` folder, or a SavedModel with an
  `answer` signature) over a SQuAD-layout `.json` file: `id`, `question`,
  `answer` ("" for no answer), its character `start` and `end` in the
  context, `score` and `null_score_diff`.
"""

import json
import pathlib

import numpy as np

from electra_keras.files import atomic_path
from electra_keras.tasks.formats.labelled_rows import LabelledDataError
from electra_keras.tasks.formats.labelled_rows import read_labelled


def predict_file(model, input_path, output_path, text_field="text", pair_field=None, batch_size=64):
    """Writes one JSON line of predictions per input row; returns the row count.

    Example:
    ```python
    predict_file("runs/sentiment", "reviews.csv", "predictions.jsonl")
    predict_file("runs/sentiment/export/classifier/1", "reviews.csv", "predictions.jsonl")
    ```
    """
    model = pathlib.Path(model)
    answerer = _export_with(model, "qa", "answerer", "answer")
    if answerer is not None:
        return _write_answers(answerer, input_path, output_path, batch_size)
    tagger = _export_with(model, "tagging", "tagger", "tag")
    if tagger is not None:
        return _write_tags(tagger, pathlib.Path(input_path), output_path, text_field, batch_size)
    texts, pairs, _ = read_labelled(input_path, text_field, None, pair_field)
    if (model / "saved_model.pb").is_file():
        rows = _saved_model_rows(model, texts, pairs if pair_field else None, batch_size)
    elif (model / "preset").is_dir() and (model / "metrics.json").is_file():
        rows = _finetuned_rows(model, texts, pairs if pair_field else None, batch_size)
    else:
        raise LabelledDataError(
            f"{model}: neither a fine-tuned folder (preset/ and metrics.json) nor a SavedModel (saved_model.pb)"
        )
    with atomic_path(output_path) as temporary:
        with open(temporary, "w", encoding="utf-8") as out:
            for text, pair, prediction in zip(texts, pairs, rows):
                record = {text_field: text, **({pair_field: pair} if pair_field else {}), **prediction}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(texts)


def _export_with(model, task, export_name, signature):
    """The SavedModel of a `task` folder, or a SavedModel with `signature`; None otherwise."""
    metrics = model / "metrics.json"
    if metrics.is_file():
        found = json.loads(metrics.read_text(encoding="utf-8")).get("task") == task
        return model / "export" / export_name / "1" if found else None
    if (model / "saved_model.pb").is_file():
        import tensorflow as tf

        if signature in tf.saved_model.load(str(model)).signatures:
            return model
    return None


def _write_answers(export_dir, input_path, output_path, batch_size):
    import tensorflow as tf

    from electra_keras.tasks.formats.squad import read_squad

    examples = read_squad(input_path)
    answer = tf.saved_model.load(str(export_dir)).signatures["answer"]
    with atomic_path(output_path) as temporary, open(temporary, "w", encoding="utf-8") as out:
        for batch in _within_request_limits(examples, batch_size):
            outputs = {k: v.numpy() for k, v in answer(
                question=tf.constant([e.question for e in batch]), context=tf.constant([e.context for e in batch])
            ).items()}
            for row, example in enumerate(batch):
                record = {"id": example.id, "question": example.question,
                          "answer": outputs["answer"][row].decode("utf-8"),
                          "start": int(outputs["start"][row]), "end": int(outputs["end"][row]),
                          "score": round(float(outputs["score"][row]), 6),
                          "null_score_diff": round(float(outputs["null_score_diff"][row]), 6)}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(examples)


def _within_request_limits(examples, batch_size):
    """Batches of at most `batch_size` examples whose contexts fit the answerer's default request limit."""
    from electra_keras.export.request_limits import ANSWERER_MAX_REQUEST_CHARACTERS

    batch, characters = [], 0
    for example in examples:
        if batch and (len(batch) == batch_size or characters + len(example.context) > ANSWERER_MAX_REQUEST_CHARACTERS):
            yield batch
            batch, characters = [], 0
        batch.append(example)
        characters += len(example.context)
    if batch:
        yield batch


def _write_tags(export_dir, input_path, output_path, text_field, batch_size):
    import tensorflow as tf

    from electra_keras.tasks.formats.tagging import read_tagged
    from electra_keras.tasks.formats.tagging import spans_to_tags

    name = input_path.name.removesuffix(".gz")
    if name.endswith((".csv", ".tsv")) or (name.endswith(".jsonl") and not _has_tokens(input_path)):
        sentences, texts = None, read_labelled(input_path, text_field, None)[0]
    else:
        sentences = read_tagged(input_path, require_tags=False)
        texts = [" ".join(sentence.words) for sentence in sentences]
    tag = tf.saved_model.load(str(export_dir)).signatures["tag"]
    with atomic_path(output_path) as temporary, open(temporary, "w", encoding="utf-8") as out:
        for start in range(0, len(texts), batch_size):
            outputs = {k: v.numpy() for k, v in tag(text=tf.constant(texts[start : start + batch_size])).items()}
            for row, text in enumerate(texts[start : start + batch_size]):
                entities = [
                    {"label": outputs["entity_labels"][row, i].decode("utf-8"),
                     "text": outputs["entity_texts"][row, i].decode("utf-8"),
                     "start": int(outputs["entity_starts"][row, i]), "end": int(outputs["entity_ends"][row, i]),
                     "score": round(float(outputs["entity_scores"][row, i]), 6)}
                    for i in range(outputs["num_entities"][row])
                ]
                if sentences is None:
                    record = {text_field: text, "entities": entities}
                else:
                    words = sentences[start + row].words
                    record = {"tokens": words, "tags": spans_to_tags(_word_spans(words, entities), len(words)),
                              "entities": entities}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(texts)


def _has_tokens(path):
    """Whether a JSONL file's first row is a sentence of words (`tokens`), not a `text` row."""
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), "{}")
    try:
        row = json.loads(first)
    except json.JSONDecodeError as error:
        raise LabelledDataError(f"{path}:1: not valid JSON ({error.msg})") from None
    return isinstance(row, dict) and "tokens" in row


def _word_spans(words, entities):
    """Entities (character spans of the words joined by spaces) as word spans."""
    starts, offset = [], 0
    for word in words:
        starts.append(offset)
        offset += len(word) + 1
    spans = []
    for entity in entities:
        first = starts.index(entity["start"]) if entity["start"] in starts else None
        if first is not None:
            last = max(i for i, start in enumerate(starts) if start < entity["end"])
            spans.append((entity["label"], first, last + 1))
    return spans


def _finetuned_rows(folder, texts, pairs, batch_size):
    from electra_keras.models.text_classifier import ElectraTextClassifier

    summary = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    classifier = ElectraTextClassifier.from_preset(str(folder / "preset"))
    logits = classifier.predict((texts, pairs) if pairs else texts, batch_size=batch_size, verbose=0)
    task, labels = summary["task"], summary["labels"]
    if task == "regression":
        return [{"score": float(row[0])} for row in logits]
    if task == "multi_label":
        scores = 1.0 / (1.0 + np.exp(-logits))
        thresholds = np.asarray(classifier.thresholds or [0.5] * len(labels))
        return [_multi_label_row(labels, row, row >= thresholds) for row in scores]
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return [_classification_row(labels, row) for row in probabilities]


def _saved_model_rows(folder, texts, pairs, batch_size):
    import tensorflow as tf

    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    rows = []
    for start in range(0, len(texts), batch_size):
        inputs = {"text": tf.constant(texts[start : start + batch_size])}
        if pairs:
            inputs["text_pair"] = tf.constant(pairs[start : start + batch_size])
        outputs = {key: value.numpy() for key, value in serve(**inputs).items()}
        if "score" in outputs:
            rows.extend({"score": float(score)} for score in outputs["score"])
        elif "selected" in outputs:
            labels = [label.decode("utf-8") for label in outputs["classes"][0]]
            rows.extend(_multi_label_row(labels, s, chosen > 0) for s, chosen in zip(outputs["scores"], outputs["selected"]))
        else:
            labels = [label.decode("utf-8") for label in outputs["classes"][0]]
            rows.extend(_classification_row(labels, row) for row in outputs["probabilities"])
    return rows


def _classification_row(labels, probabilities):
    best = int(np.argmax(probabilities))
    return {"label": labels[best], "probabilities": {label: round(float(p), 6) for label, p in zip(labels, probabilities)}}


def _multi_label_row(labels, scores, chosen):
    return {
        "labels": [label for label, pick in zip(labels, chosen) if pick],
        "scores": {label: round(float(score), 6) for label, score in zip(labels, scores)},
    }
