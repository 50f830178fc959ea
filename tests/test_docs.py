"""Every shell command of the README and the guides (``docs/*.md``) runs as written, so that none
goes stale.

The commands come from the fenced ``bash`` blocks. Each block runs as one bash script (its
``export`` lines hold for the rest of the block) in one of the fixture's places (``PLACES``): an
organizer's folder with a small challenge in ``data/``, a leaderboard instance on SQLite with its
tables and the files the guides name under ``runs/``; a model challenge's folder; a learner's.
A server (``leaderboard serve``, ``leaderboard worker``) starts as written, is waited for until
it answers, and runs until its block ends. ``SUBSTITUTED`` lists the commands that run with a
change, and why: placeholders take the fixture's real values (a leaderboard on loopback, a
database on the test PostgreSQL server, temporary folders), and root's commands run in a view of
the machine with temporary folders for /etc/nginx. A command that cannot run here is in
``NOT_RUN`` with the reason, or repeats a server that an earlier block starts (``REPEATED``);
one of the project's own commands there must still parse: its command and options exist.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest

from tests.conftest import POSTGRES_URL
from tests.hostile.harness import (
    LiveServer,
    free_port,
    live_server,
    make_site,
    register,
)
from tests.workers import READY_LINE, start_worker, stop, wait_for_log

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

LONG = "a long run (minutes); the fixture's data/ is a small challenge made by the same command"
NOT_RUN = {
    "make demo": "tests/test_demo.py runs the demo's reduced mode; the full one takes minutes",
    "make test": "the whole test suite: this test is part of it",
    ".venv/bin/pytest": "the test suite itself",
    "bash .ci/run": "installs Debian packages as root and runs the whole suite, this test included",
    "pip install": "the network (PyPI); the suite's environment has every extra (`make test` "
    "installs .[test])",
    "apt-get install": "installs Debian packages as root (.ci/services.sh installs these); even "
    "`apt-get install --simulate` takes 5 to 7 s here, reading the package lists",
    "export LEADERBOARD_QUEUE_URL=redis://:PASSWORD@10.0.0.1": "the settings of a worker on "
    "another machine, whose start here would repeat docs/models.md's (see REPEATED); "
    "tests/test_leaderboard_shared_files.py runs one on Redis and the database alone",
    "export LEADERBOARD_DATABASE_URL=postgresql+psycopg://leaderboard:PASSWORD@10.0.0.1": "the "
    "same worker's database, on the organizer's server",
    "certbot": "asks Let's Encrypt, over the network, for a certificate of a public name; the "
    "fixture puts a self-signed pair where certbot writes its own",
    "systemctl": "no systemd here; `nginx -t` before it checks the configuration it would load",
    "challenge generate --preset": LONG,
    "exercises run": "trains a lesson's networks: minutes (tests/test_exercises.py runs them)",
    "exercises check 3 --solution": "trains lesson 3's CNN: minutes (tests/test_exercises.py)",
}
# The command as the guide writes it -> what runs here instead, and why. A $NAME is the
# fixture's (see ``places``).
SUBSTITUTED = {
    "baselines train cnn --data data": (
        "baselines train cnn --data data --dry-run",
        "--dry-run runs the whole pipeline in seconds instead of minutes of training",
    ),
    "/backups/": ("$BACKUPS/", "backups go to a temporary folder, not to the machine's /backups"),
    "/path/to/clone/runs/demo/leaderboard": (
        "$PWD/instance",
        "the fixture's leaderboard instance stands for the one `make demo` leaves",
    ),
    "--host 0.0.0.0 --port 8000": (
        "--host 127.0.0.1 --port $PORT",
        "loopback, on a free port: 8000 may be taken",
    ),
    "gunicorn --config deploy/gunicorn.conf.py": (
        "gunicorn --config deploy/gunicorn.conf.py --bind 127.0.0.1:$PORT",
        "a free port instead of the config's 127.0.0.1:8000, which may be taken",
    ),
    "createdb leaderboard": (
        "createdb $CREATED_DATABASE",
        "a name of its own on the shared test server (LEADERBOARD_TEST_POSTGRES_URL), dropped "
        "afterwards",
    ),
    "postgresql+psycopg://leaderboard:PASSWORD@127.0.0.1/leaderboard": (
        "$CREATED_DATABASE_URL",
        "the database that `createdb` made just before",
    ),
    "/srv/leaderboard/submissions": ("$UPLOADS", "a temporary folder"),
    "http://LEADERBOARD --token YOUR_TEAM_TOKEN": (
        "$BOARD_URL --token $TEAM_TOKEN",
        "a leaderboard that the fixture runs on loopback, and a team registered there",
    ),
    "export CHALLENGE_URL=https://challenge.example.org": (
        "export CHALLENGE_URL=$BOARD_URL",
        "the fixture's leaderboard on loopback",
    ),
    "export CHALLENGE_TOKEN=...": (
        "export CHALLENGE_TOKEN=$TEAM_TOKEN",
        "a team registered on the fixture's leaderboard",
    ),
    "cp deploy/nginx": (
        "$AS_ROOT cp deploy/nginx",
        "as root, in a view of the machine (bubblewrap) where /etc/nginx, /etc/letsencrypt, "
        "/var/log/nginx and /run are temporary folders: the command as written, and the "
        "machine's own files untouched",
    ),
    "ln -s ../sites-available/leaderboard": (
        "$AS_ROOT ln -s ../sites-available/leaderboard",
        "the same view of /etc/nginx",
    ),
    "nginx -t": ("$AS_ROOT nginx -t", "the same view: Debian's nginx.conf reads the copied files"),
}
# Fixture variables that exist only when the suite has the server: a block that uses one is
# skipped without it.
SERVICES = {
    "CREATED_DATABASE": "LEADERBOARD_TEST_POSTGRES_URL",
    "AS_ROOT": "root (`nginx -t` binds ports 80 and 443 and gives its temporary folders to "
    "www-data), Debian's nginx and bubblewrap",
}
# A skeleton's blanks are not filled in yet: `check` says which step fails, and exits 1.
EXPECTED_EXIT = {"exercises check 1 mywork/lesson1_logistic.py": 1}
# Blocks that run elsewhere than in the organizer's folder: a block with a command that starts
# with the key runs in that place of the fixture.
PLACES = {
    "challenge generate --preset full --submissions models": "models",
    "exercises start 1 mywork/": "learner",
    "exercises report": "course",
}
# A command that runs until stopped costs 6 to 15 s to start here (imports, the sandbox's
# check); one that the guides repeat word for word starts in its first block only.
REPEATED = "the same command as {first}, which starts it"
SERVER_STARTS = ("leaderboard serve", "leaderboard worker", "gunicorn")  # SERVERS' keys


@dataclass(frozen=True)
class Command:
    doc: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def bash_blocks(path: Path) -> list[list[Command]]:
    """The commands of each fenced bash block, one per line (continuations joined, comments and
    a trailing ``&`` taken off, ``a && b`` split)."""
    blocks, current, doc = [], None, path.relative_to(ROOT).as_posix()
    pending, start = "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            if current is None and line.strip() in ("```bash", "```sh", "```shell"):
                current = []
            elif current is not None:
                blocks.append(current)
                current = None
            continue
        if current is None:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = uncomment(pending + line)
        pending = ""
        for part in text.split(" && "):
            part = part.strip().removesuffix("&").strip()
            if part:
                current.append(Command(doc, start, part))
    return blocks


def uncomment(line: str) -> str:
    """``line`` without its shell comment: a ``#`` that starts a word, outside quotes."""
    quote = None
    for position, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or line[position - 1].isspace()):
            return line[:position].strip()
    return line.strip()


def every_command() -> list[Command]:
    return [command for path in DOCS for block in bash_blocks(path) for command in block]


def not_run() -> dict[Command, str]:
    """The commands that do not run here, each with its reason: NOT_RUN's, or REPEATED."""
    found, started = {}, {}
    for command in every_command():
        why = next((why for start, why in NOT_RUN.items() if command.text.startswith(start)), None)
        if why is None and command.text.startswith(SERVER_STARTS):
            if command.text in started:
                why = REPEATED.format(first=started[command.text])
            else:
                started[command.text] = f"{command.doc}:{command.line}"
        if why is not None:
            found[command] = why
    return found


def substituted(text: str) -> str:
    for written, (instead, _) in SUBSTITUTED.items():
        text = text.replace(written, instead)
    return text


CLIS = ("challenge", "baselines", "leaderboard", "exercises")


def cli_of(name: str) -> click.Command:
    module = __import__(f"{name}.cli", fromlist=["main"])
    return module.main


def check_parses(argv: list[str]) -> None:
    """Raise click.UsageError unless ``argv`` names an existing command with existing options
    and the right number of arguments (values are not converted: files need not exist)."""
    command = cli_of(argv[0])
    args = argv[1:]
    context = click.Context(command, info_name=argv[0])
    while isinstance(command, click.Group):
        parser = command.make_parser(context)
        _, rest, _ = parser.parse_args(args)
        if not rest:
            return
        name, sub, args = command.resolve_command(context, rest)
        if sub is None:
            raise click.UsageError(f"no command {name!r}")
        command, context = sub, click.Context(sub, info_name=name, parent=context)
    values, rest, _ = command.make_parser(context).parse_args(args)
    if rest:
        raise click.UsageError(f"unexpected arguments {rest}")


def test_the_docs_have_commands_and_every_reason_is_used():
    commands = every_command()
    assert len(commands) > 40
    docs = {command.doc for command in commands}
    assert {"README.md", "docs/participant.md", "docs/organizer.md"} <= docs
    used = {start for start in NOT_RUN if any(c.text.startswith(start) for c in commands)}
    assert used == set(NOT_RUN), (
        f"reasons for commands the docs no longer have: {set(NOT_RUN) - used}"
    )
    for written in SUBSTITUTED:
        assert any(written in c.text for c in commands), f"no command has {written!r} any more"
    assert set(SERVERS) == set(SERVER_STARTS)


@pytest.mark.parametrize(
    "command",
    [c for c in not_run() if c.text.split()[0] in CLIS],
    ids=str,
)
def test_a_command_not_run_here_still_parses(command):
    check_parses(shlex.split(command.text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    inside, found = False, set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and (match := re.match(r"^#{1,6} (.*)$", line)):
            found.add(slug(match.group(1)))
    return found


def test_every_link_of_the_docs_reaches_a_file_and_a_heading():
    broken = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


def test_a_stale_command_or_option_does_not_parse():
    check_parses(["challenge", "validate", "x.csv", "--data", "data"])
    for stale in (["challenge", "valdate", "x.csv"], ["challenge", "validate", "x.csv", "--dta", "d"],
                  ["leaderboard", "serve", "--hots", "0.0.0.0"]):  # fmt: skip
        with pytest.raises(click.UsageError):
            check_parses(stale)


# ----------------------------------------------------------------------------- the fixture


@dataclass(frozen=True)
class Place:
    """A folder where blocks run (PLACES), and the environment they start with."""

    folder: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> Iterator[dict[str, Place]]:
    """The places where the guides' blocks run (PLACES), each with the fixture's variables
    that SUBSTITUTED names: a leaderboard on loopback with a team there, a database name for
    `createdb`, a view of the machine for root's commands."""
    here = tmp_path_factory.mktemp("docs")
    base = {
        name: value for name, value in os.environ.items() if not name.startswith("LEADERBOARD_")
    }
    base["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    folders = {"organizer": organizer_place(here / "organizer", base),
               "models": models_place(here / "models", base),
               "course": course_place(here / "course", base)}  # fmt: skip
    organizer = folders["organizer"].env
    with ExitStack() as stack:
        board = stack.enter_context(
            live_server(make_site(here / "board"),
                        LEADERBOARD_ANSWER_KEY=organizer["LEADERBOARD_ANSWER_KEY"],
                        LEADERBOARD_PUBLIC_DATA=organizer["LEADERBOARD_PUBLIC_DATA"])
        )  # fmt: skip
        variables = {
            "BACKUPS": str(here / "backups"),
            "UPLOADS": str(here / "uploads"),
            "BOARD_URL": board.url,
            "TEAM_TOKEN": register(board.url, "Readers of the docs"),
            **created_database(stack),
            **root_view(here / "root"),
        }
        # A learner of the course: CHALLENGE_URL and CHALLENGE_TOKEN set as docs/course.md says.
        learner = {"CHALLENGE_URL": board.url, "CHALLENGE_TOKEN": variables["TEAM_TOKEN"]}
        (here / "learner").mkdir()
        folders["learner"] = Place(here / "learner", base | learner)
        yield {name: Place(place.folder, place.env | variables) for name, place in folders.items()}


def challenge_settings(folder: Path) -> dict[str, str]:
    """The leaderboard's settings for the challenge in ``folder``/data and its instance."""
    return {
        "LEADERBOARD_INSTANCE": str(folder / "instance"),
        "LEADERBOARD_ANSWER_KEY": str(folder / "data" / "private" / "answer_key.csv"),
        "LEADERBOARD_PUBLIC_DATA": str(folder / "data" / "public"),
    }


# The organizer guide's later blocks continue from its first one, which sets this too.
SECRET_KEY = {"LEADERBOARD_SECRET_KEY": "the-organizers-secret-key-0123456789"}


def organizer_place(folder: Path, base: dict[str, str]) -> Place:
    """A clone's folder (deploy/) with a small challenge in data/, a leaderboard instance with
    its tables, and the prediction files the guides name."""
    folder.mkdir()
    (folder / "deploy").symlink_to(ROOT / "deploy")
    env = base | challenge_settings(folder) | SECRET_KEY
    run_cli(["challenge", "generate", "--n-train", "120", "--n-test", "120", "--record-length",
             "1024", "--seed", "7", "--out-dir", "data"], folder, env)  # fmt: skip
    run_cli(["leaderboard", "init-db"], folder, env)  # what `leaderboard serve` does first
    sample = pd.read_csv(folder / "data" / "public" / "sample_submission.csv")
    named = ["runs/matched-filter/submission.csv", "runs/cnn/submission.csv",
             "runs/starter/submission.csv"]  # fmt: skip
    for seed, name in enumerate(named):  # different files: a reference row takes each once
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sample.assign(score=np.random.default_rng(seed).random(len(sample))).to_csv(
            path, index=False
        )
    return Place(folder, env)


def models_place(folder: Path, base: dict[str, str]) -> Place:
    """A model challenge's folder: data/ from the guides' command at a small size."""
    folder.mkdir()
    env = base | challenge_settings(folder)
    generate = ["challenge", "generate", "--preset", "full", "--submissions", "models",
                "--n-train", "20", "--n-test", "100", "--record-length", "256", "--seed", "7",
                "--out-dir", "data"]  # fmt: skip
    assert run_cli(generate, folder, env) == 0, run_cli.last_output
    return Place(folder, env)


def course_place(folder: Path, base: dict[str, str]) -> Place:
    """A learner's folder after the participant guide's `exercises start 1 mywork/`."""
    folder.mkdir()
    assert run_cli(["exercises", "start", "1", "mywork/"], folder, base) == 0, run_cli.last_output
    return Place(folder, base)


def created_database(stack: ExitStack) -> dict[str, str]:
    """CREATED_DATABASE, a name for `createdb` on the test PostgreSQL server, its URL, and
    libpq's variables for that server; the database is dropped at the end."""
    if not POSTGRES_URL:
        return {}
    from sqlalchemy import make_url

    url = make_url(POSTGRES_URL)
    name = f"docs_{uuid.uuid4().hex[:12]}"
    variables = {"PGHOST": url.host, "PGPORT": str(url.port or 5432), "PGUSER": url.username,
                 "PGPASSWORD": url.password or "", "CREATED_DATABASE": name,
                 "CREATED_DATABASE_URL": url.set(database=name).render_as_string(False)}  # fmt: skip
    drop = ["dropdb", "--if-exists", "--force", name]
    stack.callback(subprocess.run, drop, env=os.environ | variables, check=True, timeout=60)
    return variables


def root_view(folder: Path) -> dict[str, str]:
    """AS_ROOT, for root: bubblewrap, showing this machine with /etc/nginx a copy of Debian's,
    /etc/letsencrypt holding a self-signed pair where certbot writes its certificate,
    /var/log/nginx and /run (where `nginx -t` opens its pid file), all in ``folder``; the rest
    of /etc read-only."""
    if os.geteuid() != 0 or not (Path("/etc/nginx").is_dir() and shutil.which("bwrap")):
        return {}
    own = {"/etc/nginx": folder / "nginx", "/etc/letsencrypt": folder / "letsencrypt",
           "/var/log/nginx": folder / "log", "/run": folder / "run"}  # fmt: skip
    shutil.copytree("/etc/nginx", own["/etc/nginx"], symlinks=True)
    live = own["/etc/letsencrypt"] / "live" / "leaderboard.example.org"
    live.mkdir(parents=True)
    own["/var/log/nginx"].mkdir()
    own["/run"].mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=leaderboard.example.org", "-keyout", str(live / "privkey.pem"),
                    "-out", str(live / "fullchain.pem")], check=True, capture_output=True,
                   timeout=60)  # fmt: skip
    # A network of its own: `nginx -t` binds ports 80 and 443. No write reaches the real /etc.
    view = ["bwrap", "--unshare-net", "--dev-bind", "/", "/", "--tmpfs", "/etc"]
    for entry in sorted(Path("/etc").iterdir()):
        if str(entry) in own:
            continue
        if entry.is_symlink():
            view += ["--symlink", os.readlink(entry), str(entry)]
        else:
            view += ["--ro-bind", str(entry), str(entry)]
    for path, source in own.items():
        view += ["--bind", str(source), path]
    assert not any(re.search(r"\s", word) for word in view), view  # one word each, unquoted
    return {"AS_ROOT": " ".join(view)}


def run_cli(argv: list[str], cwd: Path, env: dict[str, str], output: Path | None = None) -> int:
    """Run one of the project's commands in this process (no interpreter to start), as a shell
    would in ``cwd`` with ``env``; its standard output goes to ``output`` if given. Exit code."""
    from click.testing import CliRunner

    before = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli_of(argv[0]), argv[1:], env=changed(env))
    finally:
        os.chdir(before)
    if output is not None:
        (cwd / output).write_text(result.stdout)
    if result.exit_code not in (0, 1):  # an uncaught exception: show it
        raise AssertionError(f"{argv}: {result.output}") from result.exception
    run_cli.last_output = result.output
    return result.exit_code


def changed(env: dict[str, str]) -> dict[str, str | None]:
    """``env`` as CliRunner sets it: these values, and every other variable removed."""
    return {**{name: None for name in os.environ if name not in env}, **env}


def shell(script: str, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=60, check=True)  # fmt: skip
    return result.stdout


def expanded(command: str, exports: list[str], cwd: Path, env: dict[str, str]):
    """(argv, the environment after the block's exports, the file of a ``> FILE``): bash expands
    the words, ``$(...)`` and the variables as it would run them."""
    command, _, output = command.partition(" > ")
    prelude = "set -e\n" + "\n".join(exports) + "\n"
    argv = shell(prelude + f"printf '%s\\0' {command}", cwd, env).split("\0")[:-1]
    lines = shell(prelude + "env -0", cwd, env).split("\0")[:-1]
    after = dict(line.split("=", 1) for line in lines)
    return argv, after, Path(output.strip()) if output else None


def runnable_blocks() -> list[tuple[str, str, list[Command]]]:
    """(where, the place it runs in, the commands that run) of each block with some."""
    out, skipped = [], not_run()
    for path in DOCS:
        for block in bash_blocks(path):
            kept = [c for c in block if c not in skipped]
            place = next((name for start, name in PLACES.items()
                          if any(c.text.startswith(start) for c in block)), "organizer")  # fmt: skip
            if kept:
                out.append((f"{kept[0].doc}:{kept[0].line}", place, kept))
    return out


@contextmanager
def answering(argv: list[str], env: dict[str, str], cwd: Path) -> Iterator[None]:
    """A web server on $PORT, once it answers GET /api/health; stopped at the end."""
    server = LiveServer(argv, env, int(env["PORT"]), cwd)
    try:
        server.start()
        yield
    finally:
        server.stop()


@contextmanager
def working(argv: list[str], env: dict[str, str], cwd: Path) -> Iterator[None]:
    """A `leaderboard worker`, once it logs that it takes tasks; stopped at the end."""
    folder = Path(tempfile.mkdtemp(prefix="worker-", dir=cwd))
    worker = start_worker(env, folder / "log", folder / "tmp", cwd, command=argv)
    try:
        wait_for_log(worker, READY_LINE)
        yield
    finally:
        stop(worker)


# Commands that run until stopped: each starts as written, is waited for until it answers, and
# runs until its block ends (the guides' later lines go to "another terminal").
SERVERS = {"leaderboard serve": answering, "leaderboard worker": working, "gunicorn": answering}


def run_program(argv: list[str], cwd: Path, env: dict[str, str], output: Path | None) -> str:
    """Run a program that is not one of the project's; its output, or AssertionError."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout}{done.stderr}"
    if output is not None:
        (cwd / output).write_text(done.stdout)
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("where", "place", "block"), runnable_blocks(), ids=[w for w, _, _ in runnable_blocks()]
)
def test_every_command_of_the_docs_runs(places, where, place, block):
    folder, env = places[place].folder, places[place].env | {"PORT": str(free_port())}
    exports = []
    with ExitStack() as servers:  # each runs from its line to the end of the block
        for command in block:
            text = substituted(command.text)
            missing = [name for name in SERVICES if f"${name}" in text and name not in env]
            if missing:
                pytest.skip(f"{command}: needs {SERVICES[missing[0]]}")
            if text.startswith("export "):
                exports.append(text)
                continue
            argv, after, output = expanded(text, exports, folder, env)
            server = next((start for written, start in SERVERS.items()
                           if command.text.startswith(written)), None)  # fmt: skip
            if server is not None:
                servers.enter_context(server(argv, after, folder))
            elif argv[0] in CLIS:
                expected = next((code for start, code in EXPECTED_EXIT.items()
                                 if command.text.startswith(start)), 0)  # fmt: skip
                code = run_cli(argv, folder, after, output)
                assert code == expected, (
                    f"{command}\nexit {code}, expected {expected}:\n{run_cli.last_output}"
                )
            else:
                try:
                    run_program(argv, folder, after, output)
                except AssertionError as error:
                    raise AssertionError(f"{command}\n{error}") from None
