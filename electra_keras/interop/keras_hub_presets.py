"""keras-hub presets: the discriminator out as one, and presets in as a start.

A keras-hub ELECTRA preset holds the discriminator backbone and its
tokenizer only (no generator, no heads). Saving one lets
`keras_hub.models.ElectraBackbone.from_preset(folder)` (and keras-hub's task
models) use what was pretrained here; loading one starts a pretrainer whose
discriminator and shared embeddings come from the preset while the generator
and both heads start fresh.
"""

import dataclasses
import pathlib

import keras_hub

from electra_keras.config import ModelConfig
from electra_keras.files import atomic_directory
from electra_keras.interop.source import Pretrained


def save_keras_hub_preset(pretrainer, vocabulary, folder, lowercase=False):
    """Writes the discriminator and its tokenizer as a keras-hub preset folder.

    Only `hidden_activation: gelu_approximate` converts exactly (keras-hub's
    ELECTRA uses it); other activations are refused. Written to a staging
    folder and renamed into place.

    Example:
    ```python
    save_keras_hub_preset(pretrainer, vocabulary, "presets/my_electra")
    backbone = keras_hub.models.ElectraBackbone.from_preset("presets/my_electra")
    ```
    """
    folder = pathlib.Path(folder)
    backbone = pretrainer.discriminator.to_keras_hub_backbone()
    tokenizer = keras_hub.models.ElectraTokenizer(vocabulary=list(vocabulary), lowercase=lowercase)
    with atomic_directory(folder) as staging:
        backbone.save_to_preset(str(staging))
        tokenizer.save_to_preset(str(staging))
    return folder


def open_keras_hub_preset(folder, defaults=None):
    """The `Pretrained` of a local keras-hub ELECTRA preset (a discriminator only).

    Args:
        folder: the preset folder (`metadata.json`, `config.json`, weights,
            and the tokenizer's assets).
        defaults: `ModelConfig` for what a preset does not store (the
            generator's size); the preset's own dropout is kept.

    Example:
    ```python
    source = open_keras_hub_preset("presets/electra_small")
    encoder = source.build_pretrainer().discriminator
    ```
    """
    folder = pathlib.Path(folder)
    backbone_config = keras_hub.models.ElectraBackbone.from_preset(str(folder), load_weights=False).get_config()
    tokenizer = keras_hub.models.ElectraTokenizer.from_preset(str(folder))
    base = dataclasses.replace(defaults or ModelConfig(), dropout=backbone_config["dropout"])

    def load(pretrainer):
        backbone = keras_hub.models.ElectraBackbone.from_preset(str(folder))
        pretrainer.discriminator.load_keras_hub_backbone(backbone)

    return Pretrained(
        kind="keras_hub",
        paths=(folder,),
        model_config=model_config_from_backbone(backbone_config, base),
        vocabulary=tokenizer.get_vocabulary(),
        lowercase=bool(tokenizer.lowercase),
        loader=load,
        has_generator=False,
    )


def pretrainer_from_keras_hub_preset(folder, generator_size_fraction=0.25, **pretrainer_kwargs):
    """An `ElectraPretrainer` whose discriminator comes from a local keras-hub preset.

    The generator and both heads start fresh.

    Returns:
        `(pretrainer, vocabulary, lowercase)`.

    Example:
    ```python
    pretrainer, vocabulary, lowercase = pretrainer_from_keras_hub_preset("presets/electra_small")
    ```
    """
    source = open_keras_hub_preset(folder, ModelConfig(generator_size_fraction=generator_size_fraction))
    objective_config = pretrainer_kwargs.pop("objective_config", None)
    return source.build_pretrainer(objective_config, **pretrainer_kwargs), source.vocabulary, source.lowercase


def model_config_from_backbone(backbone_config, base):
    """`base` (a `ModelConfig`) with the sizes of an `ElectraBackbone` config.

    Example:
    ```python
    model = model_config_from_backbone(backbone.get_config(), config.model)
    ```
    """
    return dataclasses.replace(
        base,
        vocabulary_size=backbone_config["vocab_size"],
        embedding_size=backbone_config["embedding_dim"],
        hidden_size=backbone_config["hidden_dim"],
        num_layers=backbone_config["num_layers"],
        num_heads=backbone_config["num_heads"],
        intermediate_size=backbone_config["intermediate_dim"],
        max_position_embeddings=backbone_config["max_sequence_length"],
        num_segments=backbone_config["num_segments"],
        hidden_activation="gelu_approximate",  # keras-hub's ELECTRA
    )
