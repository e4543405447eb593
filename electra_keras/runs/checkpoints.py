"""Training checkpoints that a run resumes from exactly.

A checkpoint is a folder `ckpt-<step>/` holding `model.weights.h5` (the
weights and the optimizer's slots and step count, hence the learning-rate
schedule's position) and `state.json` (the step, the dropout generators'
states and what the caller adds, such as the input position). The masks and
the Gumbel noise are drawn from stateless seeds folded with the step, so they
need no state of their own. The folder is staged under a hidden name and
renamed into place, so a crash leaves the previous checkpoints untouched and
never a half-written one. A checkpoint damaged after it was written (a bad
disk, a truncated copy) is set aside in `corrupt/` on resume, and the run
resumes from the one before it (`restore_newest`).
"""

import json
import logging
import math
import pathlib
import shutil

import numpy as np

from electra_keras.files import atomic_directory
from electra_keras.files import ensure_room

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_PREFIX = "ckpt-"


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored into the model at hand."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint whose files cannot be read: damaged after it was written."""


def checkpoint_path(directory, step):
    """Where the checkpoint of `step` lives in `directory`.

    Example:
    ```python
    checkpoint_path("runs/demo/checkpoints", 500)  # .../ckpt-000000500
    ```
    """
    return pathlib.Path(directory) / f"{_PREFIX}{step:09d}"


def list_checkpoints(directory):
    """`(step, path)` of the complete checkpoints in `directory`, oldest first.

    Example:
    ```python
    step, newest = list_checkpoints("runs/demo/checkpoints")[-1]
    ```
    """
    found = []
    for path in pathlib.Path(directory).glob(f"{_PREFIX}*"):
        digits = path.name[len(_PREFIX) :]
        if path.is_dir() and digits.isdigit() and (path / "state.json").exists():
            found.append((int(digits), path))
    return sorted(found)


def optimizer_step(model):
    """The optimizer's step count as an int, under any strategy.

    (`int()` of a multi-worker `MirroredVariable` fails; `.numpy()` reads it.)
    """
    return int(model.optimizer.iterations.numpy())


def _seed_generator_states(model):
    # In model order: their names carry global counters that differ between
    # two models built in one process.
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _weights_bytes(model):
    variables = [*model.weights, *(model.optimizer.variables if model.optimizer else [])]
    return sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)


def save_checkpoint(model, directory, step, keep=3, state=None):
    """Writes the checkpoint of `step` atomically and keeps the newest `keep`.

    Args:
        model: a compiled Keras model (its optimizer is saved with it).
        directory: the checkpoints folder.
        step: int, the optimizer step the weights are at.
        keep: int, how many checkpoints to keep (older ones are deleted).
        state: optional JSON-able dict stored in `state.json`.

    Returns:
        The checkpoint folder.

    Example:
    ```python
    save_checkpoint(pretrainer, "runs/demo/checkpoints", 500, state={"batches_consumed": 500})
    ```
    """
    target = checkpoint_path(directory, step)
    pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    # h5py crashes rather than fails when the disk fills during its write: check first.
    ensure_room(target, _weights_bytes(model) * 1.1 + 2**20)
    with atomic_directory(target) as staging:
        model.save_weights(staging / "model.weights.h5")
        record = {
            "format": FORMAT_VERSION,
            "step": int(step),
            # Dropout draws from Keras SeedGenerators whose state is not in
            # the weights file; without them a resumed run would diverge.
            "seed_generators": [np.asarray(v.numpy()).tolist() for v in _seed_generator_states(model)],
            **(state or {}),
        }
        (staging / "state.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    for _, old in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(old)
    return target


def read_checkpoint_state(path):
    """The `state.json` dict of a checkpoint folder."""
    path = pathlib.Path(path)
    try:
        return json.loads((path / "state.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not a checkpoint folder (no state.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptCheckpointError(f"{path / 'state.json'}: not valid JSON ({error})") from None


def restore_checkpoint(model, path):
    """Loads a checkpoint into a compiled model, optimizer state included.

    Returns:
        The checkpoint's `state.json` dict.

    Example:
    ```python
    pretrainer.compile(optimizer=build_optimizer(config.optimizer, num_steps))
    state = restore_checkpoint(pretrainer, "runs/demo/checkpoints/ckpt-000000500")
    ```
    """
    path = pathlib.Path(path)
    state = read_checkpoint_state(path)
    if model.optimizer is None:
        raise CheckpointError(f"{path}: compile the model before restoring a training checkpoint")
    # The weights file holds the optimizer's variables; they load only into
    # an optimizer that has created them.
    if not model.optimizer.built:
        with model.distribute_strategy.scope():
            model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path / "model.weights.h5")
    except OSError as error:
        # h5py's error for a truncated, garbled or missing file.
        raise CorruptCheckpointError(f"{path / 'model.weights.h5'}: cannot be read ({error})") from None
    except ValueError as error:
        raise CheckpointError(f"{path / 'model.weights.h5'}: does not fit this model: {error}") from None
    generators = _seed_generator_states(model)
    saved = state.get("seed_generators", [])
    if len(saved) != len(generators):
        raise CheckpointError(
            f"{path / 'state.json'}: holds {len(saved)} dropout generator states, "
            f"this model has {len(generators)}"
        )
    for variable, value in zip(generators, saved):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    restored_step = optimizer_step(model)
    if restored_step != state["step"]:
        raise CheckpointError(
            f"{path}: optimizer step {restored_step} does not match state.json step {state['step']}"
        )
    return state


def restore_newest(model, directory, set_aside=True):
    """Restores the newest checkpoint of `directory` that can be read; returns `(path, state)`.

    A checkpoint whose files cannot be read is skipped with a warning naming
    it and, with `set_aside`, moved to `directory/corrupt/` (kept to look
    at, never resumed from). A checkpoint that reads but does not fit the
    model is an error, not skipped: the older ones would not fit either.

    Example:
    ```python
    pretrainer.compile(optimizer=build_optimizer(config.optimizer, num_steps))
    path, state = restore_newest(pretrainer, "runs/demo/checkpoints")
    ```
    """
    directory = pathlib.Path(directory)
    for _, path in reversed(list_checkpoints(directory)):
        try:
            return path, restore_checkpoint(model, path)
        except CorruptCheckpointError as error:
            if set_aside:
                (directory / "corrupt").mkdir(exist_ok=True)
                shutil.rmtree(directory / "corrupt" / path.name, ignore_errors=True)
                path.rename(directory / "corrupt" / path.name)
            logger.warning("%s; set aside in %s, resuming from the checkpoint before it", error, directory / "corrupt")
    raise CheckpointError(f"{directory}: no checkpoint could be read; pass --overwrite to start the run over")


def quarantine_checkpoints(directory, first_step):
    """Moves the checkpoints from `first_step` on into `directory/nonfinite/`.

    Their weights gave a non-finite loss: kept for debugging, but never
    resumed from.

    Example:
    ```python
    quarantine_checkpoints("runs/demo/checkpoints", first_step=1499)
    ```
    """
    directory = pathlib.Path(directory)
    quarantine = directory / "nonfinite"
    for step, checkpoint in list_checkpoints(directory):
        if step >= first_step:
            quarantine.mkdir(exist_ok=True)
            shutil.rmtree(quarantine / checkpoint.name, ignore_errors=True)
            checkpoint.rename(quarantine / checkpoint.name)
