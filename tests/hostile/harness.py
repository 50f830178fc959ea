"""Live leaderboard servers for the reliability tests: waitress or gunicorn in a subprocess on
127.0.0.1, a small answer key, valid submissions, and counts of what the server has stored.

Every server is started with a bounded wait and always killed when its ``with`` block ends.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import requests

BIN = Path(sys.executable).parent
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"  # the shipped gunicorn and nginx settings
START_TIMEOUT_S = 90.0  # generous: CI machines are busy; the loop polls every 0.1 s
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_answer_key(n_events: int = 200, *, seed: int = 0) -> pd.DataFrame:
    """Half public, half private; labels alternate so that both splits hold both classes."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(100_000, 1_000_000), size=n_events, replace=False)
    return pd.DataFrame(
        {
            "event_id": ids,
            "label": (np.arange(n_events) % 2).astype(np.int8),
            "split": np.where(np.arange(n_events) < n_events // 2, "public", "private"),
        }
    )


def submission_bytes(key: pd.DataFrame, *, seed: int, skill: float = 1.5) -> bytes:
    rng = np.random.default_rng(seed)
    scores = skill * key["label"].to_numpy() + rng.normal(size=len(key))
    buffer = io.StringIO()
    pd.DataFrame({"event_id": key["event_id"], "score": np.round(scores, 6)}).to_csv(
        buffer, index=False
    )
    return buffer.getvalue().encode()


@dataclass
class Site:
    """Where one leaderboard keeps its state, and the environment that points a server there."""

    root: Path
    database_url: str
    key: pd.DataFrame

    @property
    def upload_folder(self) -> Path:
        return self.root / "submissions"

    @property
    def answer_key_path(self) -> Path:
        return self.root / "answer_key.csv"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADERBOARD_")}
        env.update(
            LEADERBOARD_DATABASE_URL=self.database_url,
            LEADERBOARD_ANSWER_KEY=str(self.answer_key_path),
            LEADERBOARD_UPLOAD_FOLDER=str(self.upload_folder),
            LEADERBOARD_SECRET_KEY="reliability-test-secret-0123456789",
            LEADERBOARD_ADMIN_TOKEN="reliability-admin-token-0123456789",
            LEADERBOARD_DAILY_QUOTA="1000",
            LEADERBOARD_REGISTRATIONS_PER_HOUR="0",
            LEADERBOARD_REGISTRATIONS_PER_DAY="0",  # every test team registers from loopback
            LEADERBOARD_COOKIE_SECURE="0",  # plain http on loopback
            # every public score in full; test_leaderboard_ladder runs servers with the Ladder
            LEADERBOARD_PUBLIC_BOARD="plain",
            # a reader waits for the board after a write (tests read right after they write, on
            # a busy machine), and less than the load tests' clients (30 s);
            # test_leaderboard_final tests the default's limit
            LEADERBOARD_BOARD_WAIT_S="20",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def stored_files(self) -> list[Path]:
        """Every file under the upload folder, temporary ones included."""
        if not self.upload_folder.exists():
            return []
        return sorted(p for p in self.upload_folder.rglob("*") if p.is_file())


def make_site(root: Path, database_url: str | None = None, *, n_events: int = 200) -> Site:
    root.mkdir(parents=True, exist_ok=True)
    key = make_answer_key(n_events)
    site = Site(root, database_url or f"sqlite:///{root / 'leaderboard.sqlite'}", key)
    key.to_csv(site.answer_key_path, index=False)
    return site


def leaderboard_command(*args: str) -> list[str]:
    return [str(BIN / "leaderboard"), *args]


def run_cli(site: Site, *args: str, timeout: float = 60, **extra_env: str):
    return subprocess.run(
        leaderboard_command(*args),
        env=site.env(**extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=site.root,
    )


class LiveServer:
    """A server process on 127.0.0.1; ``url`` once it answers /api/health."""

    def __init__(self, command: Sequence[str], env: dict[str, str], port: int, cwd: Path):
        self.command, self.env, self.port, self.cwd = list(command), env, port, cwd
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"server-{port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> LiveServer:
        with open(self.log, "ab") as log:
            # Own process group: gunicorn's workers die with their master.
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if requests.get(self.url + "/api/health", timeout=10).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {START_TIMEOUT_S} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group and wait for the main process."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        if self.process is not None:
            try:  # workers of a killed master may linger a moment
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def waitress_command(port: int) -> list[str]:
    return leaderboard_command("serve", "--host", "127.0.0.1", "--port", str(port))


def gunicorn_command(port: int, workers: int = 2) -> list[str]:
    return [str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
            "--timeout", "60", "--graceful-timeout", "5", "--no-control-socket",
            "leaderboard:create_app()"]  # fmt: skip


@contextmanager
def live_server(site: Site, kind: str = "waitress", **extra_env: str) -> Iterator[LiveServer]:
    """A running server of ``kind`` ("waitress" or "gunicorn") on ``site``, killed on exit."""
    port = free_port()
    if kind == "gunicorn":
        init = run_cli(site, "init-db", **extra_env)  # gunicorn's factory creates no tables
        assert init.returncode == 0, init.stderr
        command = gunicorn_command(port)
    else:
        command = waitress_command(port)
    server = LiveServer(command, site.env(**extra_env), port, site.root)
    try:
        yield server.start()
    finally:
        server.stop()


def register(url: str, name: str) -> str:
    response = requests.post(url + "/api/teams", json={"name": name}, timeout=10)
    assert response.status_code == 201, (response.status_code, response.text)
    return response.json()["token"]


def upload(url: str, token: str, data: bytes, *, note: str = "", filename: str = "sub.csv",
           timeout: float = 30) -> requests.Response:  # fmt: skip
    return requests.post(
        url + "/api/submissions",
        files={"file": (filename, data, "text/csv")},
        data={"note": note},
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def percentile_ms(latencies_s: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(latencies_s) * 1000, q))


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server of ``base_url``: its URL, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, make_url, text

    schema = "reliability_" + uuid.uuid4().hex[:12]
    admin = create_engine(base_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def nginx_config(root: Path, port: int, upstream: int) -> Path:
    """A main nginx.conf on loopback that includes the shipped proxy settings unchanged."""
    proxy = (DEPLOY / "nginx-proxy.conf").read_text()
    (root / "leaderboard-proxy.conf").write_text(proxy)
    for folder in ("body", "proxy"):
        (root / folder).mkdir(exist_ok=True)
    config = root / "nginx.conf"
    # As root, nginx's workers would run as nobody, who cannot enter the test's folders.
    user = "user root;" if os.geteuid() == 0 else ""
    config.write_text(f"""
{user}
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
worker_processes 1;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    upstream leaderboard {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{port};
        include {root}/leaderboard-proxy.conf;
    }}
}}
""")
    return config


def deployed_gunicorn_command(port: int, workers: int | None = None) -> list[str]:
    """gunicorn with deploy/gunicorn.conf.py on 127.0.0.1:``port`` (``workers`` processes
    instead of its 2, if given)."""
    processes = ["--workers", str(workers)] if workers else []
    return [str(BIN / "gunicorn"), "--config", str(DEPLOY / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", *processes, "leaderboard:create_app()"]  # fmt: skip


@contextmanager
def behind_nginx(
    site: Site,
    folder: Path,
    app_command: Callable[[int], list[str]] = deployed_gunicorn_command,
    **extra_env: str,
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """(nginx, the app server): the server that ``app_command(port)`` starts (gunicorn as
    deployed by default) behind nginx with deploy/nginx-proxy.conf (its files in
    ``folder``/nginx), both on loopback and stopped at the end; ``extra_env`` holds more
    ``LEADERBOARD_*`` settings of the app."""
    init = run_cli(site, "init-db", **extra_env)
    assert init.returncode == 0, init.stderr
    app_port, port = free_port(), free_port()
    command = app_command(app_port)
    app = LiveServer(command, site.env(LEADERBOARD_PROXY_FIX="1", **extra_env), app_port, site.root)
    root = folder / "nginx"
    root.mkdir()
    nginx = LiveServer([shutil.which("nginx"), "-e", str(root / "error.log"), "-c",
                        str(nginx_config(root, port, app_port))], site.env(), port, root)  # fmt: skip
    with ExitStack() as stack:
        app.start()
        stack.callback(app.stop)
        nginx.start()
        stack.callback(nginx.stop)
        yield nginx, app
