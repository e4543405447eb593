"""`--version` on every command: the library's version and its main dependencies'."""

import importlib.metadata

import pytest

import electra_keras
from electra_keras.cli import build
from electra_keras.cli import export
from electra_keras.cli import finetune
from electra_keras.cli import predict
from electra_keras.cli import pretrain

COMMANDS = {
    "electra-pretrain": (pretrain.main, "--version"),
    "electra-finetune": (finetune.main, "--version"),
    "electra-predict": (predict.main, "--version"),
    "electra-build-dataset": (build.build_dataset_main, "--version"),
    "electra-build-vocab": (build.build_vocab_main, "--version"),
    # Its --version is the export's number, so the library's is -V.
    "electra-export": (export.main, "-V"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_version_flag_prints_the_installed_versions_and_exits(command, capsys):
    main, flag = COMMANDS[command]
    with pytest.raises(SystemExit) as exit_info:
        main([flag])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"electra-keras {electra_keras.__version__} (")
    assert f"tensorflow {importlib.metadata.version('tensorflow')}" in printed
    assert f"keras-hub {importlib.metadata.version('keras-hub')}" in printed


def test_the_export_number_keeps_its_flag():
    with pytest.raises(SystemExit) as exit_info:
        export.main(["--run", "somewhere", "--base", "out", "--version", "zero"])
    assert exit_info.value.code == 2  # argparse: --version still wants a positive export number
