"""The challenge leaderboard: a Flask app where teams upload predictions and see their ROC AUC.

- ``leaderboard.config``: defaults, environment variables and the checks made before starting.
- ``leaderboard.models``: the tables (teams, submissions, settings, log-in sessions, invites, ...).
- ``leaderboard.db``: the engine, ``session_scope`` and ``init_db``.
- ``leaderboard.queries``: every database read and write, as functions taking the session first.
- ``leaderboard.storage``: accepted files, gzip-compressed and named by their sha256.
- ``leaderboard.grading``: the answer key in memory; scoring with ``challenge``'s validator and metric.
- ``leaderboard.uploads``: one upload from the form or the API, checked, scored, stored, recorded.
- ``leaderboard.queue``: the job queue (huey, on SQLite or Redis) that hands models to workers.
- ``leaderboard.jobs``: a worker's job: score one queued model in the sandbox, record the result.
- ``leaderboard.ranking``: public and final rankings, rank changes, DeLong tests between ranks.
- ``leaderboard.plots``: PNG figures (ROC curves of the top teams, a team's score over time).
- ``leaderboard.export``: CSV exports that are safe to open in a spreadsheet.
- ``leaderboard.actions``: register, invite, new token, mark final, quota left, the throttle's count.
- ``leaderboard.names``: team names people can tell apart (no invisible characters, UTS #39).
- ``leaderboard.auth``: who is asking: team and organizer tokens, server-side log-in sessions.
- ``leaderboard.public``, ``.teams``, ``.api``, ``.admin``: the blueprints.
- ``leaderboard.cli``: the ``leaderboard`` command (serve, init-db, add-team, reveal, ...).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from challenge.extras import require_extra

require_extra("leaderboard")  # before flask: a host without the extra gets the pip command

from flask import (
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    render_template,
    request,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    RequestEntityTooLarge,
    ServiceUnavailable,
)
from werkzeug.routing import IntegerConverter

from leaderboard import config as settings
from leaderboard.errors import RuleError
from leaderboard.forms import http_error, retry_after_headers

csrf = CSRFProtect()

# The largest id the tables can hold: PostgreSQL's ``integer`` is 32-bit signed.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: 1 to MAX_ID, so that a larger, negative or non-numeric id
    matches no route (404) instead of overflowing the database driver (500)."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``instance/config.py``, then ``LEADERBOARD_*``, then test_config.

    The instance folder is ``$LEADERBOARD_INSTANCE``, else ``instance/`` in the current folder
    (never one inside the installed package: two events run from one install keep apart).

    Raises ConfigError (with what to fix) for a default secret in production or an unusable
    answer key, so that a misconfigured server never starts.
    """
    environment = settings.from_environment(os.environ)
    app = Flask(
        __name__,
        # Where config.py, the database and the files live.
        instance_path=environment.get("INSTANCE_PATH") or settings.default_instance(),
        instance_relative_config=True,
    )
    app.url_map.converters["int"] = IdConverter
    app.config.from_mapping(settings.defaults(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(environment)
    if test_config is not None:
        app.config.from_mapping(test_config)
    settings.finish(app.config)

    from leaderboard import db, grading, queue, ranking

    grading.init_app(app)
    db.init_app(app)
    ranking.init_app(app)
    queue.init_app(app)
    _tidy_upload_folder(app)
    csrf.init_app(app)

    from leaderboard import admin, api, public, teams

    app.register_blueprint(public.bp)
    app.register_blueprint(teams.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    csrf.exempt(api.bp)  # the API authenticates with a bearer token, never with a cookie
    # Browsers ask for /favicon.ico on every site, whatever the page links to.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
    _register_error_handlers(app)
    app.after_request(_security_headers)
    if app.config["PROXY_FIX"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


# A file younger than this may belong to an upload that another worker is still recording.
UPLOAD_GRACE_S = 60


def _tidy_upload_folder(app: Flask) -> None:
    """At start: the folder owner-only, without what a killed server left (issue 11, finding 12).

    Half-written temporary files go; complete files without a database row move to
    ``orphaned/``. A database without tables yet has recorded nothing: the files stay.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from leaderboard import db, queries, storage

    folder = app.config["UPLOAD_FOLDER"]
    try:
        storage.private_dir(folder)
        storage.remove_partial(folder, older_than_s=UPLOAD_GRACE_S)
        if db.missing_tables(app) is not None or db.outdated_schema(app) is not None:
            return  # nothing to compare with, or columns it cannot read before the upgrade
        with db.session_scope(app) as session:
            recorded = queries.recorded_hashes(session)
        moved = storage.remove_orphans(folder, recorded, older_than_s=UPLOAD_GRACE_S)
    except (OSError, SQLAlchemyError) as err:
        app.logger.warning("could not tidy %s: %s", folder, err)
        return
    finally:  # no connection left open by building an app (a command, a test)
        db.engine_of(app).dispose()
    if moved:
        app.logger.warning("%d stored files had no database row: moved to %s/%s", moved, folder,
                           storage.ORPHANED)  # fmt: skip


SECURITY_HEADERS = {
    # Everything is served from this host: no CDN, no inline script, no framing.
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


# Browsers keep HTTPS for this host for a year once they have seen it over TLS.
HSTS = "max-age=31536000"


def _security_headers(response):
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)
    if _is_private():
        response.headers["Cache-Control"] = "no-store"
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _is_private() -> bool:
    """A response no cache may keep: it carries a token or a private number.

    That is every organizer page, every answer to a request with a bearer token, and the pages
    that mark themselves with ``auth.mark_private()`` (a new token, a team's own page).
    """
    return (
        g.get("private", False)
        or request.blueprint == "admin"
        or "Authorization" in request.headers
    )


def _wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def _error_response(error: HTTPException):
    message = error.description or error.name
    if _wants_json():
        response = jsonify(error=message)
    else:
        response = render_template("error.html", error=error, message=message)
    response = make_response(response, error.code)
    response.headers.update(retry_after_headers(error))
    return response


# The failures of what the server stands on, each answered 503 with what is unavailable.
UNAVAILABLE: dict[type[Exception], tuple[str, str]] = {
    OperationalError: (
        "database",
        "the database is unavailable (read-only, full or locked); try again later",
    ),
    OSError: (
        "storage",
        "the submission folder is unavailable (read-only or full); try again later",
    ),
}


def _unavailable(app: Flask, what: str, message: str) -> Callable[[Exception], Response]:
    """An error handler that logs the ``what`` failure and answers 503 with ``message``."""

    def handler(error: Exception) -> Response:
        app.logger.error("%s error: %s", what, error)
        return _error_response(ServiceUnavailable(message))

    return handler


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        error.description = (
            f"the form expired or was not sent by this site ({error.description}); "
            "reload the page and try again"
        )
        return _error_response(error)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        # Werkzeug's own text ("exceeds the capacity limit") does not say what the limit is.
        if error.description == RequestEntityTooLarge.description:
            from leaderboard.uploads import too_large_message

            error.description = too_large_message(app.config)
        return _error_response(error)

    @app.errorhandler(HTTPException)
    @app.errorhandler(RuleError)  # a rule's refusal, answered with its status
    def refused(error: HTTPException | RuleError):
        return _error_response(http_error(error))

    for failure, (what, message) in UNAVAILABLE.items():
        app.register_error_handler(failure, _unavailable(app, what, message))

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return _error_response(error)
        app.logger.exception("unexpected error")
        return _error_response(InternalServerError("internal error; the organizers have been told"))
