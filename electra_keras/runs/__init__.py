"""What a pretraining run writes, and the callbacks that write it.

- `run_folder.RunFolder`: the run folder's layout, state and rules (claim,
  resume, atomic writes); the training loop asks it for every path.
- `checkpoints`: resumable checkpoint folders (weights, optimizer, dropout
  RNG state, input position).
- `callbacks`: logging, checkpointing, stopping and probing during `fit`.
- `samples`: the human-readable generator/discriminator sample.
- `probe`: a frozen linear probe on a labelled task.

Example:
```python
from electra_keras.runs import RunFolder

pretrainer = RunFolder("runs/demo").load_pretrainer()
```
"""

from electra_keras.runs.checkpoints import CheckpointError
from electra_keras.runs.checkpoints import list_checkpoints
from electra_keras.runs.checkpoints import restore_checkpoint
from electra_keras.runs.checkpoints import save_checkpoint
from electra_keras.runs.run_folder import RunFolder
from electra_keras.runs.run_folder import RunFolderError

__all__ = [
    "CheckpointError",
    "RunFolder",
    "RunFolderError",
    "list_checkpoints",
    "restore_checkpoint",
    "save_checkpoint",
]
