"""Atomic file writes: a reader sees the old file or the new one, never half."""

import contextlib
import os
import pathlib
import shutil


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it into place on success.

    The temporary name keeps the final suffix (Keras checks `.keras` and
    `.weights.h5`) and starts with a dot; on an exception it is removed.

    Example:
    ```python
    with atomic_path("out/metrics.json") as temporary:
        temporary.write_text("{}")
    ```
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    temporary = path.with_name(f".{stem}.tmp-{os.getpid()}{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def replace_directory(source, target):
    """Renames `source` to `target`, replacing what was there.

    Example:
    ```python
    replace_directory("out/.export-tmp", "out/export")
    ```
    """
    source, target = pathlib.Path(source), pathlib.Path(target)
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.rename(target, old)
        os.rename(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(source, target)


@contextlib.contextmanager
def atomic_directory(path):
    """Yields an empty staging folder beside `path`; renames it into place on success.

    On an exception the staging folder is removed and `path` is untouched.

    Example:
    ```python
    with atomic_directory("out/checkpoint") as staging:
        (staging / "state.json").write_text("{}")
    ```
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        replace_directory(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json_atomic(path, value):
    """Writes JSON to a temporary file beside `path`, then renames it.

    Example:
    ```python
    write_json_atomic("out/metrics.json", {"loss": 1.0})
    ```
    """
    import json

    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")


def save_model_atomic(model, path):
    """Saves a Keras model (`.keras`) beside `path`, then renames it into place.

    Example:
    ```python
    save_model_atomic(pretrainer, "runs/demo/pretrainer.keras")
    ```
    """
    with atomic_path(path) as temporary:
        model.save(temporary)
