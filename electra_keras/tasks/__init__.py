"""Fine-tuning tasks as plug-ins of the one loop (`finetuning.loop.run_task`).

- `formats/`: the labelled files and their metrics (rows, tagged sentences,
  SQuAD), a layer just above `data`.
- `base.Task`: what a task fills in (read and encode, head, loss, dev
  metric, outputs); `registry.TASKS` names every task.
- `classification` (with `regression` and `multi_label`), `tagging`, `qa`:
  one module per task.

Nothing is imported here, so that the formats load without the models.

Example:
```python
from electra_keras.tasks.registry import task_named

task_named("multi_label").selection_metric  # "macro_f1"
```
"""
