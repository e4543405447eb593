"""Atomic file writes: a reader sees the old file or the new one, never half."""

import contextlib
import ctypes
import errno
import os
import pathlib
import resource
import shutil
import socket

# Errors that mean "no room": a full disk, a quota, a file-size limit (ulimit -f).
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# How TensorFlow's file writers word the same (their errors carry no errno).
_NO_ROOM_WORDS = ("No space left on device", "Disk quota exceeded", "File too large")


class WriteFailed(OSError):
    """A file or folder could not be written; what was at its path before is unchanged.

    Example:
    ```python
    try:
        write_json_atomic("out/metrics.json", {"loss": 1.0})
    except WriteFailed as error:
        print(f"error: {error}")  # out/metrics.json: could not be written, the disk is full: ...
    ```
    """

    @classmethod
    def about(cls, path, error):
        """The `WriteFailed` for `path`, saying why from `error` (an `OSError` or TensorFlow error)."""
        if not no_room(error):
            reason = "writing failed"
        elif getattr(error, "errno", None) == errno.EFBIG or "File too large" in str(error):
            reason = "a file outgrew the file-size limit (ulimit -f)"
        else:
            reason = "the disk is full"
        failed = cls(f"{path}: could not be written, {reason} ({error}); what was there before is unchanged")
        failed.errno = getattr(error, "errno", None)
        return failed


def ensure_room(path, num_bytes):
    """Raises `WriteFailed` naming `path` before it is written when its disk has under `num_bytes` free.

    Also when the process may not write files of `num_bytes` (`ulimit -f`).
    For writers that crash instead of failing when the disk fills under
    them: h5py (HDF5 1.14) segfaults closing a file whose writes failed.

    Example:
    ```python
    ensure_room("runs/demo/checkpoints/ckpt-000000500", 450 * 2**20)
    ```
    """
    needed = f"about {num_bytes / 2**20:.1f} MiB needed"
    free = shutil.disk_usage(pathlib.Path(path).parent).free
    if free < num_bytes:
        raise WriteFailed.about(path, OSError(errno.ENOSPC, f"{free / 2**20:.1f} MiB free, {needed}"))
    largest = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if largest != resource.RLIM_INFINITY and largest < num_bytes:
        raise WriteFailed.about(path, OSError(errno.EFBIG, f"files of at most {largest / 2**20:.1f} MiB, {needed}"))


def no_room(error):
    """Whether `error` says the disk (or a quota or file-size limit) is full.

    Example:
    ```python
    no_room(OSError(errno.ENOSPC, "No space left on device"))  # True
    ```
    """
    return getattr(error, "errno", None) in _NO_ROOM or any(words in str(error) for words in _NO_ROOM_WORDS)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it into place on success.

    The temporary name keeps the final suffix (Keras checks `.keras` and
    `.weights.h5`) and starts with a dot; on an exception it is removed, and
    an `OSError` (such as a full disk) becomes a `WriteFailed` naming `path`.

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
    except WriteFailed:
        raise
    except OSError as error:
        raise WriteFailed.about(path, error) from error
    finally:
        if temporary.exists():
            temporary.unlink()


def replace_directory(source, target):
    """Renames `source` to `target`, replacing what was there.

    On Linux the two folders are swapped in one step (`renameat2` with
    `RENAME_EXCHANGE`), so a reader, or a process killed meanwhile, sees the
    old folder or the new one, never neither.

    Example:
    ```python
    replace_directory("out/.export-tmp", "out/export")
    ```
    """
    source, target = pathlib.Path(source), pathlib.Path(target)
    if not target.exists():
        os.rename(source, target)
    elif _exchange(source, target):
        shutil.rmtree(source, ignore_errors=True)  # now the old folder
    else:
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.rename(target, old)
        os.rename(source, target)
        shutil.rmtree(old, ignore_errors=True)


def _exchange(first, second):
    """Swaps two paths atomically; False where the system cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_current_directory, rename_exchange = -100, 2
    if renameat2(at_current_directory, os.fsencode(first), at_current_directory, os.fsencode(second),
                 rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # an old kernel, a file system without it
        return False
    raise OSError(code, os.strerror(code), str(second))


def _remove_stale_staging(parent):
    """Removes the staging folders that killed processes of this host left in `parent`."""
    for staging in parent.glob(f".*.tmp-{socket.gethostname()}-*"):
        pid = staging.name.rsplit("-", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_directory(path):
    """Yields an empty staging folder beside `path`; renames it into place on success.

    On an exception the staging folder is removed and `path` is untouched;
    an `OSError` (such as a full disk) becomes a `WriteFailed` naming `path`.
    The staging name starts with a dot and names this host and process;
    staging folders that dead processes of this host left beside `path` are
    removed first.

    Example:
    ```python
    with atomic_directory("out/checkpoint") as staging:
        (staging / "state.json").write_text("{}")
    ```
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Host and pid in the name: a later write here removes what a killed one left.
    _remove_stale_staging(path.parent)
    staging = path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        replace_directory(staging, path)
    except WriteFailed:
        raise
    except OSError as error:
        raise WriteFailed.about(path, error) from error
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
