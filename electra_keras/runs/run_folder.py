"""`RunFolder`: the one object that knows a pretraining run's folder.

Layout of a run folder:

| path | what |
|---|---|
| `run_state.json` | `running`, then `complete`, `failed` or `interrupted` |
| `config.yaml` | the resolved configuration |
| `vocab.txt` | the vocabulary used |
| `logs/`, `samples.jsonl` | TensorBoard and the text samples |
| `checkpoints/ckpt-<step>/` | resumable checkpoints (`runs.checkpoints`) |
| `pretrainer.keras` | the final pretrainer |
| `metrics.json` | final metrics and every evaluation |
| `export/discriminator/1/` | the discriminator SavedModel |
| `workers/<task>.weights.h5` | a multi-worker run's non-chief weights |
| `.lock` | held (`flock`) by the process training there: its pid, host and start time |

It also holds the rules of a run folder: a folder that is not a run is
never written into; a complete run is never resumed; an unfinished one is
resumed only with the same model, objective, data, batch size, seed and
input files; a folder another live process trains in (it holds `.lock`) is
refused, naming that process. Every file is written atomically, so a crash
leaves the old file or the new one.
"""

import dataclasses
import datetime
import fcntl
import json
import logging
import os
import pathlib
import shutil
import socket

import keras

from electra_keras.config import ElectraConfig
from electra_keras.data.corpus import file_sha256
from electra_keras.data.tokenizer import load_vocabulary
from electra_keras.data.tokenizer import save_vocabulary
from electra_keras.files import atomic_path
from electra_keras.files import save_model_atomic
from electra_keras.files import write_json_atomic
from electra_keras.runs.checkpoints import list_checkpoints

logger = logging.getLogger(__name__)

# Settings that change what the checkpoint or the data position mean. The
# rest (learning rate, steps, strategy, logging...) may change on resume, for
# example to lower the learning rate after a non-finite loss.
RESUME_BREAKING = ("model.", "objective.", "data.", "training.batch_size", "training.seed")
LOCK_NAME = ".lock"


class RunFolderError(ValueError):
    """A folder that cannot be used as (or read as) a run folder."""


class RunFolder:
    """A pretraining run's output folder: its files, its state and its rules.

    Args:
        path: the folder.
        writer: False for a process that must not write there (a non-chief
            worker of a multi-worker run): its writes are refused.

    Example:
    ```python
    run = RunFolder("runs/demo")
    config, vocabulary = run.read_config(), run.read_vocabulary()
    pretrainer = run.load_pretrainer()
    ```
    """

    def __init__(self, path, writer=True):
        self.path = pathlib.Path(path)
        self.writer = writer
        self._lock_file = None

    # --- Paths ---------------------------------------------------------------

    state_path = property(lambda self: self.path / "run_state.json")
    config_path = property(lambda self: self.path / "config.yaml")
    vocabulary_path = property(lambda self: self.path / "vocab.txt")
    logs_dir = property(lambda self: self.path / "logs")
    samples_path = property(lambda self: self.path / "samples.jsonl")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    model_path = property(lambda self: self.path / "pretrainer.keras")
    metrics_path = property(lambda self: self.path / "metrics.json")
    discriminator_export_dir = property(lambda self: self.path / "export" / "discriminator" / "1")

    @staticmethod
    def holds_run(path):
        """Whether `path` is a run folder (its config and vocabulary exist).

        Example:
        ```python
        RunFolder.holds_run("runs/demo")  # True
        ```
        """
        path = pathlib.Path(path)
        return (path / "config.yaml").is_file() and (path / "vocab.txt").is_file()

    # --- Claiming, resuming, state -------------------------------------------

    def claim(self, overwrite, config, inputs):
        """Locks the folder and prepares it for a run; returns the checkpoint to resume, or None.

        `inputs` describes what the run reads (`describe_inputs`); a resumed
        run must read the same. The lock is held until `release()` (or the
        process ends); a second process claiming the folder meanwhile gets a
        `RunFolderError` naming the first.

        Example:
        ```python
        run = RunFolder("runs/demo")
        try:
            resume_from = run.claim(False, config, describe_inputs(["corpus.txt"], None, None))
            ...
        finally:
            run.release()
        ```
        """
        self._check_writer()
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path}: exists and is not a folder")
        if self._contents() and not self.state_path.exists():
            raise RunFolderError(
                f"{self.path}: not an electra_keras run folder (no run_state.json); "
                "refusing to use it, choose another --output"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        if self._contents():
            if not overwrite:
                return self._resumable_checkpoint(self.read_state(), config, inputs)
            self._empty()
        return None

    def release(self):
        """Releases the lock `claim` took (removing `.lock`); a no-op without one."""
        if self._lock_file is None:
            return
        # Removed while still locked: a process waiting on this file sees it
        # was unlinked and opens the new one.
        (self.path / LOCK_NAME).unlink(missing_ok=True)
        self._lock_file.close()
        self._lock_file = None

    def _lock(self):
        if self._lock_file is not None:
            return
        path = self.path / LOCK_NAME
        while True:
            file = open(path, "a+", encoding="utf-8")
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _lock_holder(file)
                file.close()
                raise RunFolderError(
                    f"{self.path}: another run is training there ({holder}; lock file {path}); "
                    "wait for it to end, or choose another --output"
                ) from None
            # The holder may have removed the file between our open and flock.
            if path.exists() and path.stat().st_ino == os.fstat(file.fileno()).st_ino:
                break
            file.close()
        stale = _lock_holder(file)
        if stale != "unknown":
            # flock is released when a process dies: a lock file left behind is a crashed run's.
            logger.warning("%s: taking over the lock of a run that ended without releasing it (%s)", path, stale)
        file.seek(0)
        file.truncate()
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        file.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}))
        file.flush()
        self._lock_file = file

    def _contents(self):
        if not self.path.is_dir():
            return []
        return [child for child in self.path.iterdir() if child.name != LOCK_NAME]

    def _empty(self):
        for child in self._contents():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def read_state(self):
        """The `run_state.json` dict."""
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{self.path}: no run_state.json") from None
        except json.JSONDecodeError as error:
            raise RunFolderError(f"{self.state_path}: not valid JSON ({error})") from None

    def mark(self, status, inputs, **fields):
        """Writes `run_state.json`: `running`, `complete`, `failed` or `interrupted`."""
        self._check_writer()
        state = {"status": status, **fields, "inputs": inputs}
        if status == "running":
            state["pid"] = os.getpid()
        write_json_atomic(self.state_path, state)

    def newest_checkpoint(self):
        """The newest complete checkpoint folder, or None."""
        found = list_checkpoints(self.checkpoints_dir)
        return found[-1][1] if found else None

    def _resumable_checkpoint(self, state, config, inputs):
        status = state.get("status")
        if status == "complete":
            raise RunFolderError(
                f"{self.path}: holds a complete run; choose another --output or pass --overwrite to replace it"
            )
        if self.config_path.exists():
            differences = config_differences(self.read_config(), config)
            breaking = [d for d in differences if d.split(" ")[0].startswith(RESUME_BREAKING)]
            if breaking:
                raise RunFolderError(
                    f"{self.path}: cannot resume, the config differs from the run's config.yaml in "
                    f"{', '.join(breaking)}; pass the same settings, or --overwrite to start over"
                )
            if differences:
                logger.warning("resuming with changed settings: %s", ", ".join(differences))
        previous_inputs = state.get("inputs")
        if previous_inputs is not None:
            previous_data = {k: v for k, v in previous_inputs.items() if k != "vocabulary_sha256"}
            current_data = {k: v for k, v in inputs.items() if k != "vocabulary_sha256"}
            if previous_data != current_data:
                raise RunFolderError(
                    f"{self.path}: cannot resume, the training data differs from the interrupted run's "
                    f"({previous_data} before, {current_data} now); a resumed run must read the same data"
                )
        checkpoint = self.newest_checkpoint()
        if checkpoint is None:
            logger.info("%s: unfinished run without a checkpoint; starting it again", self.path)
            self._empty()
        else:
            logger.info("%s: resuming the unfinished run from %s", self.path, checkpoint.name)
        return checkpoint

    # --- Writing -----------------------------------------------------------

    def write_config(self, config):
        self._check_writer()
        with atomic_path(self.config_path) as temporary:
            temporary.write_text(config.to_yaml(), encoding="utf-8")

    def write_vocabulary(self, vocabulary):
        self._check_writer()
        save_vocabulary(vocabulary, self.vocabulary_path)

    def write_metrics(self, metrics):
        self._check_writer()
        write_json_atomic(self.metrics_path, metrics)

    def save_pretrainer(self, pretrainer):
        self._check_writer()
        save_model_atomic(pretrainer, self.model_path)

    def save_worker_weights(self, pretrainer, task_name):
        """A non-chief worker's final weights, kept to check the replicas agree."""
        with atomic_path(self.path / "workers" / f"{task_name}.weights.h5") as temporary:
            pretrainer.save_weights(temporary)

    def _check_writer(self):
        if not self.writer:
            raise RunFolderError(f"{self.path}: this process is not the run's writer (a non-chief worker)")

    # --- Reading -----------------------------------------------------------

    def read_config(self):
        """The run's `ElectraConfig`."""
        if not self.config_path.exists():
            raise RunFolderError(f"{self.path}: not a pretraining run folder (no config.yaml)")
        return ElectraConfig.from_yaml(self.config_path)

    def read_vocabulary(self):
        """The run's vocabulary, a list of tokens."""
        return load_vocabulary(self.vocabulary_path)

    def weights_path(self, checkpoint=None):
        """The final `pretrainer.keras`, or the weights of `checkpoint`: a
        `checkpoints/ckpt-<step>` folder (or just `ckpt-<step>`), or a
        `.weights.h5` file."""
        if checkpoint is None:
            if not self.model_path.exists():
                raise RunFolderError(
                    f"{self.model_path}: not found (the run did not finish); pass --checkpoint "
                    f"with one of the folders in {self.checkpoints_dir}"
                )
            return self.model_path
        checkpoint = pathlib.Path(checkpoint)
        if not checkpoint.exists() and (self.checkpoints_dir / checkpoint).exists():
            checkpoint = self.checkpoints_dir / checkpoint
        if not checkpoint.exists():
            raise RunFolderError(f"{checkpoint}: checkpoint not found")
        return checkpoint / "model.weights.h5" if checkpoint.is_dir() else checkpoint

    def load_pretrainer(self, checkpoint=None):
        """The trained pretrainer: `pretrainer.keras`, or a checkpoint's weights.

        Example:
        ```python
        pretrainer = RunFolder("runs/demo").load_pretrainer("ckpt-000001000")
        ```
        """
        from electra_keras.data.tokenizer import make_tokenizer
        from electra_keras.pretraining.trainer import build_pretrainer

        weights = self.weights_path(checkpoint)
        if weights.suffix == ".keras":
            return keras.models.load_model(weights)
        config = self.read_config()
        tokenizer = make_tokenizer(self.read_vocabulary(), config.data.lowercase, config.data.strip_accents)
        pretrainer = build_pretrainer(config, tokenizer)
        pretrainer.load_weights(weights)
        return pretrainer


def describe_inputs(corpus_paths, data_dir, vocabulary_path):
    """What a resumed run must read again to continue at the same position.

    Example:
    ```python
    describe_inputs(["corpus.txt"], None, "vocab.txt")  # {"corpus": {...sha256}, ...}
    ```
    """
    if data_dir is not None:
        manifest = pathlib.Path(data_dir) / "manifest.json"
        described = {"data": str(data_dir), "manifest_sha256": file_sha256(manifest) if manifest.exists() else None}
    else:
        described = {"corpus": {str(p): file_sha256(p) for p in corpus_paths if pathlib.Path(p).exists()}}
    if vocabulary_path is not None and pathlib.Path(vocabulary_path).exists():
        described["vocabulary_sha256"] = file_sha256(vocabulary_path)
    return described


def config_differences(saved, current):
    """`"section.key (before, now)"` for each setting that differs.

    Example:
    ```python
    config_differences(run.read_config(), config)  # ["optimizer.learning_rate (0.001 before, 0.0005 now)"]
    ```
    """
    saved, current = dataclasses.asdict(saved), dataclasses.asdict(current)
    return [
        f"{section}.{key} ({saved[section][key]!r} before, {current[section].get(key)!r} now)"
        for section in saved
        for key in saved[section]
        if saved[section][key] != current[section].get(key)
    ]


def _lock_holder(file):
    """The holder a lock file names, in words: "pid 12 on host1, started 2026-...", or "unknown"."""
    file.seek(0)
    try:
        holder = json.loads(file.read())
        return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
    except (ValueError, KeyError, TypeError):
        return "unknown"
