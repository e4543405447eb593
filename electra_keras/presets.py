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
from electra_keras.tokenizer import special_ids_of


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


def pretrainer_from_keras_hub_preset(folder, generator_size_fraction=0.25, **pretrainer_kwargs):
    """An `ElectraPretrainer` whose discriminator comes from a local keras-hub preset.

    Returns:
        `(pretrainer, vocabulary, lowercase)`.

    Example:
    ```python
    pretrainer, vocabulary, lowercase = pretrainer_from_keras_hub_preset("presets/electra_small")
    ```
    """
    from electra_keras.pretrainer import ElectraPretrainer

    folder = str(folder)
    backbone = keras_hub.models.ElectraBackbone.from_preset(folder)
    tokenizer = keras_hub.models.ElectraTokenizer.from_preset(folder)
    config = backbone.get_config()
    model = model_config_from_backbone(
        config, ModelConfig(generator_size_fraction=generator_size_fraction, dropout=config["dropout"])
    )
    vocabulary = tokenizer.get_vocabulary()
    mask_token_id, special_token_ids = special_ids_of(vocabulary)
    pretrainer = ElectraPretrainer(
        model_config=model,
        objective_config=pretrainer_kwargs.pop("objective_config", {}),
        mask_token_id=mask_token_id,
        special_token_ids=special_token_ids,
        **pretrainer_kwargs,
    )
    pretrainer.discriminator.load_keras_hub_backbone(backbone)
    return pretrainer, vocabulary, bool(tokenizer.lowercase)


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
