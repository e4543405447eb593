"""Pretrain ELECTRA; with no arguments, the tiny config on the bundled corpus.

See `python scripts/pretrain.py --help` and `electra_keras/cli/pretrain.py`.

Example:
    ```
    python scripts/pretrain.py --corpus my_corpus.txt --output runs/mine --steps 1000
    ```
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from electra_keras.cli.pretrain import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
