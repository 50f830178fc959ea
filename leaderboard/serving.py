"""``leaderboard serve``: waitress with limits that hold against slow and oversized clients.

Waitress reads requests in one asynchronous loop and hands only complete ones to its threads,
so a slow client costs a socket, not a thread: the server holds ``connection_limit`` of them
(with ``poll``, past select's 1,024 descriptors) and goes on answering the others. A body over
the app's limit is refused by waitress before it is buffered, with the app's JSON 413.
Behind a proxy (``LEADERBOARD_PROXY_FIX=N``) waitress trusts the X-Forwarded-* headers of
connections from ``LEADERBOARD_TRUSTED_PROXY`` only, as gunicorn's ``forwarded_allow_ips`` does.
"""

from __future__ import annotations

import json
import logging
import resource

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from leaderboard.uploads import too_large_message

THREADS = 8
# Open connections held at once: slow clients (a classroom on a bad network, or an attacker
# sending a header line every few seconds) beyond this wait in the kernel's backlog.
CONNECTION_LIMIT = 1000
DESCRIPTORS_PER_SERVER = 64  # listening sockets, the database, log and stored files

logger = logging.getLogger(__name__)


def _json_error_channel(too_large: str) -> type[HTTPChannel]:
    """An HTTPChannel whose own errors (413, 400, 431) are JSON like the app's, not plain text."""

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            message = too_large if error.code == 413 else f"{error.reason}: {error.body}"
            body = json.dumps({"error": message}).encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

    return JsonErrorChannel


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's soft limit of open files towards ``wanted``; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# What nginx sets (deploy/nginx-proxy.conf) and the app's ProxyFix reads.
FORWARDED_HEADERS = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host")


def proxy_settings(config) -> dict:
    """waitress's settings for PROXY_FIX proxies in front: the X-Forwarded-* headers of the
    PROXY_FIX hops, on connections from TRUSTED_PROXY only; every other copy of them is
    dropped. Without a proxy, waitress drops them all (its default), and every client is
    known by the address it connects from."""
    hops = int(config["PROXY_FIX"])
    if not hops:
        return {}
    return {
        "trusted_proxy": config["TRUSTED_PROXY"],
        "trusted_proxy_count": hops,
        "trusted_proxy_headers": set(FORWARDED_HEADERS),
        "clear_untrusted_proxy_headers": True,
    }


def make_server(
    app: Flask,
    *,
    host: str,
    port: int,
    threads: int = THREADS,
    connection_limit: int = CONNECTION_LIMIT,
) -> BaseWSGIServer:
    """A waitress server for ``app``, not yet running (``.run()`` serves until interrupted)."""
    descriptors = raise_open_file_limit(connection_limit + threads + DESCRIPTORS_PER_SERVER)
    if descriptors < connection_limit + DESCRIPTORS_PER_SERVER:
        connection_limit = max(1, descriptors - DESCRIPTORS_PER_SERVER)
        logger.warning("open-file limit %d: holding at most %d connections", descriptors,
                       connection_limit)  # fmt: skip
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        connection_limit=connection_limit,
        asyncore_use_poll=True,  # select() stops at 1,024 descriptors
        # Waitress refuses a body of this size or more: one byte over the app's own limit.
        max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1,
        **proxy_settings(app.config),
    )
    server.channel_class = _json_error_channel(too_large_message(app.config))
    return server
