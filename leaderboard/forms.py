"""Refusals as the web answers them: a rule's error as an HTTP status, and forms that fail.

``http_error`` is the one mapping from the rules' errors (``leaderboard.errors``) to HTTP: a
status code, the message, and a Retry-After for a throttled one. A browser that posts a third
final (409) or a mistyped reveal word (400) stays where it was and reads why, flashed on the
page the form was on, instead of landing on a bare error page; scripts still get the status
code. The two token log-in forms (team, organizer) share one view, ``token_login``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, default_exceptions

from leaderboard import errors

Holder = TypeVar("Holder")

# The HTTP status of each family of the rules' errors (no error is of two families).
HTTP_STATUS: dict[type[errors.RuleError], int] = {
    errors.InvalidInput: 400,
    errors.WrongCredential: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.Throttled: 429,
}


def http_error(error: HTTPException | errors.RuleError) -> HTTPException:
    """The HTTP answer to a rule's error (an HTTPException is its own answer)."""
    if isinstance(error, HTTPException):
        return error
    status = next(code for family, code in HTTP_STATUS.items() if isinstance(error, family))
    answer = default_exceptions[status](str(error))
    answer.retry_after = getattr(error, "retry_after", None)
    return answer


def settings_and_clock() -> dict[str, Any]:
    """What the rules take from this request's app: its settings and its clock."""
    return {"config": current_app.config, "clock": current_app.config["NOW"]}


# What a view refuses with: an HTTP error of its own, or a rule's error.
REFUSALS = (HTTPException, errors.RuleError)


def retry_after_headers(error: HTTPException) -> dict[str, str]:
    """The Retry-After header of a throttled error (``error.retry_after`` seconds), or none."""
    retry_after = getattr(error, "retry_after", None)
    return {"Retry-After": str(retry_after)} if retry_after else {}


def form_error_page(template: str, error: HTTPException, **context) -> ResponseReturnValue:
    """Show a form's page again with the error's message, its status and any Retry-After."""
    page = render_template(template, error=error.description, **context)
    return page, error.code, retry_after_headers(error)


def token_login(
    template: str,
    check: Callable[[str], Holder],
    start_session: Callable[[Holder], None],
    landing: str,
) -> ResponseReturnValue:
    """A token log-in form: GET shows ``template``; POST ``check``s the token, starts the session
    of whoever holds it and goes to the ``landing`` endpoint, or shows the form again with why."""
    if request.method == "GET":
        return render_template(template)
    try:
        holder = check(request.form.get("token", "").strip())
    except REFUSALS as error:
        return form_error_page(template, http_error(error))
    start_session(holder)
    return redirect(url_for(landing))


def errors_shown_on(page: Callable[[], ResponseReturnValue]):
    """Decorate a form's view: a 4xx it raises is flashed and ``page()`` is shown with its status."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except REFUSALS as refusal:
                error = http_error(refusal)
                if error.code is None or not 400 <= error.code < 500:
                    raise
                flash(error.description or error.name, "error")
                response = make_response(page())
                response.status_code = error.code
                response.headers.update(retry_after_headers(error))
                return response

        return wrapper

    return decorator
