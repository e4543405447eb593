"""The export job: a pretrained model to a serving or interchange format.

Example:
```python
from electra_keras.export.job import export_pretrained

export_pretrained(["runs/demo"], "models", format="savedmodel", name="electra")
export_pretrained(["runs/demo"], "hf/demo", format="huggingface")
```
"""

import logging
import pathlib

from electra_keras.export.discriminator import export_discriminator
from electra_keras.export.length_buckets import LengthBuckets
from electra_keras.export.savedmodel import DEFAULT_WARMUP_TEXTS
from electra_keras.export.savedmodel import next_version
from electra_keras.export.text_encoding import ServingTextEncoder
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.pretraining.health import describe_collapse
from electra_keras.pretraining.health import representation_health

logger = logging.getLogger(__name__)

FORMATS = ("savedmodel", "huggingface", "keras-hub")
# The serving length of a checkpoint that does not record its training length.
DEFAULT_SEQUENCE_LENGTH = 128
# Ordinary sentences the exported discriminator's representation health is measured on.
HEALTH_TEXTS = [
    "ELECTRA trains a discriminator to detect replaced tokens.",
    "The committee approved the budget after a long debate on Friday.",
    "She opened the window and the cold air filled the room.",
    "대화 상자에 추가하는 콘트롤의 속성을 설정할 수 있습니다.",
    "서울은 한국의 수도이며 가장 큰 도시입니다.",
    "今天天气很好，我们去公园散步吧。",
    "Prices rose by 3.5% in March, the largest increase this year.",
    "Click the button to save the document in another format.",
]


def warn_if_collapsed(pretrainer, source, sequence_length):
    """Logs a warning with the numbers when the discriminator's token states have collapsed; returns the health.

    Example:
    ```python
    warn_if_collapsed(pretrainer, open_pretrained(["runs/demo"]), 128)
    ```
    """
    encoder = ServingTextEncoder(source.vocabulary, sequence_length, **source.tokenizer_kwargs())
    health = representation_health(pretrainer.discriminator, encoder.encode(HEALTH_TEXTS))
    if health["collapsed"]:
        logger.warning(
            "%s: exporting it anyway; fine-tuning it can give a majority-class model",
            describe_collapse(health, f"the discriminator of {source.describe()}"),
        )
    return health


def export_pretrained(paths, base, format="savedmodel", name="electra", version=None, checkpoint=None,
                      sequence_length=None, length_buckets=None, request_limits=None, fused=True):
    """Writes what `open_pretrained(paths)` finds in `format`; returns the folder.

    Args:
        paths: a run folder (or one of its checkpoints), a Hugging Face pair,
            a keras-hub preset or an official TF1 checkpoint folder.
        base: for `savedmodel`, the model base folder (the discriminator goes
            to `base/name/version`); for `huggingface`, the folder that gets
            `generator/` and `discriminator/`; for `keras-hub`, the preset
            folder.
        format: "savedmodel", "huggingface" or "keras-hub".
        name, version: the TF Serving model name and version (default: the
            next free one).
        checkpoint: a run folder's `ckpt-<step>` instead of its final model.
        sequence_length: the serving length; default the run's, else 128.
        length_buckets: dict of `LengthBuckets` arguments for the
            SavedModel (`widths`, `group_by_length`, `jit_compile`);
            default 8, 16, 24, 32, 48, 64, ... up to the length, each text at its own.
        request_limits: dict of `RequestLimits` arguments for the SavedModel
            (`max_texts`, `max_text_characters`, `max_request_characters`);
            default 64 texts, 10,000 characters each, 100,000 in all.
        fused: bool, serve the SavedModel's model as a `FusedEncoder`
            (default); False runs it through the Keras layers.

    Example:
    ```python
    export_pretrained(["runs/demo"], "models")  # models/electra/1
    ```
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    source = open_pretrained(paths, checkpoint=checkpoint)
    pretrainer = source.build_pretrainer()
    warn_if_collapsed(pretrainer, source, min(64, source.model_config.max_position_embeddings))
    if format == "huggingface":
        from electra_keras.interop.huggingface import save_huggingface

        return save_huggingface(pretrainer, source.vocabulary, base, **source.tokenizer_kwargs())
    if format == "keras-hub":
        from electra_keras.interop.keras_hub_presets import save_keras_hub_preset

        return save_keras_hub_preset(
            pretrainer, source.vocabulary, base, sequence_length=source.sequence_length, **source.tokenizer_kwargs()
        )
    length = sequence_length or source.sequence_length or DEFAULT_SEQUENCE_LENGTH
    length = min(length, source.model_config.max_position_embeddings)
    model_dir = pathlib.Path(base) / name
    return export_discriminator(
        pretrainer,
        model_dir / str(version or next_version(model_dir)),
        vocabulary=source.vocabulary,
        sequence_length=length,
        warmup_texts=DEFAULT_WARMUP_TEXTS,
        **source.tokenizer_kwargs(),
        length_buckets=LengthBuckets(length, **(length_buckets or {})),
        request_limits=request_limits,
        fused=fused,
    )
