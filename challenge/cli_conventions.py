"""What the project's four commands (challenge, baselines, leaderboard, exercises) share:
-h/--help and --version everywhere, and old option spellings that keep working with a note.

One meaning per option name: ``--out-dir DIR`` names a folder and ``-o/--output FILE`` a file.
A command renames an option with ``@main.command(renamed={"--out": "--out-dir"})``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}
DISTRIBUTION = "darkmatter-challenge"


def project_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def version_option():
    """``--version``: the project's version, the same for all four commands."""
    return click.version_option(project_version(), "--version", message="%(prog)s %(version)s")


def out_dir_option(*, help: str, default: Path | None = None, required: bool = False):
    """``--out-dir DIR``: the folder a command writes into, passed to it as ``out``.

    The default is shown in the help when there is one; ``help`` says what goes in the folder.
    """
    return click.option(
        "--out-dir",
        "out",
        type=click.Path(file_okay=False, path_type=Path),
        default=default,
        required=required,
        show_default=True if default is not None else None,  # None: click's own default
        help=help,
    )


def output_option(default: str, *, help: str):
    """``-o/--output FILE``: the one file a command writes, passed to it as ``out``."""
    return click.option(
        "-o",
        "--output",
        "out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help=help,
    )


def data_option(*, help: str, dest: str = "data"):
    """``--data DIR``: a challenge folder made by ``challenge generate`` (default ``data``)."""
    return click.option(
        "--data",
        dest,
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("data"),
        show_default=True,
        help=help,
    )


def quiet_option():
    """``--quiet``: no progress bar."""
    return click.option("--quiet", is_flag=True, help="No progress bar.")


class Command(click.Command):
    """A command whose renamed options still work under their old spelling, with a note on stderr.

    ``renamed`` maps an old spelling to the new one (``{"--out": "--out-dir"}``).
    """

    def __init__(self, *args, renamed: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.renamed = dict(renamed or {})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._modern(ctx, args))

    def _modern(self, ctx: click.Context, args: list[str]) -> list[str]:
        modern = []
        for index, arg in enumerate(args):
            if arg == "--":  # what follows is no option
                return modern + args[index:]
            old, sep, value = arg.partition("=")
            if old in self.renamed:
                new = self.renamed[old]
                click.echo(f"note: {ctx.command_path} {old} is now {new}; {old} still works",
                           err=True)  # fmt: skip
                arg = new + sep + value
            modern.append(arg)
        return modern


class Group(click.Group):
    """A group whose commands are ``Command`` (old spellings) and whose subgroups are ``Group``."""

    command_class = Command


Group.group_class = Group
