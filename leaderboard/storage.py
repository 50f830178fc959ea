"""Accepted submission files on disk: gzip-compressed, named by the sha256 of what was uploaded.

A file is written to a temporary name in the same folder and moved into place with
``os.replace``, so a crash leaves either the whole file or none, never half of one.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
PARTIAL_PREFIX = ".incoming-"


class StorageError(OSError):
    """A stored file that is missing or does not match its hash; the message names it."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_path(folder: str | os.PathLike, sha256: str) -> str:
    """Where the file with this hash lives: ``folder/ab/abcdef....csv.gz``."""
    if not SHA256_PATTERN.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return os.path.join(os.fspath(folder), sha256[:2], sha256 + ".csv.gz")


def store(folder: str | os.PathLike, data: bytes) -> str:
    """Keep ``data`` compressed under its sha256 and return the hash; storing twice is a no-op."""
    sha256 = sha256_of(data)
    path = stored_path(folder, sha256)
    if os.path.exists(path):
        return sha256
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=PARTIAL_PREFIX)
    try:
        with os.fdopen(handle, "wb") as raw:
            # mtime=0: the same upload always compresses to the same bytes.
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed:
                compressed.write(data)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return sha256


def load(folder: str | os.PathLike, sha256: str) -> bytes:
    """The bytes that were uploaded, checked against their hash."""
    path = stored_path(folder, sha256)
    try:
        with gzip.open(path, "rb") as compressed:
            data = compressed.read()
    except FileNotFoundError:
        raise StorageError(f"{path}: stored submission file is missing") from None
    except (OSError, EOFError) as err:
        raise StorageError(f"{path}: stored submission file is unreadable ({err})") from None
    if sha256_of(data) != sha256:
        raise StorageError(f"{path}: content does not match its sha256; the file was altered")
    return data


def remove_partial(folder: str | os.PathLike, *, older_than_s: float = 0.0) -> int:
    """Delete temporary files that a killed server left behind; returns how many.

    Only files older than ``older_than_s`` go, so that a server starting beside a running one
    (a new gunicorn worker) leaves that one's uploads in progress alone.
    """
    removed, limit = 0, time.time() - older_than_s
    for path in Path(folder).glob(f"??/{PARTIAL_PREFIX}*"):
        try:
            if path.stat().st_mtime <= limit:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # finished or removed meanwhile
    return removed
