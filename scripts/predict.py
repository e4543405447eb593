"""Predict with a fine-tuned classifier (a fine-tuning folder or a SavedModel).

See `python scripts/predict.py --help` and `electra_keras/cli/predict.py`.

Example:
    ```
    python scripts/predict.py --model runs/sentiment --input reviews.csv --output predictions.jsonl
    ```
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from electra_keras.cli.predict import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
