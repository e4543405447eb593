"""Every fine-tuning task by its `--task` name: a new task is one module in `tasks/` and one line here.

Names only, so that the command line lists them without loading TensorFlow;
`task_named` imports the module and calls its `task(name)`.

Example:
```python
task = task_named("tagging")
task.selection_metric  # "f1"
```
"""

import importlib

# name -> the module of electra_keras.tasks that gives its `Task`.
TASKS = {
    "classification": "classification",
    "regression": "classification",
    "multi_label": "classification",
    "tagging": "tagging",
    "qa": "qa",
}


def task_named(name):
    """The `Task` of a `--task` name.

    Example:
    ```python
    task_named("qa").export_name  # "answerer"
    ```
    """
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return importlib.import_module(f"electra_keras.tasks.{TASKS[name]}").task(name)
