"""Runs a whole challenge on this machine: data, leaderboard, two teams, baselines, references.

    python demo.py              # what `make demo` runs; serves until Ctrl-C (SIGINT)
    python demo.py --quick      # tiny data and one epoch, for a smoke test
    python demo.py --no-serve   # for scripts: stop the server once the board is printed
    python demo.py --models     # model submissions: teams upload ONNX models, a worker scores them

Every step calls the same command lines that teams and organizers use, so the output doubles
as a tour of them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
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
QUICK_MODEL_WALL_S = 10.0  # the baselines run in well under a second on --quick's data
MODELS_DATA = Path("data/models")  # the --models challenge; data/ holds the default one


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run(*args, env: dict | None = None) -> str:
    """Run one of the project's commands, echoing it as shell; returns its standard output."""
    print("$ " + shlex.join(map(str, args)), flush=True)
    done = subprocess.run(
        [str(BIN / args[0]), *map(str, args[1:])],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        sys.exit(f"demo: `{shlex.join(map(str, args))}` failed with exit status {done.returncode}")
    return done.stdout


def make_data(data: Path, *, quick: bool, models: bool) -> None:
    submissions = "models" if models else "predictions"
    test_root = data / ("private" if models else "public") / "test.root"
    if not quick and test_root.exists() and (data / "private" / "answer_key.csv").exists():
        step(f"Using the challenge already in {data}/ (delete it to generate a new one)")
        return
    kind = " of model submissions" if models else ""
    step(f"Generating the {'tiny' if quick else 'demo'} challenge{kind} in {data}/")
    run(
        "challenge",
        "generate",
        "--preset",
        "demo",
        "--out-dir",
        data,
        *(["--submissions", submissions] if models else []),
        *(QUICK_DATA + ["--quiet"] if quick else []),
        # The demo regenerates only data it cannot use (--quick's scratch data, or a challenge of
        # the other kind): it replaces them, and the old private/ stays as a dated backup.
        "--force",
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


def write_instance(instance: Path, data: Path, *, models: bool, quick: bool) -> dict[str, str]:
    """Write the board's settings to ``instance/config.py``; returns them.

    The server, the worker and every ``leaderboard`` command read this one file through
    ``LEADERBOARD_INSTANCE``, so the organizer's commands reach the demo's board. The database,
    the stored files and the queue go to the instance folder by default. The file holds the
    organizer token and the secret key, so only its owner may read it.
    """
    settings = {
        "ANSWER_KEY": str((data / "private" / "answer_key.csv").resolve()),
        "ADMIN_TOKEN": secrets.token_urlsafe(32),
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": False,  # plain http on localhost
        "PUBLIC_DATA": str((data / "public").resolve()),  # downloads on /data
        # The demo prints the board right after its own uploads: wait for the new board, as a
        # deployment's readers do only for half a second (LEADERBOARD_BOARD_WAIT_S).
        "BOARD_WAIT_S": 60.0,
    }
    if models:  # test.root stays in private/, beside the answer key, where the worker finds it
        settings["SUBMISSIONS"] = "models"
        if quick:  # a worker shows each run at a tenth of the wall limit: 1 s here, not 6 s
            settings["MODEL_WALL_S"] = QUICK_MODEL_WALL_S
        if not sandbox_isolated():
            settings["MODEL_REQUIRE_ISOLATION"] = False
    lines = [
        "# The demo's leaderboard settings, written by demo.py (it rewrites them on every run)."
    ]
    lines += [f"{key} = {value!r}" for key, value in settings.items()]
    descriptor = os.open(instance / "config.py", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as config:
        config.write("\n".join(lines) + "\n")
    return settings


def instance_env(instance: Path) -> dict[str, str]:
    """This environment, with the demo's instance folder as the only leaderboard setting.

    ``LEADERBOARD_*`` variables of the caller would override the instance file, so they go.
    """
    kept = {k: v for k, v in os.environ.items() if not k.startswith("LEADERBOARD_")}
    return {**kept, "LEADERBOARD_INSTANCE": str(instance.resolve())}


def sandbox_isolated() -> bool:
    """Whether this machine confines models as the leaderboard's workers require by default
    (bubblewrap and python3-seccomp); without them the demo's worker runs with rlimits only."""
    from challenge.sandbox import SandboxLimits, isolation

    return all(isolation(SandboxLimits()))


def start_process(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start one of the project's commands in its own session, so that Ctrl-C reaches only this
    script, with its output in ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    """Start `leaderboard serve` and wait until it answers."""
    server = start_process(
        ["leaderboard", "serve", "--host", "127.0.0.1", "--port", str(port)], env, log
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
    stop(server)
    sys.exit(f"demo: the leaderboard did not answer within 60 s; see {log}")


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    """Start `leaderboard worker` (the SQLite queue in the instance folder) and wait until it
    takes tasks."""
    print("$ leaderboard worker", flush=True)
    worker = start_process(["leaderboard", "worker"], env, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            sys.exit(f"demo: the worker did not start:\n{log.read_text()[-2000:]}")
        if "worker ready" in log.read_text():
            return worker
        time.sleep(0.2)
    stop(worker)
    sys.exit(f"demo: the worker was not ready within 60 s; see {log}")


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """Stop a server or worker and everything it started (its session)."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
        "--out-dir",
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
        digits = row.get("public_digits", 4)  # the Ladder rounds to what the public split resolves
        print(
            f"{rank:>4}  {row['team']:<38} {row['public_auc']:>10.{digits}f}  "
            f"[{lo:.{digits}f}, {hi:.{digits}f}] {row['entries']:>7}  {row['last_submission']}"
        )
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run a whole challenge locally.")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"challenge folder (default: data, {MODELS_DATA} with --models)",
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
        "--models",
        action="store_true",
        help="model submissions: a challenge whose test records stay with the leaderboard "
        f"(in {MODELS_DATA}/ unless --data is given); the teams export their baselines to ONNX, "
        "check and upload them, and a `leaderboard worker` scores them",
    )
    parser.add_argument(
        "--serve",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep serving until Ctrl-C (SIGINT), whatever stdin is; --no-serve stops once the "
        "board is printed, for scripts (default: serve)",
    )
    return parser.parse_args(argv)


def stop_on_signals() -> None:
    """Ctrl-C (SIGINT) ends the demo even when started in the background, which ignores SIGINT;
    SIGTERM and SIGHUP end it too, so that the server, in its own session, never outlives it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) is not signal.SIG_IGN:  # nohup keeps SIGHUP ignored
            signal.signal(number, signal.default_int_handler)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    stop_on_signals()
    data = args.data or (MODELS_DATA if args.models else Path("data"))
    data = args.workdir / "data" if args.quick else data
    instance = args.workdir / "leaderboard"
    started = time.monotonic()

    make_data(data, quick=args.quick, models=args.models)
    shutil.rmtree(instance, ignore_errors=True)  # each run starts a fresh board
    instance.mkdir(parents=True)
    settings = write_instance(instance, data, models=args.models, quick=args.quick)
    env = instance_env(instance)
    port = free_port(args.port)
    url = f"http://127.0.0.1:{port}"
    env["LEADERBOARD_PUBLIC_URL"] = url  # what the token page tells teams to pass to --url
    step(f"Starting the leaderboard on {url} (log: {instance / 'server.log'})")
    print(
        f"Its settings are in {instance / 'config.py'}; the `leaderboard` command finds them with"
    )
    print(f"$ export LEADERBOARD_INSTANCE={shlex.quote(env['LEADERBOARD_INSTANCE'])}", flush=True)
    server = start_server(env, port, instance / "server.log")
    worker = None
    try:
        if args.models:
            step(
                f"Starting a worker that scores the uploaded models (log: {instance / 'worker.log'})"
            )
            if "MODEL_REQUIRE_ISOLATION" in settings:
                print(
                    "bubblewrap or python3-seccomp is missing here: the worker confines models "
                    "with rlimits only (MODEL_REQUIRE_ISOLATION = False in the demo's settings)"
                )
            worker = start_worker(env, instance / "worker.log")
        play(url, data, args, env)
        step(f"The leaderboard after {time.monotonic() - started:.0f} s")
        print_leaderboard(url)
        print(closing_words(url, settings["ADMIN_TOKEN"], env["LEADERBOARD_INSTANCE"], args.serve))
        if args.serve:
            print(f"Serving on {url} until Ctrl-C.", flush=True)
            server.wait()
            sys.exit(f"demo: the leaderboard stopped by itself; see {instance / 'server.log'}")
    except KeyboardInterrupt:
        print("\nStopping.", flush=True)
    finally:
        stop(worker, signal.SIGINT)  # a worker finishes the model it runs, then stops
        stop(server)


def closing_words(url: str, admin_token: str, instance: str, serve: bool) -> str:
    """What to do with the board now: browse it while it is served; with --no-serve the server
    stops, and only the organizer's commands, which need no server, still work on its files."""
    export = f"  export LEADERBOARD_INSTANCE={shlex.quote(instance)}\n  leaderboard status"
    if not serve:
        return (
            "\nThe server stops now (--no-serve); run the demo without --no-serve to browse the "
            "board.\nThe organizer's commands work on this board's files:\n" + export
        )
    return (
        f"\nOpen {url}/ in a browser. Organizer page: {url}/admin, token {admin_token}\n"
        "The organizer's commands work on this board in another terminal:\n" + export
    )


def play(url: str, data: Path, args: argparse.Namespace, env: dict[str, str]) -> None:
    """Two teams register, train on the public files and submit (prediction files, or ONNX models
    that the worker scores); the organizers, who hold test.root, add the reference rows."""
    team_data = data
    if args.models:  # what teams get: public/ alone, no test.root
        team_data = args.workdir / "team-data"
        shutil.rmtree(team_data, ignore_errors=True)
        team_data.mkdir(parents=True)
        (team_data / "public").symlink_to((data / "public").resolve())
    step("Registering two example teams")
    tokens = {name: register(url, name) for name in TEAMS}
    print("\n".join(f"{name}: token {token}" for name, token in tokens.items()))
    for name, model in TEAMS.items():
        what = "exports it to ONNX, checks it and uploads it" if args.models else "submits"
        step(f"Team {name} trains the {model} baseline and {what}")
        upload = team_upload(model, team_data, args)
        run("challenge", "submit", upload, "--url", url, "--token", tokens[name],
            "--note", f"{model} baseline" + (" (ONNX)" if args.models else ""))  # fmt: skip
    for name, model in REFERENCES.items():
        step(f"The organizers add the reference row {name!r} (prediction file on their test.root)")
        submission = train(model, data, args.workdir, quick=args.quick)
        run("leaderboard", "add-reference", name, submission, env=env)


def team_upload(model: str, team_data: Path, args: argparse.Namespace) -> Path:
    """Train ``model`` and make what a team uploads, checked as a team would check it: the
    prediction file, validated, or the model exported to ONNX and checked."""
    submission = train(model, team_data, args.workdir, quick=args.quick)
    if not args.models:
        run("challenge", "validate", submission, "--data", team_data)
        return submission
    onnx = args.workdir / model / "model.onnx"
    run("baselines", "export", args.workdir / model / "checkpoint.pt", "--data", team_data,
        "-o", onnx)  # fmt: skip
    run("challenge", "check-model", onnx, "--data", team_data)
    return onnx


if __name__ == "__main__":
    main()
