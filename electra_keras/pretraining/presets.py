"""The pretrainer as a keras-hub preset folder, and presets in.

A pretrainer preset is a keras-hub ELECTRA preset with two more files:

| file | what | who reads it |
|---|---|---|
| `config.json`, `model.weights.h5`, `metadata.json` | the discriminator as a `keras_hub.models.ElectraBackbone` | keras-hub, every ELECTRA task |
| `tokenizer.json`, `assets/tokenizer/` | the `ElectraTokenizer` and its vocabulary | keras-hub |
| `preprocessor.json` | the `ElectraPretrainingPreprocessor` | `ElectraPretrainer.from_preset` |
| `task.json`, `task.weights.h5` | the pretrainer's config; the generator and the heads | `ElectraPretrainer.from_preset` |

So `keras_hub.models.ElectraBackbone.from_preset(folder)` loads the
discriminator, `ElectraTextClassifier.from_preset(folder, num_classes=2)`
starts a classifier from it, and `ElectraPretrainer.from_preset(folder)`
continues pretraining. A plain keras-hub preset (no `task.json`) loads as a
pretrainer whose discriminator comes from the preset and whose generator and
heads start fresh.
"""

import dataclasses
import json
import pathlib

import keras
import keras_hub

from electra_keras.files import atomic_directory

TASK_CONFIG = "task.json"
TASK_WEIGHTS = "task.weights.h5"


class PresetError(ValueError):
    """A preset folder that cannot be read as an ELECTRA preset."""


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


def save_preset(pretrainer, folder, preprocessor=None):
    """Writes `pretrainer` as a preset folder (see the module doc), atomically.

    Args:
        pretrainer: an `ElectraPretrainer` whose activation is the
            tanh-approximate gelu (keras-hub's ELECTRA has no other).
        folder: the preset folder; an existing one is replaced.
        preprocessor: the `ElectraPretrainingPreprocessor` to store; default
            the pretrainer's own.

    Example:
    ```python
    save_preset(pretrainer, "presets/my_electra")
    ```
    """
    preprocessor = preprocessor or pretrainer.preprocessor
    if preprocessor is None:
        raise PresetError(
            "a preset stores the tokenizer: build the pretrainer with preprocessor=... "
            "(an ElectraPretrainingPreprocessor) or pass one to save_to_preset"
        )
    backbone = pretrainer.discriminator.to_keras_hub_backbone()
    folder = pathlib.Path(folder)
    with atomic_directory(folder) as staging:
        backbone.save_to_preset(str(staging))
        preprocessor.save_to_preset(str(staging))
        config = keras.saving.serialize_keras_object(pretrainer)
        config.pop("compile_config", None)
        config.pop("build_config", None)
        config["config"].pop("preprocessor", None)  # in preprocessor.json
        (staging / TASK_CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
        keras.saving.save_weights(pretrainer, str(staging / TASK_WEIGHTS), objects_to_skip=_backbone_layers(pretrainer))
    return folder


def load_preset(pretrainer_class, folder, generator_size_fraction=0.25, **kwargs):
    """A pretrainer from a preset folder: all of it, or a keras-hub backbone plus a fresh generator.

    Args:
        pretrainer_class: `ElectraPretrainer`.
        folder: a preset folder.
        generator_size_fraction: the generator's size when the preset holds
            only a discriminator.
        **kwargs: passed to the pretrainer (seed, objective_config...).

    Example:
    ```python
    pretrainer = load_preset(ElectraPretrainer, "presets/my_electra")
    ```
    """
    from electra_keras.config import ModelConfig
    from electra_keras.models.preprocessors import ElectraPretrainingPreprocessor

    folder = pathlib.Path(folder)
    if not (folder / "config.json").is_file():
        raise PresetError(f"{folder}: no config.json; not a keras-hub preset folder")
    preprocessor = ElectraPretrainingPreprocessor.from_preset(str(folder))
    config = _pretrainer_config(folder)
    if config is not None:
        config["config"].update(kwargs, preprocessor=preprocessor)
        pretrainer = keras.saving.deserialize_keras_object(config)
        load_preset_weights(pretrainer, folder)
        return pretrainer
    backbone_config = keras_hub.models.ElectraBackbone.from_preset(str(folder), load_weights=False).get_config()
    base = ModelConfig(generator_size_fraction=generator_size_fraction, dropout=backbone_config["dropout"])
    model_config = model_config_from_backbone(backbone_config, base)
    pretrainer = pretrainer_class(model_config, kwargs.pop("objective_config", None), preprocessor=preprocessor,
                                  **kwargs)
    load_preset_weights(pretrainer, folder)
    return pretrainer


def load_preset_weights(pretrainer, folder):
    """Copies a preset's weights into a pretrainer of its sizes: the
    discriminator from the backbone, the generator and heads from
    `task.weights.h5` when the preset has them."""
    folder = pathlib.Path(folder)
    if preset_holds_generator(folder):
        keras.saving.load_weights(pretrainer, str(folder / TASK_WEIGHTS), objects_to_skip=_backbone_layers(pretrainer))
    backbone = keras_hub.models.ElectraBackbone.from_preset(str(folder))
    pretrainer.discriminator.load_keras_hub_backbone(backbone)


def preset_holds_generator(folder):
    """Whether a preset folder stores a whole pretrainer (its generator too),
    not only a backbone (or a backbone and another task)."""
    return _pretrainer_config(folder) is not None and (pathlib.Path(folder) / TASK_WEIGHTS).is_file()


def _pretrainer_config(folder):
    path = pathlib.Path(folder) / TASK_CONFIG
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    return config if config.get("registered_name") == "electra_keras>ElectraPretrainer" else None


def _backbone_layers(pretrainer):
    # The discriminator and the embedding it shares: stored as the backbone.
    return list(pretrainer.discriminator._flatten_layers())
