"""Writes a challenge into its folder all at once, and never over another by accident.

``challenge generate`` and ``challenge import`` write into a temporary folder (beside the target,
or in it if it exists) and move ``public/`` and ``private/`` into place at the end, so an interrupted run (Ctrl-C, a
crash) leaves the target as it was; the temporary folder of a killed run (SIGKILL) is removed by
the next run. A folder that holds a challenge is refused unless ``force``, which keeps the old
``private/`` (secret, answer key) as ``private-backup-<UTC time>/``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from challenge.secret import PRIVATE_DIR_MODE

PARTS = ("public", "private")  # what a challenge folder holds; anything else in it is left alone
# Any of these marks a folder as holding a challenge (a half-made one from before this module,
# with a secret but no answer key, counts too: its secret must not be lost either).
CHALLENGE_MARKERS = (
    "private/secret.json",
    "private/answer_key.csv",
    "public/challenge.json",
    "public/train.root",
)
BACKUP_PREFIX = "private-backup-"
PARTIAL_MARKER = ".partial-"  # in the name of the temporary folder beside the target
DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ChallengeExistsError(FileExistsError, ValueError):
    """The target folder holds a challenge and ``force`` was not given; the message names --force."""


def challenge_markers(folder: str | Path) -> list[str]:
    """The files in ``folder`` that show it holds a challenge (empty: it holds none)."""
    folder = Path(folder)
    return [name for name in CHALLENGE_MARKERS if (folder / name).exists()]


def check_target(out_dir: str | Path, *, force: bool = False) -> list[str]:
    """Refuses (ChallengeExistsError) a target that holds a challenge, unless ``force``, or that
    is a file; returns what marks it as a challenge. Cheap: call it before reading any record."""
    out = Path(out_dir)
    found = challenge_markers(out)
    if found and not force:
        raise ChallengeExistsError(
            f"{out_dir} already holds a challenge ({', '.join(found)}): writing a new one would "
            "replace its secret and answer key. Give --force to replace it (its private/ is "
            f"kept as {BACKUP_PREFIX}<UTC time>/ beside the new one), or choose another --out-dir"
        )
    if out.exists() and not out.is_dir():
        raise ChallengeExistsError(f"{out_dir} is a file; --out-dir needs a folder")
    return found


def write_challenge(
    out_dir: str | Path, make: Callable[[Path], dict[str, Path]], *, force: bool = False
) -> dict[str, Path]:
    """Runs ``make(folder)`` on a temporary folder by ``out_dir``, then moves its ``public/``
    and ``private/`` into ``out_dir``; returns ``make``'s paths as they are in ``out_dir``.

    Refuses (ChallengeExistsError, before ``make`` runs) a folder that holds a challenge, unless
    ``force``: then the old ``private/`` becomes ``private-backup-<UTC time>/`` (owner-only) and
    the old ``public/`` is replaced. Other files in ``out_dir`` are left alone. If ``make``
    fails or is interrupted, the temporary folder is removed and ``out_dir`` is untouched.
    """
    out = Path(os.path.abspath(out_dir))
    found = check_target(out_dir, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)
    # Inside an existing out_dir (it may be a mount point: renames stay on its file system),
    # else beside it, to become it in one rename.
    where = out if out.is_dir() else out.parent
    staging = where / f".{out.name}{PARTIAL_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()  # with the umask's mode, as out_dir itself would have
    try:
        written = make(staging)
        with _deferred_signals():
            _move_into_place(staging, out, backup=bool(found))
        return {name: out / Path(path).relative_to(staging) for name, path in written.items()}
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_partials(out: Path) -> list[Path]:
    """Removes the temporary folders in or beside ``out`` that a killed run left (SIGKILL, a lost
    machine: no clean-up ran); a folder whose process still runs is kept. Returns those removed."""
    removed = []
    for path in partial_folders(out):
        pid = path.name.removeprefix(f".{out.name}{PARTIAL_MARKER}").split("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def partial_folders(out: Path) -> list[Path]:
    """The temporary folders of runs that write ``out``, in it or beside it."""
    pattern = f".{out.name}{PARTIAL_MARKER}*"
    inside = sorted(out.glob(pattern)) if out.is_dir() else []
    return inside + sorted(out.parent.glob(pattern))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _move_into_place(staging: Path, out: Path, *, backup: bool) -> None:
    """Renames (no copy) the staged parts into ``out``; the old private/ becomes a backup."""
    if not out.exists():
        os.rename(staging, out)  # the whole folder in one step
        return
    if backup and (out / "private").exists():
        kept = _backup_path(out)
        os.rename(out / "private", kept)
        os.chmod(kept, PRIVATE_DIR_MODE)
    for part in PARTS:
        if (out / part).exists():  # the old public/ goes, with the staging folder
            os.rename(out / part, staging / f"old-{part}")
        if (staging / part).exists():
            os.rename(staging / part, out / part)


def _backup_path(out: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path, n = out / f"{BACKUP_PREFIX}{stamp}", 1
    while path.exists():
        n += 1
        path = out / f"{BACKUP_PREFIX}{stamp}-{n}"
    return path


@contextlib.contextmanager
def _deferred_signals() -> Iterator[None]:
    """Holds back Ctrl-C and SIGTERM for the few renames that put a challenge in place, then
    delivers them, so that no signal lands between two renames."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda s, _: received.append(s)) for sig in DEFERRED_SIGNALS
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(received):
            signal.raise_signal(sig)
