"""`open_pretrained`: the one place that tells what a pretrained folder is.

Pretraining's `--init-from`, fine-tuning and export all start here, so a
format is detected once and every job takes every format:

| kind | what is on disk | what it holds |
|---|---|---|
| `run` | an electra_keras run folder (`config.yaml`, `vocab.txt`), or one of its `checkpoints/ckpt-<step>` | generator and discriminator |
| `huggingface` | a Hugging Face pair: a folder with `generator/` and `discriminator/`, or the two model folders | generator and discriminator |
| `huggingface` | one Hugging Face `ElectraForPreTraining`, `ElectraModel` or fine-tuned `ElectraFor...` folder | the discriminator |
| `keras_hub` | a keras-hub preset folder (`metadata.json`) | the discriminator |
| `huggingface` | a fine-tuned folder (`metrics.json`, `huggingface/`), as `finetuning.loop` writes it | the fine-tuned encoder |
| `official` | an official google-research/electra TF1 checkpoint folder (a `checkpoint` file and `vocab.txt`) | generator and discriminator |

The vocabulary and the casing come with the checkpoint.
"""

import dataclasses
import pathlib

from electra_keras.interop.huggingface import CheckpointFormatError
from electra_keras.interop.huggingface import holds_discriminator
from electra_keras.interop.huggingface import open_huggingface
from electra_keras.interop.huggingface import open_huggingface_discriminator
from electra_keras.interop.keras_hub_presets import open_keras_hub_preset
from electra_keras.interop.official import open_official
from electra_keras.interop.source import Pretrained
from electra_keras.runs.run_folder import RunFolder

EXPECTED = (
    "an electra_keras run folder (config.yaml and vocab.txt) or one of its checkpoints/ckpt-<step>, "
    "a Hugging Face generator+discriminator pair (a folder with generator/ and discriminator/, or the "
    "two model folders) or discriminator alone (ElectraForPreTraining, ElectraModel, ElectraFor...), "
    "a keras-hub preset folder (metadata.json), a fine-tuned folder (metrics.json and huggingface/), "
    "or an official TF1 checkpoint "
    "folder (a checkpoint file and vocab.txt)"
)


def open_pretrained(paths, defaults=None, lowercase=None, checkpoint=None):
    """Detects what `paths` hold and reads their sizes and vocabulary.

    Args:
        paths: one folder (or a list of one or two folders; two only for a
            Hugging Face pair given as its two model folders).
        defaults: `ModelConfig` whose settings fill what a format does not
            store (the generator size of a keras-hub preset).
        lowercase: the casing of an official checkpoint, which does not
            record it; `None` is the official code's default, uncased (True).
            Every other format says its own casing.
        checkpoint: for a run folder, a `ckpt-<step>` (folder name or path)
            instead of its final `pretrainer.keras`.

    Returns:
        A `Pretrained`.

    Raises:
        CheckpointFormatError: the folder is none of the formats; the message
            says what was found and what was expected.

    Example:
    ```python
    source = electra_keras.interop.open_pretrained(["runs/demo"])
    source.kind, source.model_config.hidden_size, len(source.vocabulary)
    pretrainer = source.build_pretrainer()
    ```
    """
    if isinstance(paths, (str, pathlib.Path)):
        paths = [paths]
    folders = [pathlib.Path(p) for p in paths]
    for folder in folders:
        if not folder.exists():
            raise CheckpointFormatError(f"{folder}: not found; expected {EXPECTED}")
    if len(folders) == 2:
        return open_huggingface(*folders)
    if len(folders) != 1:
        raise CheckpointFormatError(f"expected one folder, or two for a Hugging Face pair; got {len(folders)}")
    (folder,) = folders
    if (folder / "state.json").is_file() and (folder / "model.weights.h5").is_file():
        # A checkpoint of a run: RUN/checkpoints/ckpt-<step>.
        return open_run(folder.parent.parent, folder)
    if RunFolder.holds_run(folder):
        return open_run(folder, checkpoint)
    if (folder / "checkpoint").is_file():
        return open_official(folder, lowercase=lowercase)
    if (folder / "metadata.json").is_file():
        return open_keras_hub_preset(folder, defaults)
    if (folder / "metrics.json").is_file() and holds_discriminator(folder / "huggingface"):
        # A fine-tuned folder (every task writes one): its fine-tuned encoder.
        return open_huggingface_discriminator(folder / "huggingface", defaults)
    if (folder / "generator").is_dir() and (folder / "discriminator").is_dir():
        return open_huggingface(folder)
    if holds_discriminator(folder):
        return open_huggingface_discriminator(folder, defaults)
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()) if folder.is_dir() else []
    shown = (", ".join(found[:12]) + (", ..." if len(found) > 12 else "")) if found else "nothing"
    if (folder / "config.json").is_file():
        raise CheckpointFormatError(
            f"{folder}: a Hugging Face folder without an ELECTRA discriminator (found {shown}); pass the "
            f"generator and discriminator folders together. Expected {EXPECTED}"
        )
    raise CheckpointFormatError(f"{folder}: not a pretrained ELECTRA; found {shown}. Expected {EXPECTED}")


def open_run(folder, checkpoint=None):
    """The `Pretrained` of a run folder: its final model, or `checkpoint`'s weights.

    Example:
    ```python
    source = open_run("runs/demo", checkpoint="ckpt-000001000")
    ```
    """
    run = RunFolder(folder)
    if not RunFolder.holds_run(folder):
        raise CheckpointFormatError(f"{folder}: not a run folder (no config.yaml and vocab.txt); expected {EXPECTED}")
    config = run.read_config()
    vocabulary = run.read_vocabulary()
    weights = run.weights_path(checkpoint)
    return Pretrained(
        kind="run",
        paths=(pathlib.Path(folder),) if checkpoint is None else (pathlib.Path(folder), pathlib.Path(checkpoint)),
        model_config=dataclasses.replace(config.model, vocabulary_size=len(vocabulary)),
        vocabulary=vocabulary,
        lowercase=config.data.lowercase,
        strip_accents=config.data.strip_accents,
        loader=lambda pretrainer: pretrainer.load_weights(weights),
        objective_config=config.objective,
        sequence_length=config.data.sequence_length,
    )
