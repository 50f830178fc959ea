"""The ``exercises`` command: list the lessons, start one, run it, and check a solution."""

from __future__ import annotations

from pathlib import Path

import click

from exercises.checker import LearnerError, describe_error, find_blanks, loaded_module, run_checks
from exercises.lessons import LESSONS, Lesson, get_lesson

MNIST_LESSONS = ", ".join(str(n) for n, lesson in LESSONS.items() if lesson.takes_mnist)

# Arguments and options that `run` and `check` share.
lesson_number = click.argument(
    "number", metavar="N", type=click.IntRange(min(LESSONS), max(LESSONS))
)
lesson_file = click.argument(
    "file",
    metavar="[FILE]",
    required=False,
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
)
solution_flag = click.option(
    "--solution", is_flag=True, default=False, help="Use the reference solution instead of FILE."
)
out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the figures [default: figures/lessonN].",
)
mnist_option = click.option(
    "--mnist",
    "mnist_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help=f"Folder with MNIST's IDX files, instead of the bundled digits (lessons {MNIST_LESSONS}).",
)
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="CPU threads for torch; the lessons' small networks run fastest on one.",
)


@click.group(help="Hands-on lessons of the course: start a skeleton, fill in the `...`, check it.")
def main() -> None:
    pass


@main.command("list", help="List the lessons and the file each one starts from.")
def list_lessons() -> None:
    for lesson in LESSONS.values():
        mnist = "  (--mnist DIR for real MNIST)" if lesson.takes_mnist else ""
        click.echo(f"{lesson.number}  {lesson.filename:<24} {lesson.title}{mnist}")


@main.command(help="Copy the skeleton of lesson N into DIR (default: the current folder).")
@lesson_number
@click.argument(
    "directory",
    metavar="[DIR]",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
)
@click.option("--force", is_flag=True, default=False, help="Overwrite the file if it exists.")
def start(number: int, directory: Path, force: bool) -> None:
    lesson = get_lesson(number)
    target = directory / lesson.filename
    if target.exists() and not force:
        raise click.ClickException(
            f"{target} already exists; use --force to overwrite it (your work in it would be lost)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(lesson.skeleton(), encoding="utf-8")
    click.echo(
        f"Wrote {target}. Fill in every `...`, then run:\n  exercises check {number} {target}"
    )


@main.command(help="Run lesson N from FILE (default: the skeleton's name in the current folder).")
@lesson_number
@lesson_file
@solution_flag
@out_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of data and training.")
@mnist_option
@click.option("--dry-run", is_flag=True, default=False, help="Train for one epoch only.")
@threads_option
def run(
    number: int,
    file: Path | None,
    solution: bool,
    out: Path | None,
    seed: int,
    mnist_dir: Path | None,
    dry_run: bool,
    threads: int,
) -> None:
    lesson = get_lesson(number)
    path = _lesson_file(lesson, file, solution)
    blanks = find_blanks(path)
    if blanks:
        where = ", ".join(f"{name} (line {lines[0]})" for name, lines in blanks.items())
        raise click.ClickException(
            f"{path.name} is not filled in yet: replace the `...` in {where}"
        )
    argv = ["--seed", str(seed), "--out", str(out or _default_out(lesson))]
    argv += ["--mnist", str(_mnist_for(lesson, mnist_dir))] if mnist_dir else []
    argv += ["--dry-run"] if dry_run else []
    _set_threads(threads)
    try:
        with loaded_module(path) as module:
            module.main(argv)
    except LearnerError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # the learner's code: a short message with their line, no traceback
        raise click.ClickException(describe_error(exc, path)) from None


@main.command(help="Check FILE, step by step, against lesson N; exit 0 when every step passes.")
@lesson_number
@lesson_file
@solution_flag
@out_option
@mnist_option
@threads_option
def check(
    number: int,
    file: Path | None,
    solution: bool,
    out: Path | None,
    mnist_dir: Path | None,
    threads: int,
) -> None:
    lesson = get_lesson(number)
    path = _lesson_file(lesson, file, solution)
    mnist_dir = _mnist_for(lesson, mnist_dir) if mnist_dir else None
    _set_threads(threads)
    click.echo(f"Lesson {lesson.number}: {lesson.title}\nChecking {path}")
    n_steps = n_passed = 0
    try:
        for result in run_checks(
            lesson, path, out_dir=out or _default_out(lesson), mnist_dir=mnist_dir
        ):
            n_steps += 1
            n_passed += result.passed
            mark = (
                click.style("passed", fg="green")
                if result.passed
                else click.style("FAILED", fg="red")
            )
            timing = f" ({result.seconds:.1f} s)" if result.seconds >= 0.1 else ""
            click.echo(f"  [{mark}] {result.name}{timing}: {result.message}")
    except LearnerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{n_passed} of {n_steps} steps passed.")
    if n_passed < n_steps:
        raise SystemExit(1)
    click.echo("Well done: every step passes.")


def _lesson_file(lesson: Lesson, file: Path | None, solution: bool) -> Path:
    """The file to run or check: FILE, the reference solution, or the default name here."""
    if solution and file is not None:
        raise click.UsageError("give either FILE or --solution, not both")
    path = lesson.solution_path if solution else (file or Path(lesson.filename))
    if not path.is_file():
        hint = f"; start it with: exercises start {lesson.number}" if file is None else ""
        raise click.ClickException(f"{path} does not exist{hint}")
    return path


def _default_out(lesson: Lesson) -> Path:
    return Path("figures") / f"lesson{lesson.number}"


def _mnist_for(lesson: Lesson, mnist_dir: Path) -> Path:
    if not lesson.takes_mnist:
        raise click.UsageError(f"--mnist applies to lessons {MNIST_LESSONS}, not {lesson.number}")
    return mnist_dir


def _set_threads(threads: int) -> None:
    import torch  # here, so that `exercises list` and `start` answer at once

    torch.set_num_threads(threads)
