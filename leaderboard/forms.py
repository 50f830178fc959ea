"""Forms that fail: the message shows, flashed, on the page the form was on, with the error's status.

A browser that posts a third final (409) or a mistyped reveal word (400) stays where it was and
reads why, instead of landing on a bare error page; scripts still get the status code. The two
token log-in forms (team, organizer) share one view, ``token_login``, and every throttled error
carries its Retry-After through ``retry_after_headers``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from flask import flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

Holder = TypeVar("Holder")


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
    except HTTPException as error:
        return form_error_page(template, error)
    start_session(holder)
    return redirect(url_for(landing))


def errors_shown_on(page: Callable[[], ResponseReturnValue]):
    """Decorate a form's view: a 4xx it raises is flashed and ``page()`` is shown with its status."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except HTTPException as error:
                if error.code is None or not 400 <= error.code < 500:
                    raise
                flash(error.description or error.name, "error")
                response = make_response(page())
                response.status_code = error.code
                response.headers.update(retry_after_headers(error))
                return response

        return wrapper

    return decorator
