"""Atomic file writes: a reader sees the old file or the new one, never half."""

import contextlib
import os
import pathlib


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
