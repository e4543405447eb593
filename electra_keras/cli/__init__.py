"""The command line: argument parsing only; each job is a function of its package.

| command | job |
|---|---|
| `scripts/pretrain.py` (`electra-pretrain`) | `electra_keras.pretraining.job.run_pretraining` |
| `scripts/finetune.py` (`electra-finetune`) | `electra_keras.finetuning.job.run_finetuning` |
| `scripts/export.py` (`electra-export`) | `electra_keras.export.job.export_pretrained` |
| `scripts/build_dataset.py` (`electra-build-dataset`) | `electra_keras.data.builder.build_dataset` |
| `scripts/build_vocab.py` (`electra-build-vocab`) | `electra_keras.data.tokenizer.build_vocabulary` |
| `scripts/predict.py` (`electra-predict`) | `electra_keras.finetuning.predict.predict_file` |

Bad input prints one `error:` line and exits with 2; a write that fails
(a full disk) prints one `error:` line naming the file and exits with 4.
`--version` (`-V`; `electra-export` has only `-V`, its `--version` is the
export's number) prints the library's version and its main dependencies'.
"""

import argparse
import importlib.metadata
import os
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def positive_int(text):
    """argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def version_text():
    """The library's version and its main dependencies', for `--version` and bug reports.

    Example:
    ```python
    version_text()  # "electra-keras 0.2.0 (tensorflow 2.21.0, ..., Python 3.11.7)"
    ```
    """
    def installed(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    found = ", ".join(f"{name} {installed(name)}" for name in ("tensorflow", "tensorflow-text", "keras", "keras-hub"))
    return f"electra-keras {installed('electra-keras')} ({found}, Python {platform.python_version()})"


def add_version_flags(parser, long_flag=True):
    """`-V` (and `--version` unless the command uses that name) print `version_text()`.

    Example:
    ```python
    parser = argparse.ArgumentParser()
    add_version_flags(parser)
    ```
    """
    flags = ("-V", "--version") if long_flag else ("-V",)
    parser.add_argument(*flags, action="version", version=version_text(), help="print the version and exit")


def input_errors():
    """The exception types that mean bad input (exit 2), not a bug."""
    from electra_keras.config import ConfigError
    from electra_keras.data.corpus import CorpusError
    from electra_keras.data.shard_format import RecordError
    from electra_keras.data.tokenizer import VocabularyError
    from electra_keras.interop.huggingface import CheckpointFormatError
    from electra_keras.interop.tokenizer_files import TokenizerFileError
    from electra_keras.pretraining.distribution import StrategyError
    from electra_keras.runs.checkpoints import CheckpointError
    from electra_keras.runs.run_folder import RunFolderError
    from electra_keras.tasks.formats.labelled_rows import LabelledDataError
    from electra_keras.tasks.formats.squad import SquadDataError

    return (
        ConfigError, CorpusError, LabelledDataError, RecordError, VocabularyError, CheckpointFormatError,
        StrategyError, CheckpointError, RunFolderError, SquadDataError, TokenizerFileError,
    )


WRITE_FAILED = 4  # the exit status of a write that failed (a full disk)


def write_failure(error):
    """The `error:` line for an `OSError` from writing, or None for other errors.

    A `files.WriteFailed` names its file already; any other `OSError` counts
    only when it says the disk is full.

    Example:
    ```python
    except OSError as error:
        message = write_failure(error)
        if message is None:
            raise
        print(message, file=sys.stderr)
    ```
    """
    from electra_keras.files import WriteFailed
    from electra_keras.files import no_room

    if isinstance(error, WriteFailed):
        return f"error: {error}"
    if no_room(error):
        return f"error: the disk is full: {error}"
    return None


class _DiscardWhenClosed:
    """A stdout that, once its reader has gone (a closed pipe), sends the rest to /dev/null."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard()

    def _discard(self):
        # On the file descriptor, so the interpreter's last flush at exit succeeds too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def survive_closed_stdout():
    """Makes progress output to a closed pipe (`train | head`, a dead log reader) vanish instead of failing.

    Python raises `BrokenPipeError` on the first write after the reader
    went away; a long run must keep training, and still save on SIGTERM.

    Example:
    ```python
    def main(argv=None):
        survive_closed_stdout()
        ...
    ```
    """
    if not isinstance(sys.stdout, _DiscardWhenClosed):
        sys.stdout = _DiscardWhenClosed(sys.stdout)
