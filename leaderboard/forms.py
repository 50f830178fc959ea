"""Forms that fail: the message shows, flashed, on the page the form was on, with the error's status.

A browser that posts a third final (409) or a mistyped reveal word (400) stays where it was and
reads why, instead of landing on a bare error page; scripts still get the status code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import flash, make_response
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException


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
                retry_after = getattr(error, "retry_after", None)
                if retry_after:
                    response.headers["Retry-After"] = str(retry_after)
                return response

        return wrapper

    return decorator
