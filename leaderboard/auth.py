"""Who is asking: team tokens (bearer header or log-in session), the organizer token, and the
throttling of clients that keep sending wrong ones."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from flask import abort, current_app, g, request, session

from leaderboard import actions, errors, queries
from leaderboard.db import session_scope
from leaderboard.models import Team

IPV6_HOST_PREFIX = 64  # what one IPv6 host gets


def now():
    """This request's moment, from the app's clock."""
    return current_app.config["NOW"]()


def client_address(*, ipv6_prefix: int = IPV6_HOST_PREFIX) -> str:
    """The client as throttles count it: an IPv4 address, or its IPv6 network of
    ``ipv6_prefix`` bits (a /64 is one host; a /56 is a home's whole allocation)."""
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/{ipv6_prefix}", strict=False))
    return str(getattr(address, "ipv4_mapped", None) or address)


def registering_address() -> str:
    """The client as the registration limits count it: an IPv4 address, or an IPv6 network of
    REGISTRATION_IPV6_PREFIX bits, since one home holds a /56 of /64s to register from."""
    return client_address(ipv6_prefix=current_app.config["REGISTRATION_IPV6_PREFIX"])


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def team_from_token(token: str) -> Team:
    """The team of ``token``, or 401 (missing or wrong token; 429 past the throttle's limit)."""
    if not token:
        abort(401, "missing team token")
    with session_scope(current_app) as db:
        team = queries.team_by_token(db, token)
    if team is None:
        refusal = errors.WrongCredential("missing or wrong team token")
        actions.refuse_wrong_credential(
            "team token", refusal, address=client_address(), app=current_app
        )
    return team


@dataclass(frozen=True)
class Login:
    """Who this browser is logged in as: a team, or the organizer (``team`` None)."""

    team: Team | None


SESSION_ID = "sid"  # the cookie's key for the random log-in session id


def current_login() -> Login | None:
    """This request's live log-in session, looked up once per request; None when there is none."""
    if "login" not in g:
        g.login = _find_login()
        if g.login is None and SESSION_ID in session:
            session.clear()  # ended elsewhere (log-out, new token): forget the dead id
    return g.login


def _find_login() -> Login | None:
    session_id = session.get(SESSION_ID)
    if not isinstance(session_id, str):
        return None
    with session_scope(current_app) as db:
        found = queries.login_session(
            db, session_id, now=now(), lifetime_s=current_app.config["LOGIN_LIFETIME_S"]
        )
        if found is None:
            return None
        if found.team_id is None:
            expected = organizer_credential()
            ok = expected is not None and hmac.compare_digest(found.credential_hash, expected)
            return Login(None) if ok else None
        team = queries.get_team(db, found.team_id)
    if team is None or not hmac.compare_digest(team.token_hash, found.credential_hash):
        return None
    return Login(team)


def session_team() -> Team | None:
    """The team logged in with the web form, if its session is still live."""
    login = current_login()
    return login.team if login is not None else None


def login_team(team: Team) -> None:
    _start_session(team.id, team.token_hash)
    session["team_id"] = team.id  # for the navigation links only; never trusted


def login_organizer() -> None:
    _start_session(None, organizer_credential())


def _start_session(team_id: int | None, credential_hash: str) -> None:
    """A fresh random session id (never one the browser brought: no session fixation)."""
    logout()
    lifetime_s = current_app.config["LOGIN_LIFETIME_S"]
    with session_scope(current_app) as db:
        queries.end_expired_login_sessions(db, now=now(), lifetime_s=lifetime_s)
        session_id = queries.add_login_session(
            db, team_id, credential_hash=credential_hash, now=now()
        )
    session[SESSION_ID] = session_id
    g.pop("login", None)


def logout() -> None:
    """End this browser's session on the server, so that copies of its cookie stop working too."""
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        with session_scope(current_app) as db:
            queries.end_login_session(db, session_id)
    session.clear()
    g.pop("login", None)


def admin_token_ok(token: str) -> bool:
    expected = current_app.config.get("ADMIN_TOKEN")
    return bool(expected) and bool(token) and queries.tokens_match(token, expected)


def organizer_credential() -> str | None:
    """What organizer sessions are bound to, kept on the server only: a new token ends them."""
    token = current_app.config.get("ADMIN_TOKEN")
    return queries.hash_token("organizer session:" + token) if token else None


def is_organizer_session() -> bool:
    """Logged in with the organizer token in this browser (a bearer token does not count)."""
    if not current_app.config.get("ADMIN_TOKEN"):
        return False
    login = current_login()
    return login is not None and login.team is None


def is_admin() -> bool:
    """An organizer: logged in with the organizer token, or sending it as a bearer token.

    A wrong bearer token answers 401 (or 429) here; a team's own token is refused without counting
    as a guess."""
    if not current_app.config.get("ADMIN_TOKEN"):
        return False
    login = current_login()
    if login is not None and login.team is None:
        return True
    token = bearer_token()
    if token:
        check_organizer_token(token)
        return True
    return False


def check_organizer_token(token: str) -> None:
    """Return if ``token`` is the organizer token; else 403 for a team token, 401 or 429 otherwise."""
    if admin_token_ok(token):
        return
    with session_scope(current_app) as db:
        team = queries.team_by_token(db, token)
    if team is not None:
        abort(403, "this is a team token; the organizer pages need the organizer token")
    refusal = errors.WrongCredential("wrong organizer token")
    actions.refuse_wrong_credential(
        "organizer token", refusal, address=client_address(), app=current_app
    )


def mark_private() -> None:
    """Answer this request with ``Cache-Control: no-store``: it shows a token or private data."""
    g.private = True
