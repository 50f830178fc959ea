"""The four commands agree: -h/--help and --version everywhere, one meaning per option name
(--out-dir DIR for folders, -o/--output FILE for files), old spellings with a note, plain defaults."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from baselines.cli import main as baselines
from challenge.cli import main as challenge
from exercises.cli import main as exercises
from leaderboard.cli import main as leaderboard

COMMANDS = {"challenge": challenge, "baselines": baselines, "leaderboard": leaderboard,
            "exercises": exercises}  # fmt: skip


def every_command() -> list[tuple[str, list[str], click.Command]]:
    """(program, subcommand path, command) for each group and command, recursively."""
    found = []

    def walk(program: str, path: list[str], command: click.Command) -> None:
        found.append((program, path, command))
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                walk(program, [*path, name], sub)

    for program, group in COMMANDS.items():
        walk(program, [], group)
    return found


EVERY = every_command()


@pytest.mark.parametrize(("program", "path", "command"), EVERY,
                         ids=[" ".join([p, *path]) for p, path, _ in EVERY])  # fmt: skip
def test_every_command_has_help(program, path, command):
    for flag in ("-h", "--help"):
        result = CliRunner().invoke(COMMANDS[program], [*path, flag], prog_name=program)
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"Usage: {' '.join([program, *path])} "), result.output
    text = result.output
    assert "5000" not in text  # the leaderboard serves on 8000
    assert not re.search(r"\[default: [^\]]*\d\.\d{4,}", text), text  # 52.4288-like defaults
    assert "(open)" not in text


@pytest.mark.parametrize(("program", "path", "command"), EVERY,
                         ids=[" ".join([p, *path]) for p, path, _ in EVERY])  # fmt: skip
def test_one_meaning_per_option_name(program, path, command):
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        names = set(param.opts) | set(param.secondary_opts)
        assert "--out" not in names, f"{program} {' '.join(path)}: --out is --out-dir or --output"
        kind = param.type
        if isinstance(kind, click.Path) and ({"--out-dir", "--output"} & names):
            is_folder = not kind.file_okay and kind.dir_okay
            expected = "--out-dir" if is_folder else "--output"
            assert expected in names, f"{program} {' '.join(path)} {sorted(names)}"
            if expected == "--output":
                assert "-o" in names


@pytest.mark.parametrize("program", COMMANDS)
def test_version_and_short_help_from_the_installed_scripts(program):
    script = Path(sys.executable).parent / program
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"{program} {version('darkmatter-challenge')}\n"
    done = subprocess.run([str(script), "-h"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith(f"Usage: {program} ")


@pytest.mark.parametrize(
    ("program", "args", "new"),
    [
        ("challenge", ["plot", "--data", "nowhere", "--out", "p.png"], "--output"),
        ("challenge", ["generate", "--n-test", "0", "--out", "nowhere"], "--out-dir"),
        ("baselines", ["predict", "missing.pt", "--out", "s.csv"], "--output"),
        ("baselines", ["train", "logit", "--data", "nowhere", "--out=runs/x"], "--out-dir"),
        ("exercises", ["run", "99", "--out", "figures"], "--out-dir"),
    ],
)
def test_old_spellings_still_work_with_a_note(program, args, new, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(COMMANDS[program], args, prog_name=program)
    assert result.exit_code != 0  # each fails later, on its missing input, not on the option
    command = " ".join([program, args[0]])
    assert f"note: {command} --out is now {new}; --out still works\n" in result.stderr
    assert "no such option" not in result.output.lower()
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_note_never_touches_arguments_after_a_double_dash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(challenge, ["plot", "--data", "nowhere", "--", "--out"])
    assert result.exit_code == 2
    assert "note:" not in result.stderr and "Got unexpected extra argument (--out)" in result.output
