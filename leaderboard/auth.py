"""Who is asking: team tokens (bearer header or session), the organizer token, and the throttling
of clients that keep guessing tokens."""

from __future__ import annotations

from datetime import datetime

from flask import abort, current_app, g, request, session
from werkzeug.exceptions import TooManyRequests

from leaderboard import queries
from leaderboard.db import session_scope
from leaderboard.models import Team


def now() -> datetime:
    return current_app.config["NOW"]()


def client_address() -> str:
    return (request.remote_addr or "unknown")[:64]


def check_throttle() -> None:
    """Answer 429 with Retry-After when this client has sent too many bad tokens lately."""
    with session_scope() as db:
        state = queries.throttle_state(
            db,
            client_address(),
            now=now(),
            limit=current_app.config["BAD_TOKEN_LIMIT"],
            window_s=current_app.config["BAD_TOKEN_WINDOW_S"],
        )
    if state.blocked:
        error = TooManyRequests(
            f"too many wrong tokens from this address; try again in {state.retry_after_s} s"
        )
        error.retry_after = state.retry_after_s
        raise error


def record_bad_token() -> None:
    with session_scope(write=True) as db:
        queries.record_bad_token(
            db, client_address(), now=now(), window_s=current_app.config["BAD_TOKEN_WINDOW_S"]
        )


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def team_from_token(token: str) -> Team:
    """The team of ``token``, or 401 (bad or missing token) or 429 (too many bad tokens)."""
    check_throttle()
    with session_scope() as db:
        team = queries.team_by_token(db, token)
    if team is None:
        if token:
            record_bad_token()
        abort(401, "missing or wrong team token" if token else "missing team token")
    return team


def session_team() -> Team | None:
    """The team logged in with the web form, if any (and still present in the database)."""
    team_id = session.get("team_id")
    if team_id is None:
        return None
    with session_scope() as db:
        team = queries.get_team(db, team_id)
    if team is None or team.token_hash != session.get("token_hash"):
        session.pop("team_id", None)
        return None
    return team


def login_team(team: Team) -> None:
    session.clear()
    session["team_id"] = team.id
    # A token replaced by the organizers ends existing sessions of the team.
    session["token_hash"] = team.token_hash


def admin_token_ok(token: str) -> bool:
    expected = current_app.config.get("ADMIN_TOKEN")
    return bool(expected) and bool(token) and queries.tokens_match(token, expected)


def admin_session_marker() -> str:
    """What an organizer's session holds: derived from the token, so a new token ends sessions."""
    return queries.hash_token("organizer session:" + current_app.config["ADMIN_TOKEN"])


def is_admin() -> bool:
    """An organizer: logged in with the organizer token, or sending it as a bearer token."""
    expected = current_app.config.get("ADMIN_TOKEN")
    if not expected:
        return False
    if session.get("admin") == admin_session_marker():
        return True
    token = bearer_token()
    if not token:
        return False
    check_throttle()
    if admin_token_ok(token):
        return True
    record_bad_token()
    return False


def mark_private() -> None:
    """Answer this request with ``Cache-Control: no-store``: it shows a token or private data."""
    g.private = True
