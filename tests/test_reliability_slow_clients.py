"""Slow clients and oversized bodies on the wire: real servers on loopback, real sockets.

Issue 11, finding 4: about 100 connections that send one header line every 5 s took
`leaderboard serve` offline (waitress held 100 connections), and 2 took gunicorn's sync workers.
Here 500 such connections are held while health probes must keep answering, for 12 s (two
header lines each) against `leaderboard serve` with its defaults and against the shipped nginx +
gunicorn configuration (deploy/). Finding 13: a body over waitress's own cap got a plain-text
413, not the JSON one.
"""

from __future__ import annotations

import json
import resource
import shutil
import socket
import time
from contextlib import ExitStack

import pytest
import requests

from tests.hostile.harness import (
    behind_nginx,
    live_server,
    make_site,
    register,
    submission_bytes,
)

SLOW_CONNECTIONS = 500
# A server that holds fewer connections than this stops answering probes at once (waitress's
# old limit of 100 did within the first probe); two header lines each show the slow clients kept.
HOLD_S = 12.0
LINE_EVERY_S = 5.0  # a header line every 5 s, as in the finding
PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 5.0


def _raise_client_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the open-file limit ({hard}) is below {wanted} sockets")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def hold_slow_connections(
    port: int, health_url: str, hold_s: float = HOLD_S
) -> tuple[list[float], int]:
    """Hold SLOW_CONNECTIONS half-sent requests for ``hold_s`` while probing ``health_url``.

    Returns the probe latencies (a probe that failed raises) and how many slow connections
    were still open at the end (the server may close some; the probes are what must hold).
    """
    _raise_client_fd_limit(SLOW_CONNECTIONS + 256)
    latencies, start = [], time.monotonic()
    with ExitStack() as stack:
        slow = []
        for _ in range(SLOW_CONNECTIONS):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            sock.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: slow\r\n")
            slow.append(sock)
        next_line = time.monotonic() + LINE_EVERY_S
        while time.monotonic() - start < hold_s:
            began = time.monotonic()
            response = requests.get(health_url, timeout=PROBE_TIMEOUT_S)
            assert response.status_code == 200, response.text[:200]
            latencies.append(time.monotonic() - began)
            if time.monotonic() >= next_line:
                slow = [s for s in slow if _send_line(s)]
                next_line += LINE_EVERY_S
            time.sleep(max(0.0, PROBE_EVERY_S - (time.monotonic() - began)))
        return latencies, len(slow)


def _send_line(sock: socket.socket) -> bool:
    try:
        sock.sendall(b"X-Slow: 1\r\n")
        return True
    except OSError:  # the server closed it: a defence, not a failure
        return False


def _check(latencies: list[float], still_open: int, *, all_held: bool, hold_s: float) -> None:
    assert len(latencies) >= hold_s / (PROBE_EVERY_S + PROBE_TIMEOUT_S)
    assert max(latencies) < PROBE_TIMEOUT_S
    if all_held:
        assert still_open == SLOW_CONNECTIONS
    print(f"\n[slow] {len(latencies)} probes, slowest {max(latencies) * 1000:.0f} ms; "
          f"{still_open} of {SLOW_CONNECTIONS} slow connections open after {hold_s:.0f} s")  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_waitress_answers_health_probes_while_500_slow_clients_are_held(tmp_path):
    site = make_site(tmp_path / "site")
    with live_server(site) as live:  # `leaderboard serve` with its defaults
        latencies, still_open = hold_slow_connections(live.port, live.url + "/api/health")
        assert requests.get(live.url + "/", timeout=10).status_code == 200
    _check(latencies, still_open, all_held=True, hold_s=HOLD_S)  # all held, no thread each


# ----------------------------------------------------------------------------- nginx + gunicorn


needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None, reason="no nginx (Debian's nginx; .ci/services.sh installs it)"
)


@needs_nginx
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_nginx_and_gunicorn_answer_while_500_slow_clients_are_held(tmp_path):
    site = make_site(tmp_path / "site")
    with behind_nginx(site, tmp_path) as (live, _):
        latencies, still_open = hold_slow_connections(live.port, live.url + "/api/health")
        token = register(live.url, "behind nginx")
        response = requests.post(live.url + "/api/submissions",
                                 files={"file": ("s.csv", submission_bytes(site.key, seed=1))},
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
        assert response.status_code == 201, response.text
    _check(latencies, still_open, all_held=False, hold_s=HOLD_S)


# ----------------------------------------------------------------------------- large bodies


def _announce(port: int, token: str, length: int, *, chunked: bool = False) -> tuple[int, dict]:
    """Send only the headers of an upload of ``length`` bytes; the server's status and JSON."""
    size = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}"
    head = (f"POST /api/submissions HTTP/1.1\r\nHost: x\r\n{size}\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n")  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        if chunked:  # one chunk past the limit, then stop sending
            try:
                sock.sendall(f"{length:x}\r\n".encode() + b"0" * length + b"\r\n")
            except BrokenPipeError:  # the server answered once past the limit and stopped reading
                pass
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < 2:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, body = reply.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body[: body.rindex(b"}") + 1])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["waitress", "gunicorn"])
def test_every_oversized_body_gets_the_json_413(tmp_path, kind):
    limit = 3_000_000
    site = make_site(tmp_path / "site")
    message = "the upload is larger than the limit of 3,000,000 bytes (3.0 MB)"
    with live_server(site, kind, LEADERBOARD_MAX_UPLOAD_BYTES=str(limit)) as live:
        # Far over the limit (over waitress's old cap of twice the limit plus 16 MB): refused
        # from the headers alone, nothing read.
        token = register(live.url, "large")
        for length in (2 * limit + 2**25, 10**12):
            assert _announce(live.port, token, length) == (413, {"error": message})
        # A stream with no length that runs past the limit: refused, not cut at the limit.
        stream = _announce(live.port, token, limit + 2 * 2**20, chunked=True)
        assert stream == (413, {"error": message})
        assert requests.get(live.url + "/api/health", timeout=10).status_code == 200
