"""Behind Debian's nginx with the shipped deploy/nginx-proxy.conf, for `leaderboard serve`
(waitress) and for gunicorn with deploy/gunicorn.conf.py: the app sees each client's own
address, so one client's registrations never use up another's (issue 23: waitress dropped
X-Forwarded-For, and the second client's first registration got 429)."""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.hostile.harness import (
    Site,
    behind_nginx,
    deployed_gunicorn_command,
    make_site,
    waitress_command,
)

# Two clients on loopback, told apart by their source address alone.
CLIENT_A, CLIENT_B = "127.0.0.2", "127.0.0.3"


@contextmanager
def behind_nginx_as(site: Site, kind: str, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """The app server of ``kind`` behind nginx; (nginx's port, the app server's port)."""
    command = deployed_gunicorn_command if kind == "gunicorn" else waitress_command
    with behind_nginx(site, tmp_path, command, LEADERBOARD_REGISTRATIONS_PER_HOUR="1") as servers:
        nginx, app = servers
        yield nginx.port, app.port


def register_from(source: str, port: int, name: str, **headers: str) -> tuple[int, dict]:
    """POST /api/teams to 127.0.0.1:``port`` from the source address ``source``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                            source_address=(source, 0))  # fmt: skip
    try:
        body = json.dumps({"name": name})
        connection.request("POST", "/api/teams", body=body,
                           headers={"Content-Type": "application/json", **headers})  # fmt: skip
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="no nginx (Debian's nginx)")
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["waitress", "gunicorn"])
def test_a_second_client_registers_behind_nginx(tmp_path, kind):
    site = make_site(tmp_path / "site")
    with behind_nginx_as(site, kind, tmp_path) as (port, app_port):
        assert register_from(CLIENT_A, port, "first")[0] == 201
        status, answer = register_from(CLIENT_A, port, "first again")
        assert status == 429, answer  # one an hour from 127.0.0.2: the limit holds
        assert register_from(CLIENT_B, port, "second")[0] == 201  # 127.0.0.3 is another client
        # nginx replaces a forged X-Forwarded-For with the address it sees
        forged = register_from(CLIENT_A, port, "forged", **{"X-Forwarded-For": "192.0.2.9"})
        assert forged[0] == 429
        if kind == "waitress":  # and the app server trusts the header from nginx's address only
            direct = register_from(CLIENT_B, app_port, "direct", **{"X-Forwarded-For": "192.0.2.9"})
            assert direct[0] == 429, direct
