"""The waitress settings of `leaderboard serve` (the behaviour on the wire is tested in
tests/test_reliability_slow_clients.py)."""

from __future__ import annotations

import resource

from leaderboard import serving


def test_the_server_holds_many_connections_and_refuses_bodies_at_the_apps_limit(app):
    server = serving.make_server(app, host="127.0.0.1", port=0)
    try:
        adjustments = server.adj
        assert adjustments.connection_limit == serving.CONNECTION_LIMIT == 1000
        assert adjustments.asyncore_use_poll  # select() would stop at 1,024 descriptors
        assert adjustments.threads == serving.THREADS
        # Waitress refuses a body of max_request_body_size or more: one byte over the app's.
        assert adjustments.max_request_body_size == app.config["MAX_CONTENT_LENGTH"] + 1
        assert server.channel_class.error_task_class.__name__ == "JsonErrorTask"
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert soft == resource.RLIM_INFINITY or soft >= 1000 + serving.THREADS
    finally:
        server.close()


def test_the_open_file_limit_is_raised_only_up_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        assert serving.raise_open_file_limit(300) == 300
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 300
        assert serving.raise_open_file_limit(100) == 300  # never lowered
        if hard != resource.RLIM_INFINITY:
            assert serving.raise_open_file_limit(hard + 10) == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_behind_a_proxy_waitress_trusts_its_forwarded_headers_from_its_address_only(app):
    app.config.update(PROXY_FIX=1, TRUSTED_PROXY="127.0.0.1")
    server = serving.make_server(app, host="127.0.0.1", port=0)
    try:
        adjustments = server.adj
        assert adjustments.trusted_proxy == "127.0.0.1"
        assert adjustments.trusted_proxy_count == 1
        assert adjustments.trusted_proxy_headers == {
            "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"
        }  # fmt: skip
        assert adjustments.clear_untrusted_proxy_headers
    finally:
        server.close()
    app.config["PROXY_FIX"] = 0
    server = serving.make_server(app, host="127.0.0.1", port=0)
    try:
        assert server.adj.trusted_proxy is None  # no proxy: every forwarded header dropped
    finally:
        server.close()
