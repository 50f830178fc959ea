"""Reporting checks to the course's site: ``exercises check --report`` puts each check's step
results in an outbox next to the lesson file, then sends every report waiting there.

A report holds the lesson, each step's status, message and time, and the file's sha256, never
the file itself unless the tutors ask for it (the site's settings say so). A learner's line in
a message (``file.py, line 12: `code` ``) is cut to its line number for the same reason. A report
that cannot be sent stays in the outbox (``.exercises-outbox.json``) and goes with the next
report; each carries an id of its own, so that the site records a resent one once.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from exercises.checker import StepResult
from exercises.progress import file_digest, write_json

OUTBOX_FILE = ".exercises-outbox.json"
FORMAT_VERSION = 1
TIMEOUT_S = 10.0  # of each request: a check should not wait long for a site that is down
MAX_REPORTS_PER_REQUEST = 50  # the site's limit
MAX_REQUEST_CHARS = 512 * 1024  # half the site's default limit, for a batch with code in it
# The site's limits on one report: a longer message is cut, a larger file is not sent, so that
# no report is refused for good and left in the outbox.
MAX_MESSAGE_CHARS = 2000
MAX_CODE_CHARS = 200_000
LEARNER_LINE = re.compile(r"(line \d+): `[^`\n]*`")


class ReportError(RuntimeError):
    """The reports could not be sent (site down, token refused); they stay in the outbox."""


@dataclass(frozen=True)
class Sent:
    """What one send did: reports the site took, how many came late, and how many still wait."""

    sent: int
    late: int
    waiting: int
    pseudonym: str | None


def new_report(lesson: int, path: Path, results: Iterable[StepResult], quick: bool) -> dict:
    """The report of one check of ``path`` (not sent yet: ``file`` says which file it was)."""
    return {
        "id": uuid.uuid4().hex,
        "lesson": lesson,
        "file": path.name,
        "file_sha256": file_digest(path),
        "checked_at": datetime.now(timezone.utc)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "quick": quick,
        "steps": [
            {
                "name": r.name,
                "status": r.status,
                "seconds": round(r.seconds, 3),
                "message": _cut(r.message, MAX_MESSAGE_CHARS),
            }
            for r in results
        ],
    }


def waiting(directory: Path) -> list[dict]:
    """The reports in ``directory``'s outbox, oldest first; none when there is no outbox."""
    path = Path(directory) / OUTBOX_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != FORMAT_VERSION or not isinstance(raw.get("reports"), list):
            raise ValueError(f"version {raw.get('version')!r}, expected {FORMAT_VERSION}")
        return raw["reports"]
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise ReportError(
            f"{path} cannot be read ({exc}); delete it (the progress file keeps your results) "
            "and report again"
        ) from None


def keep(directory: Path, reports: list[dict]) -> None:
    """Write the outbox (removed when nothing waits)."""
    path = Path(directory) / OUTBOX_FILE
    if reports:
        write_json(path, {"version": FORMAT_VERSION, "reports": reports})
    else:
        path.unlink(missing_ok=True)


def send(directory: Path, *, url: str, token: str, timeout_s: float = TIMEOUT_S) -> Sent:
    """Send every report waiting in ``directory``'s outbox to the site at ``url``; those the
    site took (or had already) leave the outbox. ReportError says why not, and they stay."""
    import requests

    reports = waiting(directory)
    base = url.rstrip("/") + "/api/course"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    sent = late = 0
    pseudonym = None
    try:
        settings = _answer(session.get(base + "/settings", timeout=timeout_s))
        for batch in _batches([outgoing(r, directory, settings["collect_code"]) for r in reports]):
            body = _answer(
                session.post(base + "/reports", json={"reports": batch}, timeout=timeout_s)
            )
            done = set(body["accepted"]) | set(body["duplicates"])
            reports = [r for r in reports if r["id"] not in done]
            keep(directory, reports)
            sent, late = sent + len(body["accepted"]), late + len(body["late"])
            pseudonym = body["pseudonym"]
    except requests.RequestException as exc:
        raise ReportError(f"could not reach {url} ({_reason(exc)})") from None
    return Sent(sent, late, len(reports), pseudonym)


def outgoing(report: dict, directory: Path, collect_code: bool) -> dict:
    """What the site gets of a report: no file name, the code only when the tutors ask for it
    (and the file is still the one checked), and no line of the learner's code otherwise."""
    out = {k: v for k, v in report.items() if k != "file"}
    path = Path(directory) / report["file"]
    if collect_code and path.is_file() and file_digest(path) == report["file_sha256"]:
        code = path.read_text(encoding="utf-8", errors="replace")
        out |= {"code": code} if len(code) <= MAX_CODE_CHARS else {}
    elif not collect_code:
        out["steps"] = [
            s | {"message": LEARNER_LINE.sub(r"\1", s["message"])} for s in out["steps"]
        ]
    return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _batches(reports: list[dict]) -> Iterator[list[dict]]:
    batch: list[dict] = []
    size = 0
    for report in reports:
        chars = len(json.dumps(report))
        if batch and (len(batch) == MAX_REPORTS_PER_REQUEST or size + chars > MAX_REQUEST_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(report)
        size += chars
    if batch:
        yield batch


def _answer(response) -> dict:
    """The JSON of a 2xx answer; ReportError with the site's own words otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:200] or response.reason}
    if response.ok and isinstance(body, dict):
        return body
    error = body.get("error", body) if isinstance(body, dict) else body
    hint = "; pass --token or set CHALLENGE_TOKEN" if response.status_code == 401 else ""
    raise ReportError(f"the site refused the report ({response.status_code}: {error}{hint})")


def _reason(exc: Exception) -> str:
    """A short reason: the system's words (``[Errno 111] Connection refused``) when urllib3's
    long message holds them, else the kind of failure (``ReadTimeout``)."""
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return found.group(0) if found else type(exc).__name__
