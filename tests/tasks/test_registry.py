"""The task registry: every `--task` name gives a complete `Task`, and an unknown name says which exist."""

import pytest

from electra_keras.finetuning.settings import TASKS as SETTINGS_TASKS
from electra_keras.tasks.base import Task
from electra_keras.tasks.registry import TASKS
from electra_keras.tasks.registry import task_named

# What the loop calls that has no default in `Task`.
REQUIRED = ("prepare", "build", "compile_kwargs", "evaluate", "save_huggingface", "export")


@pytest.mark.parametrize("name", list(TASKS))
def test_every_registered_task_fills_in_what_the_loop_calls(name):
    task = task_named(name)
    assert task.name == name
    assert task.selection_metric and task.export_name
    missing = [method for method in REQUIRED if getattr(type(task), method) is getattr(Task, method)]
    assert not missing


def test_the_selection_metrics_are_the_ones_each_task_reported_before():
    assert {name: task_named(name).selection_metric for name in TASKS} == {
        "classification": "accuracy", "regression": "pearson", "multi_label": "macro_f1", "tagging": "f1", "qa": "f1",
    }
    assert SETTINGS_TASKS == tuple(TASKS)


def test_an_unknown_task_names_the_known_ones():
    with pytest.raises(ValueError, match=r"task must be one of classification, .*qa, got 'ner'"):
        task_named("ner")
