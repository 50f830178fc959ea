"""Every shell command of the README and the guides (``docs/*.md``) runs as written, so that none
goes stale.

The commands come from the fenced ``bash`` blocks. Each block runs as one bash script (its
``export`` lines hold for the rest of the block) in a fixture environment: a small challenge in
``data/``, a leaderboard instance on SQLite with its tables, the files the guides name under
``runs/``. A command that cannot run here is in ``NOT_RUN`` with the reason (a server that runs
until stopped, a long run, the network, root, a placeholder value); one of the project's own
commands there must still parse: its command and options exist. ``SUBSTITUTED`` lists the few
commands that run with a change, and why.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

LONG = "a long run (minutes); the fixture's data/ is a small challenge made by the same command"
SERVER = (
    "a server that runs until stopped; tests/test_leaderboard_serving.py and the journeys run it"
)
PLACEHOLDER = "a placeholder value (a password, a host, a path on the organizer's server)"
ROOT_ONLY = "installs system packages or writes to /etc: the organizer's machine, as root"
NOT_RUN = {
    "make demo": "tests/test_demo.py runs the demo's reduced mode; the full one takes minutes",
    "make test": "the whole test suite: this test is part of it",
    ".venv/bin/pytest": "the test suite itself",
    "bash .ci/run": ROOT_ONLY,
    "pip install": "the network",
    "apt-get install": ROOT_ONLY,
    "createdb": "a PostgreSQL server (tests/conftest.py runs the suite on one when it is set)",
    "cp deploy/": ROOT_ONLY,
    "ln -s ../sites-available/": ROOT_ONLY,
    "certbot": ROOT_ONLY,
    "nginx -t": ROOT_ONLY,
    "systemctl": ROOT_ONLY,
    "gunicorn": SERVER,
    "leaderboard serve": SERVER,
    "leaderboard worker": SERVER,
    "challenge generate --preset": LONG,
    "challenge submit": "needs a running leaderboard: tests/test_journeys.py submits the same way",
    "export LEADERBOARD_INSTANCE=/path/to/clone": PLACEHOLDER,
    "export LEADERBOARD_DATABASE_URL=postgresql": PLACEHOLDER,
    "export LEADERBOARD_UPLOAD_FOLDER=/srv": PLACEHOLDER,
    "export LEADERBOARD_QUEUE_URL=redis://:PASSWORD": PLACEHOLDER,
    # A model challenge needs test.root in private/, which the fixture's challenge does not have.
    "export LEADERBOARD_SUBMISSIONS=models": "a model challenge (challenge generate --preset full "
    "--submissions models): tests/test_leaderboard_jobs.py runs one",
    "exercises run": "trains a lesson's networks: minutes (tests/test_exercises.py runs them)",
    "exercises check 3 --solution": "trains lesson 3's CNN: minutes (tests/test_exercises.py)",
    "exercises check 1 mywork/lesson1_logistic.py --report": "needs a running leaderboard: "
    "tests/test_exercises_report.py reports the same way",
    "exercises report": "needs a running leaderboard: tests/test_exercises_report.py",
    "export CHALLENGE_URL=https://challenge.example.org": PLACEHOLDER,
    "export CHALLENGE_TOKEN=...": PLACEHOLDER,
}
# The command as the guide writes it -> what runs here instead, and why.
SUBSTITUTED = {
    "baselines train cnn --data data": (
        "baselines train cnn --data data --dry-run",
        "--dry-run runs the whole pipeline in seconds instead of minutes of training",
    ),
    "/backups/": ("$BACKUPS/", "backups go to a temporary folder, not to the machine's /backups"),
}
# A skeleton's blanks are not filled in yet: `check` says which step fails, and exits 1.
EXPECTED_EXIT = {"exercises check 1 mywork/lesson1_logistic.py": 1}


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


def reason_not_run(command: Command) -> str | None:
    return next((why for start, why in NOT_RUN.items() if command.text.startswith(start)), None)


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


@pytest.mark.parametrize(
    "command",
    [c for c in every_command() if reason_not_run(c) and c.text.split()[0] in CLIS],
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


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder where the guides' commands run, and their environment: a small challenge in
    data/, a leaderboard instance with its tables, the prediction files the guides name."""
    here = tmp_path_factory.mktemp("docs")
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADERBOARD_")}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "LEADERBOARD_INSTANCE": str(here / "instance"),
        "LEADERBOARD_ANSWER_KEY": str(here / "data" / "private" / "answer_key.csv"),
        "LEADERBOARD_PUBLIC_DATA": str(here / "data" / "public"),
        "BACKUPS": str(here / "backups"),
    }
    run_cli(["challenge", "generate", "--n-train", "120", "--n-test", "120", "--record-length",
             "1024", "--seed", "7", "--out-dir", "data"], here, env)  # fmt: skip
    run_cli(["leaderboard", "init-db"], here, env)  # what `leaderboard serve` does first
    sample = pd.read_csv(here / "data" / "public" / "sample_submission.csv")
    named = ["runs/matched-filter/submission.csv", "runs/cnn/submission.csv",
             "runs/starter/submission.csv"]  # fmt: skip
    for seed, name in enumerate(named):  # different files: a reference row takes each once
        path = here / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sample.assign(score=np.random.default_rng(seed).random(len(sample))).to_csv(
            path, index=False
        )
    return here, env


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


def runnable_blocks() -> list[tuple[str, list[Command]]]:
    out = []
    for path in DOCS:
        for block in bash_blocks(path):
            kept = [c for c in block if reason_not_run(c) is None]
            if kept:
                out.append((f"{kept[0].doc}:{kept[0].line}", kept))
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("where", "block"), runnable_blocks(), ids=[w for w, _ in runnable_blocks()]
)
def test_every_command_of_the_docs_runs(place, where, block):
    here, env = place
    exports = []
    for command in block:
        text = substituted(command.text)
        if text.startswith("export "):
            exports.append(text)
            continue
        argv, after, output = expanded(text, exports, here, env)
        assert argv[0] in CLIS, f"{command}: not one of the project's commands; say why in NOT_RUN"
        expected = next((code for start, code in EXPECTED_EXIT.items()
                         if command.text.startswith(start)), 0)  # fmt: skip
        code = run_cli(argv, here, after, output)
        assert code == expected, (
            f"{command}\nexit {code}, expected {expected}:\n{run_cli.last_output}"
        )
