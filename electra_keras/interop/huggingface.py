"""Hugging Face ELECTRA checkpoints in and out of an `ElectraPretrainer`.

A Hugging Face ELECTRA pair is two folders, each with `config.json`, weights
(`model.safetensors`, or `pytorch_model.bin` read with
`torch.load(weights_only=True)`, which refuses arbitrary pickled code) and
`vocab.txt`: the generator (`ElectraForMaskedLM`) and the discriminator
(`ElectraForPreTraining`). Published pairs (Google's, KoELECTRA) were trained
with the official code, whose generator and discriminator share one
embedding block, so the two folders hold the same embeddings; that is
checked, since the pretrainer can only hold one.

Mapping: PyTorch `Linear` weights are `[out, in]`, Keras kernels `[in, out]`;
Keras' attention keeps heads as their own axis (`[hidden, heads, head_dim]`).
Hugging Face's `ElectraForPreTraining` has no pooler; the pretrainer's
(frozen, unused by the objective) keeps its initial weights.

(Over 400 lines: reading, the name map and writing of one format belong
together; task heads are in `huggingface_tasks.py`.)
"""

import dataclasses
import json
import pathlib

import numpy as np

from electra_keras.config import ModelConfig
from electra_keras.files import atomic_directory
from electra_keras.interop.source import Pretrained
from electra_keras.interop.tokenizer_files import TokenizerFileError
from electra_keras.interop.tokenizer_files import TokenizerSettings
from electra_keras.interop.tokenizer_files import read_huggingface_tokenizer
from electra_keras.interop.tokenizer_files import write_huggingface_tokenizer

GENERATOR_ARCHITECTURE = "ElectraForMaskedLM"
DISCRIMINATOR_ARCHITECTURE = "ElectraForPreTraining"
# Models whose encoder is an ELECTRA discriminator: fine-tuning keeps it.
ENCODER_ARCHITECTURES = (
    DISCRIMINATOR_ARCHITECTURE, "ElectraModel", "ElectraForSequenceClassification",
    "ElectraForTokenClassification", "ElectraForQuestionAnswering", "ElectraForMultipleChoice",
)
_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate"}


class CheckpointFormatError(ValueError):
    """A checkpoint that does not match what it claims or what it is loaded into."""


# --- Reading ---------------------------------------------------------------


def read_config(folder):
    """The `config.json` of a Hugging Face model folder, as a dict."""
    path = pathlib.Path(folder) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointFormatError(f"{path}: not found (is {folder} a Hugging Face model folder?)") from None
    except json.JSONDecodeError as error:
        raise CheckpointFormatError(f"{path}: not valid JSON ({error})") from None


def read_weights(folder):
    """`{name: numpy array}` from `model.safetensors` or `pytorch_model.bin`.

    Example:
    ```python
    tensors = read_weights("electra-small-discriminator")
    tensors["electra.embeddings.word_embeddings.weight"].shape  # (30522, 128)
    ```
    """
    folder = pathlib.Path(folder)
    safetensors_path = folder / "model.safetensors"
    if safetensors_path.exists():
        from safetensors.numpy import load_file

        try:
            return load_file(str(safetensors_path))
        except Exception as error:  # safetensors raises its own error types
            raise CheckpointFormatError(f"{safetensors_path}: unreadable ({error})") from None
    torch_path = folder / "pytorch_model.bin"
    if torch_path.exists():
        try:
            import torch
        except ImportError:
            raise CheckpointFormatError(
                f"{torch_path}: reading PyTorch files needs torch (pip install torch), "
                "or convert the folder to model.safetensors"
            ) from None
        try:
            # weights_only: tensors and plain containers, never arbitrary code.
            state = torch.load(str(torch_path), map_location="cpu", weights_only=True)
        except Exception as error:
            raise CheckpointFormatError(f"{torch_path}: refused or unreadable ({error})") from None
        return {name: tensor.float().numpy() for name, tensor in state.items()}
    raise CheckpointFormatError(f"{folder}: no model.safetensors or pytorch_model.bin")


def find_pair(*folders):
    """`(generator_folder, discriminator_folder)` from one or two folders.

    One folder may hold `generator/` and `discriminator/`; two folders are
    told apart by their `config.json` architectures.

    Example:
    ```python
    generator, discriminator = find_pair("koelectra-generator", "koelectra-discriminator")
    ```
    """
    folders = [pathlib.Path(f) for f in folders]
    if len(folders) == 1 and (folders[0] / "generator").is_dir() and (folders[0] / "discriminator").is_dir():
        return folders[0] / "generator", folders[0] / "discriminator"
    if len(folders) != 2:
        raise CheckpointFormatError(
            f"expected a folder with generator/ and discriminator/, or two model folders; got {len(folders)} "
            f"folder(s): {', '.join(map(str, folders))}"
        )
    kinds = {}
    for folder in folders:
        architectures = read_config(folder).get("architectures") or []
        if GENERATOR_ARCHITECTURE in architectures:
            kinds["generator"] = folder
        elif DISCRIMINATOR_ARCHITECTURE in architectures:
            kinds["discriminator"] = folder
        else:
            raise CheckpointFormatError(
                f"{folder / 'config.json'}: architectures {architectures} is neither "
                f"{GENERATOR_ARCHITECTURE} nor {DISCRIMINATOR_ARCHITECTURE}"
            )
    if len(kinds) != 2:
        raise CheckpointFormatError(f"{folders[0]} and {folders[1]} are not a generator and a discriminator")
    return kinds["generator"], kinds["discriminator"]


def model_config_from_huggingface(generator_config, discriminator_config, source="checkpoint"):
    """The `ModelConfig` of a Hugging Face pair; errors name the field.

    Example:
    ```python
    model = model_config_from_huggingface(read_config(g), read_config(d))
    ```
    """
    d, g = discriminator_config, generator_config
    model = model_config_from_discriminator(d, source=source)
    activation = d.get("hidden_act", "gelu")
    if g.get("hidden_act", "gelu") != activation:
        raise CheckpointFormatError(
            f"{source}: generator hidden_act {g.get('hidden_act')!r} differs from the discriminator's {activation!r}"
        )
    _check_encoder_config(g, "generator", source)
    for field in ("vocab_size", "embedding_size", "max_position_embeddings", "type_vocab_size"):
        if g.get(field) != d.get(field):
            raise CheckpointFormatError(
                f"{source}: generator {field} {g.get(field)} differs from the discriminator's {d.get(field)}; "
                "a shared embedding needs them equal"
            )
    model = dataclasses.replace(
        model,
        generator_size_fraction=g["hidden_size"] / d["hidden_size"],
        generator_layers_fraction=g["num_hidden_layers"] / d["num_hidden_layers"],
    )
    derived = {
        "hidden_size": model.generator_hidden_size,
        "num_attention_heads": model.generator_num_heads,
        "intermediate_size": model.generator_intermediate_size,
        "num_hidden_layers": model.generator_num_layers,
    }
    for field, value in derived.items():
        if g[field] != value:
            raise CheckpointFormatError(
                f"{source}: generator {field} {g[field]} is not the discriminator's scaled by "
                f"{model.generator_size_fraction:.4g} ({value}); electra_keras generators scale all sizes alike"
            )
    model.validate()
    return model


def model_config_from_discriminator(config, base=None, source="checkpoint"):
    """The `ModelConfig` of a Hugging Face discriminator (or ELECTRA encoder) config.

    The generator's sizes, which a discriminator does not store, come from
    `base` (default: the paper's quarter-size generator).

    Example:
    ```python
    model = model_config_from_discriminator(read_config("electra-discriminator"))
    ```
    """
    d = config
    activation = d.get("hidden_act", "gelu")
    if activation not in _ACTIVATIONS:
        raise CheckpointFormatError(f"{source}: hidden_act {activation!r} is not one of {sorted(_ACTIVATIONS)}")
    _check_encoder_config(d, "discriminator", source)
    model = dataclasses.replace(
        base or ModelConfig(),
        vocabulary_size=d["vocab_size"],
        embedding_size=d["embedding_size"],
        hidden_size=d["hidden_size"],
        num_layers=d["num_hidden_layers"],
        num_heads=d["num_attention_heads"],
        intermediate_size=d["intermediate_size"],
        max_position_embeddings=d["max_position_embeddings"],
        num_segments=d.get("type_vocab_size", 2),
        dropout=d.get("hidden_dropout_prob", 0.1),
        hidden_activation=_ACTIVATIONS[activation],
        initializer_range=d.get("initializer_range", 0.02),
    )
    model.validate()
    return model


def _check_encoder_config(config, name, source):
    if abs(config.get("layer_norm_eps", 1e-12) - 1e-12) > 1e-15:
        raise CheckpointFormatError(f"{source}: {name} layer_norm_eps {config['layer_norm_eps']} is not 1e-12")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointFormatError(f"{source}: {name} position_embedding_type must be 'absolute'")


# --- The name map ------------------------------------------------------------


def _linear(variable_kernel, variable_bias, key):
    return [(variable_kernel, f"{key}.weight", "linear"), (variable_bias, f"{key}.bias", "copy")]


def _layer_norm(layer, key):
    return [(layer.gamma, f"{key}.weight", "copy"), (layer.beta, f"{key}.bias", "copy")]


def _encoder_map(encoder, prefix):
    entries = []
    if encoder.embeddings_projection is not None:
        projection = encoder.embeddings_projection
        entries += _linear(projection.kernel, projection.bias, f"{prefix}embeddings_project")
    for index, layer in enumerate(encoder.transformer_layers):
        key = f"{prefix}encoder.layer.{index}"
        attention = layer._self_attention_layer
        for name, dense in (("query", attention._query_dense), ("key", attention._key_dense),
                            ("value", attention._value_dense)):
            entries += [
                (dense.kernel, f"{key}.attention.self.{name}.weight", "heads_in"),
                (dense.bias, f"{key}.attention.self.{name}.bias", "copy_reshape"),
            ]
        output = attention._output_dense
        entries += [
            (output.kernel, f"{key}.attention.output.dense.weight", "heads_out"),
            (output.bias, f"{key}.attention.output.dense.bias", "copy"),
        ]
        entries += _layer_norm(layer._self_attention_layer_norm, f"{key}.attention.output.LayerNorm")
        intermediate = layer._feedforward_intermediate_dense
        entries += _linear(intermediate.kernel, intermediate.bias, f"{key}.intermediate.dense")
        output = layer._feedforward_output_dense
        entries += _linear(output.kernel, output.bias, f"{key}.output.dense")
        entries += _layer_norm(layer._feedforward_layer_norm, f"{key}.output.LayerNorm")
    return entries


def _embedding_map(embedding, prefix):
    return [
        (embedding.token_embedding.embeddings, f"{prefix}embeddings.word_embeddings.weight", "copy"),
        (embedding.position_embedding.position_embeddings, f"{prefix}embeddings.position_embeddings.weight", "copy"),
        (embedding.segment_embedding.embeddings, f"{prefix}embeddings.token_type_embeddings.weight", "copy"),
        *_layer_norm(embedding.layer_norm, f"{prefix}embeddings.LayerNorm"),
    ]


def weight_map(pretrainer):
    """`{"generator": [...], "discriminator": [...]}` of (variable, key, kind).

    `kind` says how a Hugging Face tensor becomes the Keras variable.
    """
    head = pretrainer.discriminator_head
    generator_head = pretrainer.generator_head
    discriminator = [
        *_embedding_map(pretrainer.embedding, "electra."),
        *_encoder_map(pretrainer.discriminator, "electra."),
        *_linear(head.dense.kernel, head.dense.bias, "discriminator_predictions.dense"),
        *_linear(head.logits_dense.kernel, head.logits_dense.bias, "discriminator_predictions.dense_prediction"),
    ]
    intermediate = generator_head._intermediate_dense
    generator = [
        *_embedding_map(pretrainer.embedding, "electra."),
        *_encoder_map(pretrainer.generator, "electra."),
        *_linear(intermediate.kernel, intermediate.bias, "generator_predictions.dense"),
        *_layer_norm(generator_head._intermediate_layer_norm, "generator_predictions.LayerNorm"),
        (generator_head._bias, "generator_lm_head.bias", "copy"),
    ]
    return {"generator": generator, "discriminator": discriminator}


def _to_keras(array, kind, shape):
    if kind == "linear":
        array = array.T
    elif kind in ("heads_in", "heads_out"):
        # [heads*dim, hidden] -> [hidden, heads, dim]; [hidden, heads*dim] -> [heads, dim, hidden]
        array = array.T.reshape(shape)
    elif kind == "copy_reshape":
        array = array.reshape(shape)
    return array


def _to_huggingface(array, kind):
    if kind == "linear":
        return array.T
    if kind == "heads_in":
        return array.reshape(array.shape[0], -1).T
    if kind == "heads_out":
        return array.reshape(-1, array.shape[-1]).T
    if kind == "copy_reshape":
        return array.reshape(-1)
    return array


# --- Import ------------------------------------------------------------------


def load_huggingface_weights(pretrainer, generator_folder, discriminator_folder):
    """Copies a Hugging Face pair's weights into a pretrainer of the same shape.

    Raises `CheckpointFormatError` naming the tensor that is missing, has
    the wrong shape, or (embeddings) differs between the two folders.

    Example:
    ```python
    load_huggingface_weights(pretrainer, "electra-generator", "electra-discriminator")
    ```
    """
    folders = {"generator": pathlib.Path(generator_folder), "discriminator": pathlib.Path(discriminator_folder)}
    tensors = {part: read_weights(folder) for part, folder in folders.items()}
    assign_huggingface_tensors(pretrainer, tensors, folders)


def assign_huggingface_tensors(pretrainer, tensors, sources):
    """Assigns `{"generator": {name: array}, "discriminator": {...}}` (Hugging
    Face names and layouts) to a pretrainer; `sources` name them in errors."""
    folders = sources
    assignments = {}
    for part, entries in weight_map(pretrainer).items():
        for variable, key, kind in entries:
            if key not in tensors[part]:
                raise CheckpointFormatError(f"{folders[part]}: tensor {key} is missing")
            value = _to_keras(np.asarray(tensors[part][key], dtype="float32"), kind, tuple(variable.shape))
            if key.startswith("electra.embeddings.") and id(variable) in assignments:
                # The shared embedding, seen again from the generator.
                difference = float(np.max(np.abs(assignments[id(variable)][1] - value)))
                if difference > 1e-6:
                    raise CheckpointFormatError(
                        f"{folders['generator']}: tensor {key} differs from the discriminator's by up to "
                        f"{difference:.3g}; electra_keras shares one embedding block (official "
                        "untied_generator_embeddings=False)"
                    )
                continue
            if value.shape != tuple(variable.shape):
                raise CheckpointFormatError(
                    f"{folders[part]}: tensor {key} has shape {tensors[part][key].shape}, "
                    f"the model needs {tuple(variable.shape)}"
                )
            assignments[id(variable)] = (variable, value)
    lm_weight = tensors["generator"].get("generator_lm_head.weight")
    if lm_weight is not None:
        embeddings = pretrainer.embedding.token_embedding.embeddings
        difference = float(np.max(np.abs(np.asarray(lm_weight) - assignments[id(embeddings)][1])))
        if difference > 1e-6:
            raise CheckpointFormatError(
                f"{folders['generator']}: generator_lm_head.weight is not tied to the word embeddings "
                f"(differs by up to {difference:.3g}); the generator head here is tied"
            )
    for variable, value in assignments.values():
        variable.assign(value)


def open_huggingface(*folders):
    """The `Pretrained` of a Hugging Face pair: sizes, vocabulary and casing read,
    weights read when loaded.

    Example:
    ```python
    source = open_huggingface("koelectra-generator", "koelectra-discriminator")
    pretrainer = source.build_pretrainer()
    ```
    """
    generator_folder, discriminator_folder = find_pair(*folders)
    model_config = model_config_from_huggingface(
        read_config(generator_folder), read_config(discriminator_folder), source=str(discriminator_folder)
    )
    vocabulary, settings = read_vocabulary(discriminator_folder, model_config.vocabulary_size)
    return Pretrained(
        kind="huggingface",
        paths=(generator_folder, discriminator_folder),
        model_config=model_config,
        vocabulary=vocabulary,
        **settings.tokenizer_kwargs(),
        loader=lambda pretrainer: load_huggingface_weights(pretrainer, generator_folder, discriminator_folder),
    )


def holds_discriminator(folder):
    """Whether `folder` is one Hugging Face model whose encoder is an ELECTRA
    discriminator (`ElectraForPreTraining`, `ElectraModel`, `ElectraFor...`)."""
    folder = pathlib.Path(folder)
    if not (folder / "config.json").is_file():
        return False
    return bool(set(read_config(folder).get("architectures") or []) & set(ENCODER_ARCHITECTURES))


def open_huggingface_discriminator(folder, defaults=None):
    """The `Pretrained` of one Hugging Face discriminator (or `ElectraModel`, or
    a fine-tuned `ElectraFor...` whose encoder is kept; its task head is not).

    A pretrainer built from it has the discriminator's weights (and the
    replaced-token head of an `ElectraForPreTraining`); its generator, of
    `defaults.generator_size_fraction`, starts from random weights.

    Example:
    ```python
    source = open_huggingface_discriminator("koelectra-base-v3-discriminator")
    encoder = source.build_pretrainer().discriminator
    ```
    """
    folder = pathlib.Path(folder)
    config = read_config(folder)
    architectures = config.get("architectures") or []
    if not set(architectures) & set(ENCODER_ARCHITECTURES):
        raise CheckpointFormatError(
            f"{folder / 'config.json'}: architectures {architectures} hold no ELECTRA discriminator; "
            f"expected one of {', '.join(ENCODER_ARCHITECTURES)}"
        )
    model_config = model_config_from_discriminator(config, defaults, source=str(folder))
    vocabulary, settings = read_vocabulary(folder, model_config.vocabulary_size)
    return Pretrained(
        kind="huggingface",
        paths=(folder,),
        model_config=model_config,
        vocabulary=vocabulary,
        **settings.tokenizer_kwargs(),
        loader=lambda pretrainer: assign_discriminator_tensors(pretrainer, read_weights(folder), folder),
        has_generator=False,
    )


def assign_discriminator_tensors(pretrainer, tensors, source):
    """Assigns a Hugging Face discriminator's tensors (`electra.`-prefixed, or
    `ElectraModel`'s unprefixed ones) to a pretrainer's discriminator.

    Example:
    ```python
    assign_discriminator_tensors(pretrainer, read_weights("electra-discriminator"), "electra-discriminator")
    ```
    """
    prefix = "electra." if any(key.startswith("electra.") for key in tensors) else ""
    assignments = []
    for variable, key, kind in weight_map(pretrainer)["discriminator"]:
        if key.startswith("discriminator_predictions."):
            if key not in tensors:
                continue  # a fine-tuned model or ElectraModel: the head starts fresh
        else:
            key = prefix + key[len("electra."):]
        if key not in tensors:
            raise CheckpointFormatError(f"{source}: tensor {key} is missing")
        value = _to_keras(np.asarray(tensors[key], dtype="float32"), kind, tuple(variable.shape))
        if value.shape != tuple(variable.shape):
            raise CheckpointFormatError(
                f"{source}: tensor {key} has shape {tensors[key].shape}, the model needs {tuple(variable.shape)}"
            )
        assignments.append((variable, value))
    for variable, value in assignments:
        variable.assign(value)


def pretrainer_from_huggingface(*folders, objective_config=None, **pretrainer_kwargs):
    """An `ElectraPretrainer` and its vocabulary from a Hugging Face pair.

    Args:
        *folders: one folder with `generator/` and `discriminator/`, or the
            two model folders in any order.
        objective_config: optional `ObjectiveConfig` or dict.
        **pretrainer_kwargs: passed to `ElectraPretrainer` (seed, dtype...).

    Returns:
        `(pretrainer, vocabulary, lowercase)`.

    Example:
    ```python
    pretrainer, vocabulary, lowercase = pretrainer_from_huggingface(
        "koelectra-base-v3-generator", "koelectra-base-v3-discriminator"
    )
    ```
    """
    source = open_huggingface(*folders)
    return source.build_pretrainer(objective_config, **pretrainer_kwargs), source.vocabulary, source.lowercase


def read_vocabulary(folder, vocabulary_size):
    """`(tokens, TokenizerSettings)` of a model folder's `vocab.txt` / `tokenizer.json` and tokenizer config.

    Example:
    ```python
    vocabulary, settings = read_vocabulary("koelectra-base-v3-discriminator", 35000)
    ```
    """
    folder = pathlib.Path(folder)
    try:
        vocabulary, settings = read_huggingface_tokenizer(folder)
    except TokenizerFileError as error:
        raise CheckpointFormatError(str(error)) from None
    if len(vocabulary) != vocabulary_size:
        found_in = folder / ("vocab.txt" if (folder / "vocab.txt").is_file() else "tokenizer.json")
        raise CheckpointFormatError(
            f"{found_in}: {len(vocabulary)} tokens, but config.json says vocab_size {vocabulary_size}"
        )
    return vocabulary, settings


# --- Export ------------------------------------------------------------------


def encoder_config(encoder):
    """The `config.json` fields of Hugging Face's ELECTRA for an `ElectraEncoder`.

    Example:
    ```python
    encoder_config(pretrainer.discriminator)["hidden_size"]
    ```
    """
    return {
        "model_type": "electra",
        "vocab_size": encoder.vocabulary_size,
        "embedding_size": encoder.embedding_dim,
        "hidden_size": encoder.hidden_dim,
        "num_hidden_layers": encoder.num_layers,
        "num_attention_heads": encoder.num_heads,
        "intermediate_size": encoder.intermediate_dim,
        "hidden_act": {"gelu": "gelu", "gelu_approximate": "gelu_new"}[encoder.activation],
        "hidden_dropout_prob": encoder.dropout,
        "attention_probs_dropout_prob": encoder.dropout,
        "max_position_embeddings": encoder.max_sequence_length,
        "type_vocab_size": encoder.num_segments,
        "initializer_range": encoder.initializer_range,
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
    }


def _huggingface_config(pretrainer, part):
    generator = part == "generator"
    return {
        "architectures": [GENERATOR_ARCHITECTURE if generator else DISCRIMINATOR_ARCHITECTURE],
        **encoder_config(pretrainer.generator if generator else pretrainer.discriminator),
        "tie_word_embeddings": True,
    }


def save_huggingface(pretrainer, vocabulary, folder, lowercase=False, strip_accents=None, tokenize_chinese_chars=True):
    """Writes `folder/generator` and `folder/discriminator` for `transformers`.

    Each gets `config.json`, `model.safetensors`, `vocab.txt` and
    `tokenizer_config.json`; `ElectraForMaskedLM.from_pretrained` /
    `ElectraForPreTraining.from_pretrained` load them. Written to a staging
    folder and renamed into place. The activation is written as Hugging
    Face names it (`gelu` exact, `gelu_new` tanh-approximate); note that
    transformers' generator head always uses exact gelu.

    Example:
    ```python
    save_huggingface(pretrainer, vocabulary, "runs/demo/huggingface")
    ```
    """
    from safetensors.numpy import save_file

    folder = pathlib.Path(folder)
    with atomic_directory(folder) as staging:
        for part, entries in weight_map(pretrainer).items():
            target = staging / part
            target.mkdir()
            tensors = {
                key: np.ascontiguousarray(_to_huggingface(np.asarray(variable.numpy(), dtype="float32"), kind))
                for variable, key, kind in entries
            }
            if part == "generator":
                tensors["generator_lm_head.weight"] = tensors["electra.embeddings.word_embeddings.weight"]
            save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
            config = _huggingface_config(pretrainer, part)
            (target / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
            write_huggingface_tokenizer(
                target, vocabulary, TokenizerSettings.of(lowercase, strip_accents, tokenize_chinese_chars)
            )
    return folder


__all__ = [
    "CheckpointFormatError",
    "find_pair",
    "load_huggingface_weights",
    "model_config_from_huggingface",
    "open_huggingface",
    "pretrainer_from_huggingface",
    "read_config",
    "read_weights",
    "save_huggingface",
]
