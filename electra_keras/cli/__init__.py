"""The command line: argument parsing only; each job is a function of its package.

| command | job |
|---|---|
| `scripts/pretrain.py` (`electra-pretrain`) | `electra_keras.pretraining.job.run_pretraining` |
| `scripts/finetune.py` (`electra-finetune`) | `electra_keras.finetuning.job.run_finetuning` |
| `scripts/export.py` (`electra-export`) | `electra_keras.export.job.export_pretrained` |
| `scripts/build_dataset.py` (`electra-build-dataset`) | `electra_keras.data.builder.build_dataset` |
| `scripts/build_vocab.py` (`electra-build-vocab`) | `electra_keras.data.tokenizer.build_vocabulary` |
| `scripts/predict.py` (`electra-predict`) | `electra_keras.finetuning.predict.predict_file` |

Bad input prints one `error:` line and exits with 2. `--version` (`-V`;
`electra-export` has only `-V`, its `--version` is the export's number)
prints the library's version and those of its main dependencies.
"""

import argparse
import importlib.metadata
import os
import platform

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
    from electra_keras.data.labelled_rows import LabelledDataError
    from electra_keras.data.shard_format import RecordError
    from electra_keras.data.squad import SquadDataError
    from electra_keras.data.tokenizer import VocabularyError
    from electra_keras.interop.huggingface import CheckpointFormatError
    from electra_keras.interop.tokenizer_files import TokenizerFileError
    from electra_keras.pretraining.distribution import StrategyError
    from electra_keras.runs.checkpoints import CheckpointError
    from electra_keras.runs.run_folder import RunFolderError

    return (
        ConfigError, CorpusError, LabelledDataError, RecordError, VocabularyError, CheckpointFormatError,
        StrategyError, CheckpointError, RunFolderError, SquadDataError, TokenizerFileError,
    )
