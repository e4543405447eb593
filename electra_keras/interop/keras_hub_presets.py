"""keras-hub presets in and out: the `interop` face of `pretraining.presets`.

A preset written here is a keras-hub ELECTRA preset (the discriminator as
`keras_hub.models.ElectraBackbone`, its tokenizer) plus the whole pretrainer
(`task.json`, `task.weights.h5`); a preset from keras-hub holds the
discriminator only, and a pretrainer started from it gets a fresh generator.
"""

import dataclasses
import json
import pathlib

import keras_hub

from electra_keras.config import ModelConfig
from electra_keras.config import ObjectiveConfig
from electra_keras.interop.source import Pretrained
from electra_keras.models.preprocessors import ElectraPretrainingPreprocessor
from electra_keras.pretraining import presets
from electra_keras.pretraining.presets import model_config_from_backbone
from electra_keras.pretraining.trainer import ElectraPretrainer

# The serving length of a preset whose pretrainer did not say.
DEFAULT_SEQUENCE_LENGTH = 128


def save_keras_hub_preset(pretrainer, vocabulary, folder, lowercase=False, sequence_length=None, strip_accents=None,
                          tokenize_chinese_chars=True):
    """Writes a pretrainer and its vocabulary as a preset folder, atomically.

    Only `hidden_activation: gelu_approximate` converts exactly (keras-hub's
    ELECTRA uses it); other activations are refused.

    Example:
    ```python
    save_keras_hub_preset(pretrainer, vocabulary, "presets/my_electra")
    backbone = keras_hub.models.ElectraBackbone.from_preset("presets/my_electra")
    ```
    """
    length = sequence_length or min(DEFAULT_SEQUENCE_LENGTH, pretrainer.model_config.max_position_embeddings)
    preprocessor = ElectraPretrainingPreprocessor.from_vocabulary(
        vocabulary, length, lowercase, strip_accents, tokenize_chinese_chars=tokenize_chinese_chars
    )
    return presets.save_preset(pretrainer, folder, preprocessor)


def open_keras_hub_preset(folder, defaults=None):
    """The `Pretrained` of a local preset folder: a pretrainer's, or keras-hub's (a discriminator only).

    Args:
        folder: the preset folder.
        defaults: `ModelConfig` for what a keras-hub preset does not store
            (the generator's size); the preset's own dropout is kept.

    Example:
    ```python
    source = open_keras_hub_preset("presets/electra_small")
    encoder = source.build_pretrainer().discriminator
    ```
    """
    folder = pathlib.Path(folder)
    preprocessor = ElectraPretrainingPreprocessor.from_preset(str(folder))
    tokenizer = preprocessor.tokenizer
    objective_config = sequence_length = None
    if presets.preset_holds_generator(folder):
        config = json.loads((folder / presets.TASK_CONFIG).read_text(encoding="utf-8"))["config"]
        model_config = ModelConfig(**config["model_config"])
        objective_config = ObjectiveConfig(**config["objective_config"])
        sequence_length = preprocessor.sequence_length
    else:
        backbone_config = keras_hub.models.ElectraBackbone.from_preset(str(folder), load_weights=False).get_config()
        base = dataclasses.replace(defaults or ModelConfig(), dropout=backbone_config["dropout"])
        model_config = model_config_from_backbone(backbone_config, base)
    return Pretrained(
        kind="keras_hub",
        paths=(folder,),
        model_config=model_config,
        vocabulary=tokenizer.get_vocabulary(),
        lowercase=bool(tokenizer.lowercase),
        strip_accents=bool(tokenizer.strip_accents),
        # keras-hub's own tokenizer always splits CJK characters apart.
        tokenize_chinese_chars=bool(getattr(tokenizer, "tokenize_chinese_chars", True)),
        loader=lambda pretrainer: presets.load_preset_weights(pretrainer, folder),
        has_generator=presets.preset_holds_generator(folder),
        objective_config=objective_config,
        sequence_length=sequence_length,
    )


def pretrainer_from_keras_hub_preset(folder, generator_size_fraction=0.25, **pretrainer_kwargs):
    """An `ElectraPretrainer` from a preset folder (`ElectraPretrainer.from_preset`).

    Returns:
        `(pretrainer, vocabulary, lowercase)`.

    Example:
    ```python
    pretrainer, vocabulary, lowercase = pretrainer_from_keras_hub_preset("presets/electra_small")
    ```
    """
    pretrainer = ElectraPretrainer.from_preset(folder, generator_size_fraction, **pretrainer_kwargs)
    tokenizer = pretrainer.preprocessor.tokenizer
    return pretrainer, tokenizer.get_vocabulary(), bool(tokenizer.lowercase)
