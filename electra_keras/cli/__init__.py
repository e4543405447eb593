"""The command line: argument parsing only; each job is a function of its package.

| command | job |
|---|---|
| `scripts/pretrain.py` (`electra-pretrain`) | `electra_keras.pretraining.job.run_pretraining` |
| `scripts/finetune.py` (`electra-finetune`) | `electra_keras.finetuning.job.run_finetuning` |
| `scripts/export.py` (`electra-export`) | `electra_keras.export.job.export_pretrained` |
| `scripts/build_dataset.py` (`electra-build-dataset`) | `electra_keras.data.builder.build_dataset` |
| `scripts/build_vocab.py` (`electra-build-vocab`) | `electra_keras.data.tokenizer.build_vocabulary` |
| `scripts/predict.py` (`electra-predict`) | `electra_keras.finetuning.predict.predict_file` |

Bad input prints one `error:` line and exits with 2.
"""

import argparse
import os

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
