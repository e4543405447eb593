"""Checkpoints of the official google-research/electra code (TensorFlow 1).

Their variables are named like `electra/encoder/layer_0/attention/self/query/kernel`
(the discriminator), `generator/encoder/...` (the generator, which reads the
shared `electra/embeddings/...`), `discriminator_predictions/dense_1/kernel`
and `generator_predictions/output_bias`; optimizer slots (`adam_m`, `adam_v`)
and `global_step` sit beside them and are ignored. Kernels are `[in, out]`.

The official code stores no model config: sizes are read from the tensor
shapes, and the number of attention heads, which shapes cannot show, is the
official rule `max(1, hidden_size // 64)` unless given.
"""

import pathlib
import re

import tensorflow as tf

from electra_keras.config import ModelConfig
from electra_keras.data.tokenizer import load_vocabulary
from electra_keras.interop.huggingface import CheckpointFormatError
from electra_keras.interop.huggingface import assign_huggingface_tensors
from electra_keras.interop.source import Pretrained
from electra_keras.interop.tokenizer_files import TokenizerSettings
from electra_keras.interop.tokenizer_files import read_tokenizer_config

_SKIPPED = re.compile(r"(adam_m|adam_v|global_step|beta1_power|beta2_power)$")


def _huggingface_name(name):
    """Official variable name -> (part, Hugging Face name), or None."""
    if name.startswith("electra/embeddings/"):
        part, rest = "shared", name[len("electra/"):]
    elif name.startswith("electra/"):
        part, rest = "discriminator", name[len("electra/"):]
    elif name.startswith("generator/"):
        part, rest = "generator", name[len("generator/"):]
    elif name.startswith("discriminator_predictions/"):
        part, rest = "discriminator_head", name
    elif name.startswith("generator_predictions/"):
        part, rest = "generator_head", name
    else:
        return None
    rest = rest.replace("/dense_1/", "/dense_prediction/")
    rest = rest.replace("layer_", "layer.")
    if rest == "generator_predictions/output_bias":
        return part, "generator_lm_head.bias"
    pieces = rest.split("/")
    if pieces[-1] in ("kernel", "gamma"):
        pieces[-1] = "weight"
    elif pieces[-1] == "beta":
        pieces[-1] = "bias"
    elif pieces[0] == "embeddings" and len(pieces) == 2:
        pieces.append("weight")  # electra/embeddings/word_embeddings
    joined = ".".join(pieces)
    if part in ("shared", "discriminator", "generator"):
        joined = "electra." + joined
    return part, joined


def read_official_checkpoint(path):
    """`({"generator": ..., "discriminator": ...}, shapes)` in Hugging Face names.

    `path` is a checkpoint prefix (`.../model.ckpt-1000000`) or a folder
    holding a `checkpoint` file.
    """
    path = pathlib.Path(path)
    try:
        reader = tf.train.load_checkpoint(str(path))
    except (tf.errors.NotFoundError, ValueError) as error:
        raise CheckpointFormatError(f"{path}: not a TensorFlow checkpoint ({error})") from None
    tensors = {"generator": {}, "discriminator": {}}
    for name in sorted(reader.get_variable_to_shape_map()):
        if _SKIPPED.search(name):
            continue
        mapped = _huggingface_name(name)
        if mapped is None:
            continue
        part, key = mapped
        value = reader.get_tensor(name).astype("float32")
        embedding_table = key.startswith("electra.embeddings.") and key.endswith("_embeddings.weight")
        if key.endswith(".weight") and value.ndim == 2 and not embedding_table:
            value = value.T  # Hugging Face Linear: [out, in]
        if part == "shared":
            tensors["generator"][key] = tensors["discriminator"][key] = value
        elif part in ("discriminator", "discriminator_head"):
            tensors["discriminator"][key] = value
        else:
            tensors["generator"][key] = value
    if "electra.embeddings.word_embeddings.weight" not in tensors["discriminator"]:
        raise CheckpointFormatError(f"{path}: no electra/embeddings/word_embeddings: not an ELECTRA checkpoint")
    if not any(k.startswith("generator_predictions") for k in tensors["generator"]):
        raise CheckpointFormatError(f"{path}: no generator_predictions/*: a discriminator-only checkpoint")
    # Official generators read the shared embeddings and tie the output.
    tensors["generator"]["generator_lm_head.weight"] = tensors["generator"]["electra.embeddings.word_embeddings.weight"]
    return tensors


def model_config_from_official(tensors, num_heads=None, generator_num_heads=None, hidden_activation="gelu_approximate"):
    """The `ModelConfig` implied by an official checkpoint's tensor shapes."""
    d, g = tensors["discriminator"], tensors["generator"]
    vocabulary_size, embedding_size = d["electra.embeddings.word_embeddings.weight"].shape

    def sizes(part):
        hidden = part["electra.encoder.layer.0.attention.self.query.weight"].shape[0]
        intermediate = part["electra.encoder.layer.0.intermediate.dense.weight"].shape[0]
        layers = len({k.split(".")[3] for k in part if k.startswith("electra.encoder.layer.")})
        return hidden, intermediate, layers

    hidden, intermediate, layers = sizes(d)
    generator_hidden, generator_intermediate, generator_layers = sizes(g)
    num_heads = num_heads or max(1, hidden // 64)
    fraction = generator_hidden / hidden
    model = ModelConfig(
        vocabulary_size=int(vocabulary_size),
        embedding_size=int(embedding_size),
        hidden_size=int(hidden),
        num_layers=layers,
        num_heads=num_heads,
        intermediate_size=int(intermediate),
        generator_size_fraction=fraction,
        generator_layers_fraction=generator_layers / layers,
        max_position_embeddings=int(d["electra.embeddings.position_embeddings.weight"].shape[0]),
        num_segments=int(d["electra.embeddings.token_type_embeddings.weight"].shape[0]),
        hidden_activation=hidden_activation,
    )
    expected_heads = generator_num_heads or max(1, generator_hidden // 64)
    if model.generator_num_heads != expected_heads or model.generator_intermediate_size != generator_intermediate:
        raise CheckpointFormatError(
            f"generator of hidden {generator_hidden}, FFN {generator_intermediate}, {expected_heads} heads is not "
            f"the discriminator scaled by {fraction:.4g}; electra_keras generators scale all sizes alike"
        )
    model.validate()
    return model


def open_official(path, vocabulary=None, lowercase=None, num_heads=None, generator_num_heads=None,
                  hidden_activation="gelu_approximate"):
    """The `Pretrained` of an official TF1 checkpoint.

    Args:
        path: a checkpoint prefix (`.../model.ckpt-1000000`) or a folder
            holding a `checkpoint` file.
        vocabulary: a list of tokens; default the folder's `vocab.txt`.
        lowercase: the casing, which an official checkpoint does not record.
            `None`: a `tokenizer_config.json` beside the checkpoint says
            (Hugging Face's keys: `do_lower_case`, `strip_accents`,
            `tokenize_chinese_chars`), else the official code's default,
            `do_lower_case=True` (lower-cased, accents stripped).
        num_heads, generator_num_heads: attention heads, which shapes cannot
            show (default: the official rule, hidden size // 64).
        hidden_activation: the official code uses the tanh-approximate gelu.

    Example:
    ```python
    source = open_official("electra_small", lowercase=True)
    pretrainer = source.build_pretrainer()
    ```
    """
    path = pathlib.Path(path)
    folder = path if path.is_dir() else path.parent
    settings = TokenizerSettings(lowercase=True, strip_accents=True)
    if lowercase is not None:
        settings = TokenizerSettings.of(lowercase)  # BERT's FullTokenizer: accents go with the case
    elif (folder / "tokenizer_config.json").is_file():
        settings = read_tokenizer_config(folder / "tokenizer_config.json")
    if vocabulary is None:
        vocabulary = load_vocabulary(folder / "vocab.txt")
    tensors = read_official_checkpoint(path)
    model = model_config_from_official(tensors, num_heads, generator_num_heads, hidden_activation)
    if len(vocabulary) != model.vocabulary_size:
        raise CheckpointFormatError(
            f"{path}: word_embeddings has {model.vocabulary_size} rows but the vocabulary has {len(vocabulary)} tokens"
        )
    return Pretrained(
        kind="official",
        paths=(path,),
        model_config=model,
        vocabulary=list(vocabulary),
        **settings.tokenizer_kwargs(),
        loader=lambda pretrainer: assign_official_tensors(pretrainer, tensors, path),
    )


def pretrainer_from_official(
    path, vocabulary, num_heads=None, generator_num_heads=None, hidden_activation="gelu_approximate",
    **pretrainer_kwargs,
):
    """An `ElectraPretrainer` with an official TF1 checkpoint's weights.

    Example:
    ```python
    vocabulary = electra_keras.data.load_vocabulary("vocab.txt")
    pretrainer = pretrainer_from_official("electra_small/model.ckpt-1000000", vocabulary)
    ```
    """
    source = open_official(
        path, vocabulary, num_heads=num_heads, generator_num_heads=generator_num_heads,
        hidden_activation=hidden_activation,
    )
    return source.build_pretrainer(pretrainer_kwargs.pop("objective_config", None), **pretrainer_kwargs)


def assign_official_tensors(pretrainer, tensors, path):
    """Assigns `read_official_checkpoint(path)`'s tensors to a pretrainer of that shape.

    Example:
    ```python
    assign_official_tensors(pretrainer, read_official_checkpoint(path), path)
    ```
    """
    source = pathlib.Path(path)
    assign_huggingface_tensors(pretrainer, tensors, {"generator": source, "discriminator": source})
