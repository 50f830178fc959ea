"""The ``exercises`` command: list the lessons, start one, run it, check it, see the progress."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from challenge.cli_conventions import CONTEXT_SETTINGS, Group, out_dir_option, version_option
from exercises import progress, report
from exercises.checker import (
    LearnerError,
    StepResult,
    describe_error,
    find_blanks,
    loaded_module,
    run_checks,
)
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
out_option = out_dir_option(help="Folder for the figures [default: figures/lessonN].")
mnist_option = click.option(
    "--mnist",
    "mnist_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help=f"Folder with MNIST's IDX files, instead of the bundled digits (lessons {MNIST_LESSONS}).",
)
url_option = click.option(
    "--url",
    envvar="CHALLENGE_URL",
    default=None,
    help="The course's site, e.g. http://127.0.0.1:8000 (or env CHALLENGE_URL).",
)
token_option = click.option(
    "--token",
    envvar="CHALLENGE_TOKEN",
    default=None,
    help="Your team token (or env CHALLENGE_TOKEN).",
)
# The folder of the lesson files, for the commands that read all of them.
directory_argument = click.argument(
    "directory",
    metavar="[DIR]",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
)
threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="CPU threads for torch; the lessons' small networks run fastest on one.",
)


@click.group(
    cls=Group,
    context_settings=CONTEXT_SETTINGS,
    help="Hands-on lessons of the course: start a skeleton, fill in the `...`, check it.",
)
@version_option()
def main() -> None:
    pass


@main.command("list", help="List the lessons and the file each one starts from.")
def list_lessons() -> None:
    for lesson in LESSONS.values():
        notes = [lesson.note] if lesson.note else []
        notes += ["--mnist DIR for real MNIST"] if lesson.takes_mnist else []
        extra = f"  ({'; '.join(notes)})" if notes else ""
        click.echo(f"{lesson.number}  {lesson.filename:<24} {lesson.title}{extra}")
    click.echo(
        "\nStart one with `exercises start N DIR`, check it with `exercises check N FILE`, "
        "see where you stand with `exercises progress DIR`."
    )


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


@main.command(
    help="Run lesson N from FILE (default: the skeleton's name in the current folder).",
    renamed={"--out": "--out-dir"},
)
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


@main.command(
    help="Check FILE, step by step, against lesson N; exit 0 when every step that ran passes. "
    "The results are kept in FILE's folder (see `exercises progress`).",
    renamed={"--out": "--out-dir"},
)
@lesson_number
@lesson_file
@solution_flag
@out_option
@mnist_option
@threads_option
@click.option(
    "--quick",
    is_flag=True,
    default=False,
    help="Compare the functions with the reference only; leave out the steps that train.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Multiply every step's time limit (on a slow computer: 3).",
)
@click.option(
    "--report",
    "send_report",
    is_flag=True,
    default=False,
    help="Also send the step results (never the file, unless the tutors ask) to the course's "
    "site at --url with --token; what cannot be sent waits for the next --report.",
)
@url_option
@token_option
def check(
    number: int,
    file: Path | None,
    solution: bool,
    out: Path | None,
    mnist_dir: Path | None,
    threads: int,
    quick: bool,
    time_scale: float,
    send_report: bool,
    url: str | None,
    token: str | None,
) -> None:
    lesson = get_lesson(number)
    path = _lesson_file(lesson, file, solution)
    if send_report:
        _check_site(url, token, solution)
    mnist_dir = _mnist_for(lesson, mnist_dir) if mnist_dir else None
    _set_threads(threads)
    click.echo(f"Lesson {lesson.number}: {lesson.title}\nChecking {path}")
    results: list[StepResult] = []
    try:
        for result in run_checks(
            lesson,
            path,
            out_dir=out or _default_out(lesson),
            mnist_dir=mnist_dir,
            quick=quick,
            time_scale=time_scale,
        ):
            results.append(result)
            click.echo(_step_line(result.status, result.name, result.message, result.seconds))
    except LearnerError as exc:
        raise click.ClickException(str(exc)) from None
    if not solution:
        _record_progress(lesson, path, results, quick)
    click.echo(_summary_line(results))
    counts = Counter(r.status for r in results)
    if not counts["failed"] and counts["not run"]:
        click.echo("Every function matches the reference: now check without --quick.")
    elif not counts["failed"]:
        click.echo("Well done: every step passes.")
    if send_report:  # last: whether the site got it, in one line
        _report_check(
            report.new_report(lesson.number, path, results, quick), path.parent, url, token
        )
    if counts["failed"]:
        raise SystemExit(1)


@main.command(
    "report",
    help="Send the reports waiting in DIR's outbox (default: the current folder) to the course's "
    "site: the checks that `exercises check --report` could not send. Exit 1 when some still wait.",
)
@directory_argument
@url_option
@token_option
def send_outbox(directory: Path, url: str | None, token: str | None) -> None:
    _check_site(url, token, solution=False)
    if not _report_check(None, directory, url, token):
        raise SystemExit(1)


@main.command(
    "progress",
    help="Show, for each lesson and step, what the lesson files in DIR (default: the current "
    "folder) passed when last checked.",
)
@directory_argument
def show_progress(directory: Path) -> None:
    try:
        records = progress.load(directory)
    except progress.ProgressError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Progress in {directory}:")
    for lesson in LESSONS.values():
        record = records.get(lesson.number)
        if record is None:
            click.echo(f"Lesson {lesson.number}: {lesson.title}: {_first_step(lesson, directory)}")
            continue
        changed = progress.changed_since(directory, record)
        note = {True: "; changed since", False: "", None: "; the file is gone"}[changed]
        quick = ", --quick" if record.quick else ""
        click.echo(
            f"Lesson {lesson.number}: {lesson.title}: {record.n_passed} of {len(record.steps)} "
            f"steps pass ({record.file}, checked {record.checked_at}{quick}{note})"
        )
        for step in record.steps:
            click.echo(_step_line(step["status"], step["name"], step["message"]))


def _first_step(lesson: Lesson, directory: Path) -> str:
    """What to do with a lesson that has no check yet: start it, or check the file started."""
    path = directory / lesson.filename
    if path.is_file():
        return f"not checked yet (exercises check {lesson.number} {path})"
    where = "" if directory == Path(".") else f" {directory}"
    return f"not started (exercises start {lesson.number}{where})"


def _summary_line(results: list[StepResult]) -> str:
    """ "5 of 9 steps passed, 1 failed, 2 skipped (they need a step that failed), 1 not run
    (--quick)." """
    counts = Counter(r.status for r in results)
    parts = [f"{counts['passed']} of {len(results)} steps passed"]
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} skipped (they need a step that failed)")
    if counts["not run"]:
        parts.append(f"{counts['not run']} not run (--quick)")
    return ", ".join(parts) + "."


def _step_line(status: str, name: str, message: str, seconds: float = 0.0) -> str:
    mark = {
        "passed": click.style("passed", fg="green"),
        "failed": click.style("FAILED", fg="red"),
        "skipped": click.style("skipped", fg="yellow"),
        "not run": click.style("not run", fg="yellow"),
    }[status]
    timing = f" ({seconds:.1f} s)" if seconds >= 0.1 else ""
    return f"  [{mark}] {name}{timing}: {message}"


def _check_site(url: str | None, token: str | None, solution: bool) -> None:
    """Before a check runs: refuse a report that could never be sent."""
    if solution:
        raise click.UsageError("--report sends your own checks, not the reference solution's")
    if not url:
        raise click.UsageError("--report needs the course's site: pass --url or set CHALLENGE_URL")
    if not token:
        raise click.UsageError(
            "--report needs your team token: pass --token or set CHALLENGE_TOKEN"
        )


def _report_check(new: dict | None, directory: Path, url: str, token: str) -> bool:
    """Put ``new`` in the outbox and send every report there; a site that cannot be reached
    costs one line, never the check's exit status. True when nothing is left waiting."""
    outbox = directory / report.OUTBOX_FILE
    try:
        if new is not None:
            report.keep(directory, [*report.waiting(directory), new])
        sent = report.send(directory, url=url, token=token)
    except (report.ReportError, OSError) as exc:
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) else str(exc)
        click.echo(
            f"Not reported: {reason}; {_waiting_in(directory)} in {outbox} for the next "
            "--report (your progress is kept here either way)."
        )
        return False
    late = f", {sent.late} after the due date (marked late)" if sent.late else ""
    who = f" as {sent.pseudonym}" if sent.pseudonym else ""
    click.echo(f"Reported {sent.sent} check{'' if sent.sent == 1 else 's'} to {url}{who}{late}.")
    return True


def _waiting_in(directory: Path) -> str:
    """``1 report waits`` or ``3 reports wait``: what the outbox holds."""
    try:
        count = len(report.waiting(directory))
    except report.ReportError:
        return "the reports wait"
    return "1 report waits" if count == 1 else f"{count} reports wait"


def _record_progress(lesson: Lesson, path: Path, results: list[StepResult], quick: bool) -> None:
    """Keep the results in the learner's folder; a folder that cannot be written costs a note."""
    try:
        progress.record(path.parent, lesson.number, path, results, quick)
    except OSError as exc:
        click.echo(f"Note: the progress could not be saved in {path.parent}: {exc.strerror}")


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
