"""The challenge leaderboard: a Flask app where teams upload predictions and see their ROC AUC.

The files lie flat in one folder; this map puts each in its layer. A module imports only from its
own layer or the layers below it (never up), and only the web layer reads ``request`` or answers
in HTTP: the rules raise ``leaderboard.errors``, which ``forms.http_error`` and ``cli.with_app``
turn into answers.

Entry points (top): ``__init__`` (``create_app``, the factory that wires the layers together),
``cli`` (the ``leaderboard`` command: serve, init-db, worker, reveal, ...), ``serving`` (waitress).

The web: what a browser or a script talks to.
- ``public``, ``teams``, ``api``, ``admin``: the blueprints, one per area; templates/ and static/.
- ``course_api``, ``tutor``: the course's blueprints: learners report lesson checks; the tutors'
  class page (organizers) and the class's pseudonymous page.
- ``forms``: refusals as HTTP answers (``http_error``), forms that show their error.
- ``auth``: who is asking: team and organizer tokens, log-in sessions, the client's address.
- ``content``: the pages' texts (overview, data, evaluation, rules).
- ``plots``: PNG figures (ROC curves of the top teams, a team's score over time).

The worker: scoring models away from the web.
- ``jobs``: a worker's job: score one queued model in the sandbox, record the result.

The rules: what the challenge allows, free of HTTP. Nothing below the web reads ``current_app``:
a check takes the session, the settings and the clock; a step that opens sessions, scores or
queues takes the ``app`` that holds them (tests/test_leaderboard_layers.py holds the layers).
- ``uploads``: one upload from the form, the API or the CLI: checked, scored, stored, recorded.
- ``actions``: register, invite, new token, mark final, quota left, the throttle's count.
- ``final``: the close, the reveal and its stored final ranking, re-ranking.
- ``ranking``, ``ladder``, ``bootstrap``: the boards, the Ladder's rule, DeLong and bootstrap.
- ``grading``: the answer key in memory; scoring with ``challenge``'s validator and metric.
- ``course``: the course: reported lesson checks, due dates, the class matrix, who is stuck.
- ``export``: CSV exports of the boards and submissions, safe to open in a spreadsheet.
- ``errors``: the rules' refusals, one class per broken rule.

Storage: what is kept.
- ``db``: the engine, ``session_scope`` and ``init_db``; ``models``: the tables.
- ``queries``: every database read and write, as functions taking the session first.
- ``storage``: accepted files, gzip-compressed and named by their sha256.
- ``shared_files``: what workers read (models, their scores, the answer key, test.root), kept in
  the database, so that a worker on another machine needs only the database and the broker.
- ``queue``: the job queue (huey, on SQLite or Redis): submission ids waiting for a worker.
  It holds no job: the factory hands it ``jobs``' functions, so that it never imports upwards.
- ``backup``: copies of the database and the stored files, and putting them back.
- ``migrations/``: the Alembic revisions of the schema.

Ground: ``config`` (defaults, environment variables, checks before starting, the public folder
and its ``challenge.json``), ``state`` (what an app holds besides its settings, one typed part per
module) and ``names`` (team names people can tell apart: no invisible characters, UTS #39).
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

    if app.config["ROLE"] != "worker":  # a worker's answer key comes from the database
        grading.init_app(app)
    db.init_app(app)
    ranking.init_app(app)
    if app.config["SUBMISSIONS"] == "models":
        from leaderboard import jobs  # handed to the queue, which imports no job

        queue.init_app(app, jobs.WORKER_JOBS)
    csrf.init_app(app)

    from leaderboard import admin, api, course_api, public, teams, tutor

    app.register_blueprint(public.bp)
    app.register_blueprint(teams.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(course_api.bp)
    app.register_blueprint(tutor.bp)
    csrf.exempt(api.bp)  # the API authenticates with a bearer token, never with a cookie
    csrf.exempt(course_api.bp)
    # Browsers ask for /favicon.ico on every site, whatever the page links to.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
    _register_error_handlers(app)
    app.after_request(_security_headers)
    if app.config["PROXY_FIX"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


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
