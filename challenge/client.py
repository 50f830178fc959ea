"""The leaderboard's HTTP API as ``challenge submit`` uses it: upload a file, and wait for the
score of a model, which the server's workers score after the upload (status ``queued`` →
``running`` → ``scored`` or ``failed``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Polling for a model's score: the first look after POLL_FIRST_S, then at most every POLL_MAX_S;
# a worker takes a model within a second and scores the exported baselines in seconds.
POLL_FIRST_S = 0.5
POLL_MAX_S = 2.0
DEFAULT_WAIT_S = 600  # ten times the sandbox's default wall limit, for a queue of several models
WAITING = ("queued", "running")  # a model's status until it is scored or fails
ERROR_CHARS = 300  # of a server's answer that is not JSON, in a message


class LeaderboardError(RuntimeError):
    """The leaderboard refused a request or could not be reached; the message says which."""


class StillWaiting(LeaderboardError):
    """The wait ran out before the model was scored; it stays in the queue."""


class Refused(LeaderboardError):
    """The leaderboard answered that asking again will not help (a 4xx, such as a bad token)."""


RETRY_STATUSES = (408, 429)  # the client errors that a later request may get past


@dataclass(frozen=True)
class Leaderboard:
    """A team's view of one leaderboard: its address and the team token."""

    url: str
    token: str
    timeout_s: float = 120.0  # of one request

    def _endpoint(self) -> str:
        return self.url.rstrip("/") + "/api/submissions"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def upload(self, path: Path, note: str = "") -> tuple[int, dict]:
        """POST the file; returns (201, the scored submission) for a prediction file or
        (202, the queued submission) for a model. Raises LeaderboardError on any other answer."""
        import requests

        try:
            with open(path, "rb") as handle:
                response = requests.post(
                    self._endpoint(),
                    files={"file": (path.name, handle)},
                    data={"note": note},
                    headers=self._headers(),
                    timeout=self.timeout_s,
                )
        except requests.RequestException as err:
            raise LeaderboardError(
                f"could not reach the leaderboard at {self._endpoint()}: {err}"
            ) from None
        body = _json(response)
        if response.status_code not in (201, 202):
            raise LeaderboardError(f"rejected ({response.status_code}): {body.get('error', body)}")
        return response.status_code, body

    def submission(self, submission_id: int) -> dict:
        """The team's submission ``submission_id`` as ``GET /api/submissions`` lists it."""
        import requests

        try:
            response = requests.get(
                self._endpoint(), headers=self._headers(), timeout=self.timeout_s
            )
        except requests.RequestException as err:
            raise LeaderboardError(f"could not reach the leaderboard: {err}") from None
        body = _json(response)
        if response.status_code != 200:
            final = 400 <= response.status_code < 500 and response.status_code not in RETRY_STATUSES
            raise (Refused if final else LeaderboardError)(
                f"listing the submissions failed ({response.status_code}): "
                f"{body.get('error', body)}"
            )
        for item in body.get("submissions", []):
            if item.get("id") == submission_id:
                return item
        raise LeaderboardError(f"the leaderboard lists no submission {submission_id} of this team")

    def wait_for_score(
        self,
        submission_id: int,
        *,
        wait_s: float = DEFAULT_WAIT_S,
        on_status: Callable[[str], None] = lambda status: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict:
        """Poll until the submission is scored or failed; returns its item (``status``,
        ``failure_reason``, ``public_auc``, ``public_auc_ci``). ``on_status`` hears each new status.

        A network error or a server error while waiting is retried until ``wait_s`` runs out,
        then StillWaiting says what was seen last; so is a model still queued or running. A
        refusal (Refused: a token that stopped working, say) ends the wait at once.
        """
        deadline = time.monotonic() + wait_s
        interval, seen, last_error = POLL_FIRST_S, None, None
        while True:
            try:
                item = self.submission(submission_id)
            except Refused:
                raise
            except LeaderboardError as err:
                last_error = err
            else:
                last_error = None
                status = _status(item)
                if status != seen:
                    seen = status
                    on_status(status)
                if status not in WAITING:
                    return {**item, "status": status}
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sleep(min(interval, left))
            interval = min(2 * interval, POLL_MAX_S)
        where = f"still {seen}" if seen else "not seen"
        because = f" (last error: {last_error})" if last_error else ""
        raise StillWaiting(
            f"submission {submission_id} was {where} after {wait_s:g} s{because}; it stays in the "
            "queue: your team page and GET /api/submissions show its status"
        )


def _status(item: dict) -> str:
    """A submission's status; a server older than model submissions lists none, and scores
    every upload at once."""
    if "status" in item:
        return item["status"]
    return "scored" if item.get("public_auc") is not None else "queued"


def _json(response) -> dict:
    """A response's JSON object, or {"error": the start of its text}."""
    try:
        body = response.json()
    except ValueError:
        return {"error": response.text[:ERROR_CHARS]}
    return body if isinstance(body, dict) else {"error": str(body)[:ERROR_CHARS]}
