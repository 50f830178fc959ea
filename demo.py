"""Runs a whole challenge on this machine: data, leaderboard, two teams, baselines, references.

    python demo.py            # what `make demo` runs; Ctrl-C stops the server
    python demo.py --quick    # tiny data and one epoch, for a smoke test

Every step calls the same command lines that teams and organizers use, so the output doubles
as a tour of them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent  # the console scripts of this environment
TEAMS = {  # team name -> baseline it trains and submits
    "muon-hunters": "logit",
    "cryo-cats": "mlp",
}
REFERENCES = {  # reference row -> baseline whose predictions it shows
    "matched filter (physics reference)": "matched-filter",
    "starter network (baseline to beat)": "starter",
}
QUICK_DATA = ["--n-train", "300", "--n-test", "300", "--record-length", "2048"]


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run(*args, env: dict | None = None) -> str:
    """Run one of the project's commands, echoing it; returns its standard output."""
    print("$ " + " ".join(str(a) for a in args), flush=True)
    done = subprocess.run(
        [str(BIN / args[0]), *map(str, args[1:])],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        sys.exit(f"demo: `{' '.join(map(str, args))}` failed with exit status {done.returncode}")
    return done.stdout


def make_data(data: Path, *, quick: bool) -> None:
    if (
        not quick
        and (data / "public" / "test.root").exists()
        and (data / "private" / "answer_key.csv").exists()
    ):
        step(f"Using the challenge already in {data}/ (delete it to generate a new one)")
        return
    step(f"Generating the {'tiny' if quick else 'demo'} challenge in {data}/")
    run(
        "challenge",
        "generate",
        "--preset",
        "demo",
        "--out",
        data,
        *(QUICK_DATA + ["--quiet"] if quick else []),
    )


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                print(f"port {port} is busy; taking a free one")
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def leaderboard_env(workdir: Path, data: Path) -> dict:
    instance = workdir / "leaderboard"
    return {
        **os.environ,
        "LEADERBOARD_DATABASE_URL": f"sqlite:///{instance.resolve() / 'leaderboard.sqlite'}",
        "LEADERBOARD_UPLOAD_FOLDER": str(instance.resolve() / "submissions"),
        "LEADERBOARD_ANSWER_KEY": str((data / "private" / "answer_key.csv").resolve()),
        "LEADERBOARD_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "LEADERBOARD_SECRET_KEY": secrets.token_hex(32),
        "LEADERBOARD_COOKIE_SECURE": "0",  # plain http on localhost
    }


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    """Start `leaderboard serve` in its own session, so that Ctrl-C reaches only this script."""
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(BIN / "leaderboard"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"demo: the leaderboard did not start:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/api/leaderboard", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            time.sleep(0.2)
    stop_server(server)
    sys.exit(f"demo: the leaderboard did not answer within 60 s; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def register(url: str, name: str) -> str:
    response = requests.post(f"{url}/api/teams", json={"name": name}, timeout=10)
    if response.status_code != 201:
        sys.exit(
            f"demo: registering {name!r} failed ({response.status_code}): {response.text[:300]}"
        )
    return response.json()["token"]


def train(model: str, data: Path, workdir: Path, *, quick: bool) -> Path:
    out = workdir / model
    run(
        "baselines",
        "train",
        model,
        "--data",
        data,
        "--out",
        out,
        "--quiet",
        *(["--dry-run"] if quick else []),
    )
    return out / "submission.csv"


def print_leaderboard(url: str) -> list[dict]:
    rows = requests.get(f"{url}/api/leaderboard", timeout=10).json()["rows"]
    print(
        f"\n{'rank':>4}  {'team':<38} {'public AUC':>10}  {'95% CI':<17} {'entries':>7}  last submission"
    )
    for row in rows:
        lo, hi = row["public_auc_ci"]
        rank = "ref" if row["reference"] else row["rank"]
        print(
            f"{rank:>4}  {row['team']:<38} {row['public_auc']:>10.4f}  [{lo:.4f}, {hi:.4f}] "
            f"{row['entries']:>7}  {row['last_submission']}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a whole challenge locally.")
    parser.add_argument(
        "--data", type=Path, default=Path("data"), help="challenge folder (default: data)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("runs/demo"), help="models and leaderboard files"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="leaderboard port on 127.0.0.1 (default: 8000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny data and one-epoch training, for tests"
    )
    parser.add_argument(
        "--serve",
        action=argparse.BooleanOptionalAction,
        default=sys.stdin.isatty(),
        help="keep serving until Ctrl-C (default: when run from a terminal)",
    )
    args = parser.parse_args()
    data = args.workdir / "data" if args.quick else args.data
    started = time.monotonic()

    make_data(data, quick=args.quick)
    shutil.rmtree(args.workdir / "leaderboard", ignore_errors=True)  # each run starts a fresh board
    (args.workdir / "leaderboard").mkdir(parents=True)
    env = leaderboard_env(args.workdir, data)
    port = free_port(args.port)
    step(
        f"Starting the leaderboard on http://127.0.0.1:{port} (log: {args.workdir / 'leaderboard' / 'server.log'})"
    )
    server = start_server(env, port, args.workdir / "leaderboard" / "server.log")
    url = f"http://127.0.0.1:{port}"
    try:
        step("Registering two example teams")
        tokens = {name: register(url, name) for name in TEAMS}
        print("\n".join(f"{name}: token {token}" for name, token in tokens.items()))
        for name, model in TEAMS.items():
            step(f"Team {name} trains the {model} baseline and submits")
            submission = train(model, data, args.workdir, quick=args.quick)
            run("challenge", "validate", submission, "--data", data)
            run(
                "challenge",
                "submit",
                submission,
                "--url",
                url,
                "--token",
                tokens[name],
                "--note",
                f"{model} baseline",
            )
        for name, model in REFERENCES.items():
            step(f"The organizers add the reference row {name!r}")
            run(
                "leaderboard",
                "add-reference",
                name,
                train(model, data, args.workdir, quick=args.quick),
                env=env,
            )
        step(f"The leaderboard after {time.monotonic() - started:.0f} s")
        print_leaderboard(url)
        print(
            f"\nOpen {url}/ in a browser. Organizer page: {url}/admin, "
            f"token {env['LEADERBOARD_ADMIN_TOKEN']}"
        )
        if args.serve:
            print("Serving until Ctrl-C.", flush=True)
            server.wait()
    except KeyboardInterrupt:
        print("\nStopping.")
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
