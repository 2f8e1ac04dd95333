"""Folders that two processes, a kill or a full disk cannot corrupt: locks, whole-folder swaps, space errors.

- ``FolderLock``: an exclusive lock on a folder (``fcntl.flock`` on ``<folder>/.asdlib.lock``),
  released by the kernel when its process ends, however it ends; a second process is refused with
  the holder's PID, host and start time.
- ``swapped_folder``: build an output folder under a temporary name beside it and swap it in whole
  when complete, with a ``MANIFEST.json`` (what made it, SHA-256 of the model, every file); a
  folder that is neither empty nor one of ours is never replaced.
- ``write_bytes_atomic``: write a file through a unique temporary name, removed on failure; a
  full disk becomes ``OutOfSpaceError``: one line naming the path, the bytes needed and free.
- ``remove_leftovers``: temporary files and folders of processes that no longer run.

Used by ``train`` (run folders, checkpoints) and ``score --out``. Explained in notebook 03_training.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["OutOfSpaceError", "FolderBusyError", "FolderLock", "swapped_folder", "write_bytes_atomic",
           "remove_leftovers", "pid_alive", "MANIFEST", "LOCK_NAME"]

#: The lock file inside a locked folder.
LOCK_NAME = ".asdlib.lock"
#: The manifest of a folder written by ``swapped_folder``.
MANIFEST = "MANIFEST.json"
#: errno values that mean "no room to write" (a full disk, a quota, a file-size limit).
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: Temporary names made here carry the writing host and process: ``.<name>.<host>-<pid>.<random>.tmp``
#: (a folder on a shared disk may hold those of live processes on other hosts: never removed).
_TMP_RE = re.compile(r"^\..+\.([A-Za-z0-9_-]+)-(\d+)\.[0-9a-f]{12}\.(tmp|partial|old)$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


class OutOfSpaceError(OSError):
    """No room on the disk for a file: one line naming the path, the bytes needed and the bytes free. Notebook 03."""


class FolderBusyError(ValueError):
    """A folder another running process holds (two trainings on one run folder). Notebook 03."""


def pid_alive(pid: int) -> bool:
    """True when a process with this PID runs on this machine. Notebook 03."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _mb(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 1e6:.1f} MB"


def out_of_space(path: Path, needed: int | None, error: OSError) -> OutOfSpaceError:
    """The one-line error for a write that found no room. Notebook 03."""
    free = _free_bytes(path.parent if not path.is_dir() else path)
    return OutOfSpaceError(error.errno, f"{path}: no space left to write it ({_mb(needed)} needed, "
                           f"{_mb(free)} free there; {os.strerror(error.errno)}); free some space "
                           "and rerun")


def _tmp_name(target: Path, kind: str = "tmp") -> Path:
    return target.with_name(f".{target.name}.{_host()}-{os.getpid()}.{uuid.uuid4().hex[:12]}.{kind}")


def write_bytes_atomic(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write bytes to ``path`` through a unique temporary file and a rename; the temporary file never outlives a failure. Notebook 03."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in NO_SPACE:
            raise out_of_space(path, len(data), e) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders (ours: ``.<name>.<host>-<pid>.<hex>.tmp|partial|old``) of this host's processes that no longer run; the paths removed. Notebook 03."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _TMP_RE.match(p.name)
        if m is None or m.group(1) != _host() or pid_alive(int(m.group(2))):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


#: The descriptors of the locks this process holds (also of lock objects no longer referenced:
#: a lock taken for the life of the process stays held): a forked child closes its copies at once.
_HELD_FDS: set[int] = set()


def _drop_inherited_locks() -> None:
    """In a forked child: close the inherited descriptors of the parent's locks, without unlocking.

    ``flock`` belongs to the open file, which a fork shares: a training run's DataLoader workers
    would otherwise keep its run folder locked after the run is killed, until they notice that
    their parent is gone (up to 5 s), and a rerun started at once was refused, naming a dead
    process. Closing a copy does not release the parent's lock; ``LOCK_UN`` here would.
    """
    for fd in _HELD_FDS:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_FDS.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


class FolderLock:
    """An exclusive lock on a folder for the life of a process (or a ``with`` block). Notebook 03.

    ``FolderLock(folder).acquire()`` raises ``FolderBusyError`` naming the holder (PID, host,
    since when) when another process holds it. The kernel releases it when the holder ends, even
    when killed, so a stale lock cannot block a rerun; forked children (DataLoader workers) do not
    keep it (``_drop_inherited_locks``). The lock file stays in the folder.
    """

    def __init__(self, folder: str | os.PathLike, what: str = "folder"):
        self.folder, self.what = Path(folder), what
        self._fd: int | None = None

    def acquire(self) -> "FolderLock":
        """Take the lock, or raise ``FolderBusyError`` naming the process that holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            try:
                info = json.loads(holder)
                who = (f"process {info['pid']} on {info['host']} since "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['since']))}")
            except (ValueError, KeyError, TypeError):
                who = "another process"
            raise FolderBusyError(f"{self.what} {self.folder} is in use by {who}; wait for it to "
                                  "finish, stop it, or choose another folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": time.time()}).encode(), 0)
        self._fd, self._pid = fd, os.getpid()
        _HELD_FDS.add(fd)
        return self

    def release(self) -> None:
        """Give the lock back (the kernel also does when the process ends)."""
        if self._fd is not None and self._pid == os.getpid():  # a forked child holds nothing
            _HELD_FDS.discard(self._fd)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "asdlib_output" in data else None


def _listing(folder: Path) -> list[dict]:
    return [{"path": str(p.relative_to(folder)), "bytes": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if p.is_file()]


@contextmanager
def swapped_folder(out: str | os.PathLike, kind: str, *, known: Callable[[str], bool] = lambda name: False,
                   describe: dict | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out``; when the block succeeds it becomes ``out`` whole, with a ``MANIFEST.json``. Notebook 04.

    ``kind`` names what the folder holds (``"score"``); ``describe`` (the model's SHA-256, the data)
    goes into the manifest with the list of files. An existing ``out`` is replaced only when it is
    empty, holds our manifest of the same kind, or holds only names ``known`` accepts (a folder
    of an older asdlib); anything else is refused before any work. The temporary folder is made first
    (so an unwritable place fails at once) and removed when the block fails; an old folder is
    removed only after the new one is in place, and leftovers of killed processes at the next call.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"--out {out} is a file, not a folder")
        names = {p.name for p in out.iterdir()}
        mine = _manifest(out)
        if names and not (mine is not None and mine["asdlib_output"] == kind) and not all(map(known, names)):
            raise FileExistsError(f"--out {out} holds files that are not an asdlib {kind} folder "
                                  f"({', '.join(sorted(names)[:4])}{', ...' if len(names) > 4 else ''}); "
                                  "choose an empty or new folder")
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(parent)
    tmp = _tmp_name(out, "partial")
    try:
        tmp.mkdir()
    except OSError as e:
        if e.errno in NO_SPACE:
            raise out_of_space(tmp, None, e) from None
        raise OSError(e.errno, f"--out {out}: cannot create a folder in {parent} ({e.strerror})") from None
    try:
        yield tmp
        manifest = {"asdlib_output": kind, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    **(describe or {}), "files": _listing(tmp)}
        write_bytes_atomic(tmp / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
        old = None
        if out.exists():
            old = _tmp_name(out, "old")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
