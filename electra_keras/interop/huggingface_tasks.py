"""Hugging Face ELECTRA task models in and out: sequence and token classification, question answering.

The encoder maps as the discriminator does (`huggingface.py`); the head is
Hugging Face's `ElectraClassificationHead`: dropout, `classifier.dense`
(exact gelu), dropout, `classifier.out_proj`, on the final [CLS] state,
which is `ElectraTextClassifier`'s head with `head_activation="gelu"`.
`config.json` carries the labels (`id2label`) and the `problem_type`
(`single_label_classification`, `multi_label_classification`,
`regression`).

`ElectraForTokenClassification`'s head is one linear layer (`classifier`)
on every token's final state: `ElectraTokenClassifier`'s head.
`ElectraForQuestionAnswering`'s is one linear layer with two outputs
(`qa_outputs`: start, end): `ElectraQuestionAnswerer`'s.
"""

import json
import pathlib

import numpy as np

from electra_keras.data import tokenizer as tokenization
from electra_keras.files import atomic_directory
from electra_keras.interop import huggingface
from electra_keras.interop.huggingface import CheckpointFormatError
from electra_keras.interop.tokenizer_files import TokenizerSettings
from electra_keras.interop.tokenizer_files import write_huggingface_tokenizer
from electra_keras.models.encoder import ElectraEncoder
from electra_keras.models.preprocessors import ElectraTextClassifierPreprocessor
from electra_keras.models.task_heads import ElectraQuestionAnswerer
from electra_keras.models.task_heads import ElectraTokenClassifier
from electra_keras.models.text_classifier import ElectraTextClassifier

SEQUENCE_CLASSIFICATION = "ElectraForSequenceClassification"
TOKEN_CLASSIFICATION = "ElectraForTokenClassification"
QUESTION_ANSWERING = "ElectraForQuestionAnswering"
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


def classifier_from_huggingface(folder, sequence_length=128):
    """An `ElectraTextClassifier` with the weights of an `ElectraForSequenceClassification`.

    Returns:
        `(classifier, labels, problem_type)`: labels in logit order (from
        `id2label`).

    Example:
    ```python
    classifier, labels, _ = classifier_from_huggingface("koelectra-nsmc")
    classifier.predict(["재밌어요"])
    ```
    """
    folder = pathlib.Path(folder)
    config, source = _open_task_folder(folder, SEQUENCE_CLASSIFICATION)
    encoder = source.build_pretrainer().discriminator
    labels = _labels(config)
    num_labels = len(labels)
    problem_type = config.get("problem_type") or ("regression" if num_labels == 1 else "single_label_classification")
    tokenizer = tokenization.make_tokenizer(source.vocabulary, **source.tokenizer_kwargs())
    preprocessor = ElectraTextClassifierPreprocessor(
        tokenizer, sequence_length=min(sequence_length, source.model_config.max_position_embeddings)
    )
    dropout = config.get("classifier_dropout")
    classifier = ElectraTextClassifier(
        encoder, num_labels, preprocessor=preprocessor, head_activation="gelu",
        dropout=config.get("hidden_dropout_prob", 0.1) if dropout is None else dropout,
        multi_label=problem_type == "multi_label_classification",
    )
    tensors = huggingface.read_weights(folder)
    for layer, key in ((classifier.head_dense, "classifier.dense"), (classifier.head_logits, "classifier.out_proj")):
        _load_linear(folder, tensors, layer, key)
    return classifier, labels, problem_type


def tagger_from_huggingface(folder):
    """An `ElectraTokenClassifier` with the weights of an `ElectraForTokenClassification`.

    Returns:
        `(tagger, labels, source)`: tag names in logit order (from
        `id2label`), and the `PretrainedSource` (vocabulary, casing).

    Example:
    ```python
    tagger, labels, source = tagger_from_huggingface("koelectra-ner")
    ```
    """
    folder = pathlib.Path(folder)
    config, source = _open_task_folder(folder, TOKEN_CLASSIFICATION)
    labels = _labels(config)
    dropout = config.get("classifier_dropout")
    tagger = ElectraTokenClassifier(
        source.build_pretrainer().discriminator, len(labels),
        dropout=config.get("hidden_dropout_prob", 0.1) if dropout is None else dropout,
    )
    _load_linear(folder, huggingface.read_weights(folder), tagger.get_layer("head_logits"), "classifier")
    return tagger, labels, source


def answerer_from_huggingface(folder):
    """An `ElectraQuestionAnswerer` with the weights of an `ElectraForQuestionAnswering`.

    Returns:
        `(reader, source)`: the model and the `PretrainedSource` (vocabulary, casing).

    Example:
    ```python
    reader, source = answerer_from_huggingface("koelectra-korquad")
    ```
    """
    folder = pathlib.Path(folder)
    config, source = _open_task_folder(folder, QUESTION_ANSWERING)
    reader = ElectraQuestionAnswerer(source.build_pretrainer().discriminator)
    _load_linear(folder, huggingface.read_weights(folder), reader.get_layer("qa_outputs"), "qa_outputs")
    return reader, source


def save_answerer_huggingface(reader, vocabulary, folder, lowercase=False, strip_accents=None,
                              tokenize_chinese_chars=True):
    """Writes an `ElectraQuestionAnswerer` as an `ElectraForQuestionAnswering` folder, atomically.

    Example:
    ```python
    save_answerer_huggingface(reader, vocabulary, "hf/korquad")
    ```
    """
    layer = reader.get_layer("qa_outputs")
    head = huggingface._linear(layer.kernel, layer.bias, "qa_outputs")
    return _write_task_folder(reader.encoder, head, QUESTION_ANSWERING, ["start", "end"], {}, vocabulary, folder,
                              TokenizerSettings.of(lowercase, strip_accents, tokenize_chinese_chars))


def _open_task_folder(folder, architecture):
    """`(config, source)` of a Hugging Face task folder that must be an `architecture`."""
    config = huggingface.read_config(folder)
    if architecture not in (config.get("architectures") or []):
        raise CheckpointFormatError(
            f"{folder / 'config.json'}: architectures {config.get('architectures')} is not {architecture}"
        )
    return config, huggingface.open_huggingface_discriminator(folder)


def _labels(config):
    id2label = config.get("id2label") or {}
    num_labels = config.get("num_labels") or len(id2label) or 2
    return [id2label.get(str(i), id2label.get(i, f"LABEL_{i}")) for i in range(num_labels)]


def _load_linear(folder, tensors, layer, key):
    for name in ("weight", "bias"):
        if f"{key}.{name}" not in tensors:
            raise CheckpointFormatError(f"{folder}: tensor {key}.{name} is missing")
    kernel, bias = tensors[f"{key}.weight"].T, tensors[f"{key}.bias"]
    if kernel.shape != tuple(layer.kernel.shape):
        raise CheckpointFormatError(
            f"{folder}: tensor {key}.weight has shape {tensors[key + '.weight'].shape}, "
            f"the head needs {tuple(layer.kernel.shape)[::-1]}"
        )
    layer.set_weights([kernel, bias])


def save_classifier_huggingface(classifier, vocabulary, folder, labels=None, lowercase=False, strip_accents=None,
                                tokenize_chinese_chars=True):
    """Writes an `ElectraTextClassifier` as an `ElectraForSequenceClassification` folder, atomically.

    `transformers` loads the folder with
    `ElectraForSequenceClassification.from_pretrained`.

    Example:
    ```python
    save_classifier_huggingface(classifier, vocabulary, "hf/sentiment", labels=["neg", "pos"])
    ```
    """
    encoder = classifier.backbone
    if not isinstance(encoder, ElectraEncoder):
        encoder = ElectraEncoder.from_keras_hub_backbone(encoder)
    num_classes = classifier.num_classes
    labels = list(labels) if labels is not None else [f"LABEL_{i}" for i in range(num_classes)]
    if len(labels) != num_classes:
        raise ValueError(f"{len(labels)} labels given for a classifier of {num_classes} outputs")
    head = [
        *huggingface._linear(classifier.head_dense.kernel, classifier.head_dense.bias, "classifier.dense"),
        *huggingface._linear(classifier.head_logits.kernel, classifier.head_logits.bias, "classifier.out_proj"),
    ]
    if num_classes == 1:
        problem_type = "regression"
    elif getattr(classifier, "multi_label", False):
        problem_type = "multi_label_classification"
    else:
        problem_type = "single_label_classification"
    config = {"problem_type": problem_type, "classifier_dropout": classifier.dropout}
    return _write_task_folder(encoder, head, SEQUENCE_CLASSIFICATION, labels, config, vocabulary, folder,
                              TokenizerSettings.of(lowercase, strip_accents, tokenize_chinese_chars))


def save_tagger_huggingface(tagger, vocabulary, folder, labels, lowercase=False, strip_accents=None,
                            tokenize_chinese_chars=True):
    """Writes an `ElectraTokenClassifier` as an `ElectraForTokenClassification` folder, atomically.

    Example:
    ```python
    save_tagger_huggingface(tagger, vocabulary, "hf/ner", labels=["B-PER", "I-PER", "O"])
    ```
    """
    if len(labels) != tagger.num_classes:
        raise ValueError(f"{len(labels)} labels given for a tagger of {tagger.num_classes} outputs")
    logits = tagger.get_layer("head_logits")
    head = huggingface._linear(logits.kernel, logits.bias, "classifier")
    config = {"classifier_dropout": tagger.dropout}
    return _write_task_folder(tagger.encoder, head, TOKEN_CLASSIFICATION, labels, config, vocabulary, folder,
                              TokenizerSettings.of(lowercase, strip_accents, tokenize_chinese_chars))


def _write_task_folder(encoder, head, architecture, labels, extra_config, vocabulary, folder, tokenizer_settings):
    """The encoder and a head's `(variable, key, kind)` entries as a Hugging Face task folder."""
    from safetensors.numpy import save_file

    entries = [
        *huggingface._embedding_map(encoder.embedding, "electra."),
        *huggingface._encoder_map(encoder, "electra."),
        *head,
    ]
    tensors = {
        key: np.ascontiguousarray(huggingface._to_huggingface(np.asarray(variable.numpy(), dtype="float32"), kind))
        for variable, key, kind in entries
    }
    config = {
        **huggingface.encoder_config(encoder),
        "architectures": [architecture],
        "num_labels": len(labels),
        "id2label": {str(i): str(label) for i, label in enumerate(labels)},
        "label2id": {str(label): i for i, label in enumerate(labels)},
        **extra_config,
    }
    folder = pathlib.Path(folder)
    with atomic_directory(folder) as staging:
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
        (staging / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        write_huggingface_tokenizer(staging, vocabulary, tokenizer_settings)
    return folder
