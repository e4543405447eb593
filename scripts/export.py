"""Export a trained discriminator for TF Serving (BASE/NAME/VERSION).

See `python scripts/export.py --help` and `electra_keras/cli/export.py`.

Example:
    ```
    python scripts/export.py --run runs/tiny-20261122-190940 --base models --name electra
    ```
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from electra_keras.cli.export import main as export_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(export_main())
