"""Where a learner stands: ``check`` records each lesson's step results in the learner's folder.

The record is a small JSON file, ``.exercises-progress.json``, next to the lesson files, so that
the learner and a tutor looking at the folder see the same thing (``exercises progress DIR``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from exercises.checker import StepResult

PROGRESS_FILE = ".exercises-progress.json"
FORMAT_VERSION = 1


class ProgressError(ValueError):
    """A progress file that cannot be read; the message names it and says what to do."""


@dataclass(frozen=True)
class LessonRecord:
    """The last check of one lesson: which file, when, its content hash, and each step."""

    file: str
    checked_at: str  # ISO 8601, UTC
    sha256: str
    quick: bool
    steps: list[dict]  # {"name", "status": "passed" | "failed" | "skipped" | "not run", "message"}

    @property
    def n_passed(self) -> int:
        return sum(step["status"] == "passed" for step in self.steps)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(directory: str | Path) -> dict[int, LessonRecord]:
    """The records in ``directory``, by lesson number; empty when nothing was checked there."""
    path = Path(directory) / PROGRESS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProgressError(
            f"{path} cannot be read ({exc}); delete it, and `exercises check` writes a new one"
        ) from None
    try:
        if raw.get("version") != FORMAT_VERSION:
            raise ValueError(f"version {raw.get('version')!r}, expected {FORMAT_VERSION}")
        return {int(n): LessonRecord(**record) for n, record in raw["lessons"].items()}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ProgressError(
            f"{path} is not a progress file of this version ({exc}); delete it, and "
            "`exercises check` writes a new one"
        ) from None


def record(
    directory: str | Path, number: int, checked: Path, results: Iterable[StepResult], quick: bool
) -> Path:
    """Store the results of checking ``checked`` for lesson ``number`` in ``directory``.

    A progress file that cannot be read is replaced. The file is written to a temporary name and
    renamed, so a reader never sees half of it.
    """
    directory = Path(directory)
    try:
        lessons = load(directory)
    except ProgressError:
        lessons = {}
    lessons[number] = LessonRecord(
        file=checked.name,
        checked_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        sha256=file_digest(checked),
        quick=quick,
        steps=[{"name": r.name, "status": r.status, "message": r.message} for r in results],
    )
    data = {
        "version": FORMAT_VERSION,
        "lessons": {str(n): asdict(lessons[n]) for n in sorted(lessons)},
    }
    return write_json(directory / PROGRESS_FILE, data)


def write_json(target: Path, data: dict) -> Path:
    """Write ``data`` to a temporary name beside ``target``, then rename it: a reader never sees
    half of it."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, ensure_ascii=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def changed_since(directory: str | Path, lesson_record: LessonRecord) -> bool | None:
    """Whether the checked file changed since the check; None when it is gone."""
    path = Path(directory) / lesson_record.file
    if not path.is_file():
        return None
    return file_digest(path) != lesson_record.sha256
