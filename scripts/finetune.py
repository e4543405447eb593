"""Fine-tune a pretrained discriminator on labelled rows (classification or regression).

See `python scripts/finetune.py --help` and `electra_keras/cli/finetune.py`.

Example:
    ```
    python scripts/finetune.py --run runs/tiny-20261122-190940 \
        --train train.csv --eval dev.csv --output runs/sentiment
    ```
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from electra_keras.cli.finetune import main as finetune_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(finetune_main())
