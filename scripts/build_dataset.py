"""See `python scripts/build_dataset.py --help` and `electra_keras/cli/build.py`.

Example:
    ```
    python scripts/build_vocab.py corpus.txt.gz --size 32000 --output vocab.txt
    python scripts/build_dataset.py corpus.txt.gz rows.jsonl --vocab vocab.txt --output data/built
    ```
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from electra_keras.cli.build import build_dataset_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(build_dataset_main())
