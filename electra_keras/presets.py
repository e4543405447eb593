"""keras-hub presets: the discriminator out as one, and presets in as a start.

A keras-hub ELECTRA preset holds the discriminator backbone and its
tokenizer only (no generator, no heads). Saving one lets
`keras_hub.models.ElectraBackbone.from_preset(folder)` (and keras-hub's task
models) use what was pretrained here; loading one starts a pretrainer whose
discriminator and shared embeddings come from the preset while the generator
and both heads start fresh.
"""

import pathlib
import shutil

import keras_hub

from electra_keras.config import ModelConfig
from electra_keras.files import replace_directory


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
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        backbone.save_to_preset(str(staging))
        tokenizer.save_to_preset(str(staging))
        replace_directory(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
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
    model = ModelConfig(
        vocabulary_size=config["vocab_size"],
        embedding_size=config["embedding_dim"],
        hidden_size=config["hidden_dim"],
        num_layers=config["num_layers"],
        num_heads=config["num_heads"],
        intermediate_size=config["intermediate_dim"],
        generator_size_fraction=generator_size_fraction,
        max_position_embeddings=config["max_sequence_length"],
        num_segments=config["num_segments"],
        dropout=config["dropout"],
        hidden_activation="gelu_approximate",
    )
    vocabulary = tokenizer.get_vocabulary()
    index = {token: i for i, token in enumerate(vocabulary)}
    pretrainer = ElectraPretrainer(
        model_config=model,
        objective_config=pretrainer_kwargs.pop("objective_config", {}),
        mask_token_id=index["[MASK]"],
        special_token_ids=[index[t] for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")],
        **pretrainer_kwargs,
    )
    pretrainer.discriminator.load_keras_hub_backbone(backbone)
    return pretrainer, vocabulary, bool(tokenizer.lowercase)
