"""The ``leaderboard`` command: run the server and do the organizers' jobs from a terminal.

Configuration comes from the same places as for the web app (``LEADERBOARD_*`` variables or
``instance/config.py``); every command prints what it did, or a one-line error and exits 1.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from datetime import datetime
from pathlib import Path

import click
from flask import Flask

from challenge.cli_conventions import CONTEXT_SETTINGS, Group, version_option
from challenge.submission import SubmissionError
from leaderboard import (
    actions,
    create_app,
    export,
    final,
    grading,
    queries,
    serving,
    shared_files,
    storage,
    uploads,
)
from leaderboard import backup as backups
from leaderboard.config import ConfigError, describe_instance, parse_utc
from leaderboard.db import engine_of, init_db, missing_tables, outdated_schema, session_scope
from leaderboard.errors import RuleError
from leaderboard.models import SCORED

# Commands that make the tables themselves (or put a database back); every other command
# refuses to run on a database without them, with what to do, instead of a SQL traceback.
MAKES_TABLES = {"serve", "init_db_command", "add_team", "add_reference", "restore"}
# Commands that run on a database of an older schema: the upgrade itself, and the way back.
TAKES_OLD_SCHEMA = {"upgrade", "restore"}
NO_TABLES_HINT = (
    "create the tables with `leaderboard init-db` (or `leaderboard serve`), or point this command at "
    "the leaderboard's own settings: `export LEADERBOARD_INSTANCE=FOLDER` (the folder that holds "
    "its config.py; the demo prints this line) or LEADERBOARD_DATABASE_URL"
)


def with_app(command):
    """Run ``command(app, ...)`` inside an app context; configuration errors become one line."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        context = click.get_current_context().find_root()
        try:
            if context.obj is None:
                # Management commands serve no pages, so they need no secret key.
                role = "worker" if command.__name__ == "worker" else "server"
                context.obj = create_app(
                    {"CHECK_SECRET": command.__name__ == "serve", "ROLE": role}
                )
                context.call_on_close(engine_of(context.obj).dispose)
            app = context.obj
            with app.app_context():
                if command.__name__ not in MAKES_TABLES:
                    problem = missing_tables(app)
                    if problem:
                        raise click.ClickException(f"{problem}; {NO_TABLES_HINT}")
                if command.__name__ not in TAKES_OLD_SCHEMA:
                    problem = outdated_schema(app)
                    if problem:
                        raise click.ClickException(problem)
                return command(app, *args, **kwargs)
        # The one mapping of refusals to the terminal: the message on one line, exit status 1.
        except (RuleError, ConfigError, storage.StorageError, backups.BackupError) as err:
            raise click.ClickException(str(err)) from None

    return wrapper


@click.group(cls=Group, context_settings=CONTEXT_SETTINGS)
@version_option()
def main() -> None:
    """Run the challenge leaderboard and manage teams, scores and the final reveal."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, type=int, show_default=True, help="Port to listen on.")
@click.option(
    "--threads",
    default=serving.THREADS,
    type=int,
    show_default=True,
    help="Worker threads (they run complete requests; slow clients cost no thread).",
)
@click.option("--connection-limit", default=serving.CONNECTION_LIMIT, type=int, show_default=True,
              help="Open connections held at once, slow ones included.")  # fmt: skip
@with_app
def serve(app: Flask, host: str, port: int, threads: int, connection_limit: int) -> None:
    """Serve the leaderboard with waitress (creates the tables if needed)."""
    init_db(app)
    storage.remove_partial(app.config["UPLOAD_FOLDER"])  # left by a killed server; none run now
    tidy_stored_files(app)
    server = serving.make_server(
        app, host=host, port=port, threads=threads, connection_limit=connection_limit
    )
    click.echo(f"leaderboard on http://{host}:{port}/ (database {_safe_url(app)})", err=True)
    if not app.config["PUBLIC_URL"]:
        click.echo(
            "note: LEADERBOARD_PUBLIC_URL is not set, so the token page shows a placeholder "
            "where teams need this site's address for `challenge submit --url`",
            err=True,
        )
    server.run()


def _safe_url(app: Flask) -> str:
    from sqlalchemy import make_url

    return make_url(app.config["DATABASE_URL"]).render_as_string(hide_password=True)


@main.command()
@with_app
def worker(app: Flask) -> None:
    """Score queued model submissions, one at a time, until Ctrl-C (finishes the running one).

    Start as many as the machine has cores for, here or on other machines: a worker needs only
    the database (LEADERBOARD_DATABASE_URL) and the queue (LEADERBOARD_QUEUE_URL), and reads
    the answer key, test.root and the models from the database; see the organizer guide.
    """
    from leaderboard import jobs, queue

    jobs.prepare_worker(app)  # the challenge's files from the database, into this worker's folder
    confined = jobs.check_worker(app)  # the sandbox, test.root and its events, before any task
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo(f"worker on queue {_safe_queue_url(app)}, models confined by {confined}; "
               "Ctrl-C stops it", err=True)  # fmt: skip
    queue.run_worker(app)


@main.command()
@click.option("--stale-after", type=float, default=None, metavar="SECONDS",
              help="Put back running models claimed longer ago than this "
                   "[default: LEADERBOARD_MODEL_WALL_S + 300].")  # fmt: skip
@click.option("--internal-errors", is_flag=True,
              help="Also put back the models that failed with an internal error (fix its cause "
                   "first: the worker's log has the traceback).")  # fmt: skip
@with_app
def requeue(app: Flask, stale_after: float | None, internal_errors: bool) -> None:
    """Send every queued model to the queue again (after the broker was down), and put back the
    running ones whose worker died."""
    from leaderboard import jobs

    _require_models(app)
    done = jobs.requeue(app, stale_after_s=stale_after, internal_errors=internal_errors)
    if done.stale:
        click.echo(f"put back {len(done.stale)} running models whose worker is gone: "
                   f"{_ids(done.stale)}")  # fmt: skip
    if internal_errors:
        click.echo(f"put back {len(done.retried)} models that failed with an internal error: "
                   f"{_ids(done.retried)}")  # fmt: skip
    click.echo(f"sent {len(done.sent)} queued models to the queue: {_ids(done.sent)}")
    if done.unsent:
        raise click.ClickException(
            f"the queue {_safe_queue_url(app)} did not take {_ids(done.unsent)} (see the log "
            "above); they stay queued: run `leaderboard requeue` again once it answers"
        )


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids) or "none"


def _require_models(app: Flask) -> None:
    if app.config["SUBMISSIONS"] != "models":
        raise click.ClickException(
            "this leaderboard takes prediction files (LEADERBOARD_SUBMISSIONS=predictions), "
            "which are scored on upload: there is nothing for a worker to do"
        )


def _safe_queue_url(app: Flask) -> str:
    from sqlalchemy import make_url

    url = app.config["QUEUE_URL"]
    return url if url.startswith("sqlite") else make_url(url).render_as_string(hide_password=True)


@main.command("init-db")
@with_app
def init_db_command(app: Flask) -> None:
    """Create the tables (safe to run again; existing data are kept); tidy the stored files."""
    init_db(app)
    tidy_stored_files(app)
    click.echo(f"database ready: {_safe_url(app)}")


# A file younger than this may belong to an upload that another worker is still recording.
UPLOAD_GRACE_S = 60


def tidy_stored_files(app: Flask) -> None:
    """At `serve` and `init-db`: the folder owner-only, without what a killed server left.

    Half-written temporary files go; complete files without a database row move to
    ``orphaned/``. A database without tables yet has recorded nothing: the files stay.
    """
    from sqlalchemy.exc import SQLAlchemyError

    folder = app.config["UPLOAD_FOLDER"]
    try:
        storage.private_dir(folder)
        storage.remove_partial(folder, older_than_s=UPLOAD_GRACE_S)
        if missing_tables(app) is not None or outdated_schema(app) is not None:
            return  # nothing to compare with, or columns it cannot read before the upgrade
        with session_scope(app) as session:
            recorded = queries.recorded_hashes(session)
        moved = storage.remove_orphans(folder, recorded, older_than_s=UPLOAD_GRACE_S)
    except (OSError, SQLAlchemyError) as err:
        app.logger.warning("could not tidy %s: %s", folder, err)
        return
    if moved:
        click.echo(f"{moved} stored files had no database row: moved to "
                   f"{folder}/{storage.ORPHANED}", err=True)  # fmt: skip


@main.command()
@click.option("--backup", "destination", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the copy of the database made first "
                   "[default: INSTANCE/backups/before-upgrade-TIME].")  # fmt: skip
@with_app
def upgrade(app: Flask, destination: Path | None) -> None:
    """Bring a database of an earlier version to this version's schema (a backup first).

    Stop `serve` and every `worker` before, and start them again after.
    """
    from leaderboard import migrations

    with engine_of(app).connect() as connection:
        before = migrations.current_revision(connection)
    head = migrations.head()
    if before == head:
        init_db(app)  # stamps a database of the last release before the migrations
        click.echo(f"database {_safe_url(app)} already has this version's schema ({head})")
        return
    if destination is None:
        stamp = app.config["NOW"]().strftime("%Y%m%dT%H%M%SZ")
        destination = Path(app.config["INSTANCE_PATH"]) / "backups" / f"before-upgrade-{stamp}"
    if destination.exists() and any(destination.iterdir()):
        raise click.ClickException(f"{destination} is not empty: give another --backup folder")
    written = backups.backup_database(app, destination)
    click.echo(f"backup of the database: {destination / written} "
               f"(`leaderboard restore {destination}` puts it back)")  # fmt: skip
    migrations.upgrade(engine_of(app))
    init_db(app)
    click.echo(f"database {_safe_url(app)} upgraded from schema {before} to {head}:")
    for line in migrations.between(before, head):
        click.echo(f"  {line}")


@main.command("add-team")
@click.argument("name")
@with_app
def add_team(app: Flask, name: str) -> None:
    """Register team NAME and print its token (shown only this once)."""
    init_db(app)
    name, token = actions.add_team(name, app=app)
    click.echo(f"team {name!r} added; its token (shown only once): {token}")


@main.command()
@click.option("--count", default=1, type=int, show_default=True, help="Number of codes to make.")
@with_app
def invite(app: Flask, count: int) -> None:
    """Print COUNT one-use invite codes, one a line, for LEADERBOARD_REGISTRATION=invite."""
    init_db(app)
    for code in actions.create_invites(count, app=app):
        click.echo(code)
    if app.config["REGISTRATION"] != "invite":
        click.echo(
            f"note: registration is {app.config['REGISTRATION']!r}; set "
            "LEADERBOARD_REGISTRATION=invite so that /register asks for a code",
            err=True,
        )


@main.command("rotate-token")
@click.argument("team")
@with_app
def rotate_token(app: Flask, team: str) -> None:
    """Give TEAM a new token and print it; the old token and its log-ins stop working at once."""
    with session_scope(app) as db:
        found = queries.team_by_name(db, team)
    if found is None or found.is_reference:
        raise click.ClickException(f"no team called {team!r}; `leaderboard status` counts them")
    token = actions.rotate_token(found.id, app=app)
    click.echo(f"team {found.name!r} has a new token (shown only once): {token}")


@main.command("add-reference")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_app
def add_reference(app: Flask, name: str, file: Path) -> None:
    """Score FILE and show it as reference row NAME (a baseline), never ranked among teams.

    In models mode a .onnx FILE is queued for the workers like a team's model; a prediction
    file is scored at once.
    """
    init_db(app)
    with open(file, "rb") as stream:
        accepted = uploads.add_reference(name, stream, filename=file.name, app=app)
    if accepted.scored is None:
        click.echo(f"reference {name!r}: model queued as submission #{accepted.submission.id}; "
                   "`leaderboard worker` scores it")  # fmt: skip
        return
    metric = grading.answer_key(app).metric
    value = accepted.scored.public.value
    click.echo(f"reference {name!r}: public {metric.short_label} {metric.format(value)}")


def describe_window(
    open_at: datetime | None, close_at: datetime | None, now: datetime, *, late: bool = False
) -> str:
    """The submission window in words, and whether it is open at ``now``: "open: 2026-03-02 09:00
    UTC to ...", "not open yet: opens ...", "closed since ..."; ``late``: late uploads are taken."""
    shown = [f"{t:%Y-%m-%d %H:%M} UTC" if t else None for t in (open_at, close_at)]
    closes = f"closes {shown[1]}" if shown[1] else "no closing time"
    if open_at and now < open_at:
        return f"not open yet: opens {shown[0]}, {closes}"
    if close_at and now >= close_at:
        opened = f" (opened {shown[0]})" if shown[0] else ""
        taken = "; late uploads are taken, listed apart, never ranked" if late else ""
        return f"closed since {shown[1]}{opened}{taken}"
    if shown[0] and shown[1]:
        return f"open: {shown[0]} to {shown[1]}"
    if shown[0]:
        return f"open since {shown[0]}, no closing time"
    if shown[1]:
        return f"open until {shown[1]}"
    return "always open (no LEADERBOARD_OPEN_AT or LEADERBOARD_CLOSE_AT set)"


@main.command()
@with_app
def status(app: Flask) -> None:
    """Print the state of the challenge: window, teams, submissions, reveal."""
    now = app.config["NOW"]()
    with session_scope(app) as db:
        teams = queries.ranking_teams(db)
        revealed = queries.is_revealed(db)
        today = sum(queries.submissions_today(db, t.id, now=now) for t in teams)
        used, invites = queries.invite_counts(db)
        close_at = final.close_time(db, app.config)  # the reveal may have closed it early
        statuses = queries.status_counts(db)
        waits_for = [s.id for s in queries.pending_on_time(db)] if not revealed else []
    window = describe_window(
        app.config["OPEN_AT"], close_at, now, late=app.config["LATE_SUBMISSIONS"]
    )
    registration = app.config["REGISTRATION"]
    if registration == "invite":
        registration += f" ({used} of {invites} codes used)"
    elif registration == "open":
        limits = [f"{app.config[key]} {label}" for key, label in
                  (("REGISTRATIONS_PER_HOUR", "an hour"), ("REGISTRATIONS_PER_DAY", "a day"))
                  if app.config[key]]  # fmt: skip
        if limits:
            registration += f" (at most {' and '.join(limits)} per address)"
    references = sum(t.is_reference for t in teams)
    click.echo(f"instance:     {describe_instance(app.config, os.environ)}")
    click.echo(f"database:     {_safe_url(app)}")
    click.echo(f"window:       {window}; registration {registration}")
    click.echo(f"teams:        {len(teams) - references} (+ {references} references)")
    click.echo(f"submissions:  {sum(statuses.values())} in all, {today} today (UTC)")
    click.echo(f"scoring:      {describe_statuses(statuses)}")
    if waits_for:
        click.echo(f"the reveal waits for {len(waits_for)} of them: {_ids(waits_for)}")
    click.echo(f"revealed:     {'yes' if revealed else 'no'}")
    if app.config["SUBMISSIONS"] == "models":
        differ = shared_files.differences(app)
        click.echo(
            "workers:      the database holds this server's answer key, test.root and limits"
            if not differ
            else f"workers:      the database holds another {', '.join(differ)} than this "
            "server's settings: run `leaderboard init-db`, then restart the workers"
        )


def describe_statuses(counts: dict[str, int]) -> str:
    """Submissions per status in words: "2 queued, 1 running, 12 scored, 0 failed"."""
    return ", ".join(f"{count} {status}" for status, count in counts.items())


@main.command()
@click.option(
    "--undo",
    is_flag=True,
    help="Hide the private scores again; submissions stay closed, finals frozen.",
)
@click.option("--reopen-until", type=str, default=None, metavar="TIME",
              help="With --undo: reopen submissions until TIME (ISO 8601, UTC).")  # fmt: skip
@with_app
def reveal(app: Flask, undo: bool, reopen_until: str | None) -> None:
    """Close submissions and reveal the final ranking on the private split to everyone."""
    if reopen_until is not None and not undo:
        raise click.UsageError("--reopen-until goes with --undo")
    try:
        until = parse_utc(reopen_until) if reopen_until else None
    except ValueError as err:
        raise click.UsageError(
            f"--reopen-until {reopen_until!r}: not an ISO 8601 time ({err})"
        ) from None
    now = app.config["NOW"]()
    if undo:
        with session_scope(app, write=True) as db:
            message = final.undo_reveal(db, app.config, now=now, reopen_until=until)
    else:
        message = final.reveal(app, now=now)
    click.echo(message)


@main.command()
@click.option("--reason", required=True, help="Why; it goes into the audit log on /admin.")
@with_app
def rerank(app: Flask, reason: str) -> None:
    """Rank the revealed final ranking again, after a disqualification or a rescore."""
    try:
        reason = queries.clean_reason(reason)
        with session_scope(app, write=True) as db:
            message = final.rerank(db, now=app.config["NOW"](), reason=reason, app=app)
    except ValueError as err:  # a reason the rules refuse
        raise click.ClickException(str(err)) from None
    click.echo(message)


def _revealed_note(app: Flask) -> None:
    """After the reveal, say that the shown final ranking has not changed (yet)."""
    with session_scope(app) as db:
        revealed = queries.is_revealed(db)
    if revealed:
        click.echo(
            "the revealed final ranking is unchanged; `leaderboard rerank --reason ...` applies this",
            err=True,
        )


@main.command("export", renamed={"--out": "--output"})
@click.argument("what", type=click.Choice(sorted(export.EXPORTS)))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write (default: standard output).")  # fmt: skip
@with_app
def export_command(app: Flask, what: str, out: Path | None) -> None:
    """Export the leaderboard as shown, or every submission with private scores, as CSV."""
    with session_scope(app) as db:
        text = export.csv_text(db, what, app)
    if out is None:
        click.echo(text, nl=False)
    else:
        storage.write_private(out, text)  # the submissions export holds private scores
        click.echo(f"wrote {out}", err=True)


@main.command()
@with_app
def rescore(app: Flask) -> None:
    """Score every scored submission again with the current answer key (after correcting it),
    from its stored scores: the prediction file, or the CSV a worker wrote from a model."""
    # Score first, outside any transaction, so that a running server keeps taking uploads.
    with session_scope(app) as db:
        stored = [
            (s.id, s.scores_sha256, s.filename)
            for s in queries.all_submissions(db)
            if s.status == SCORED
        ]
    scores, failed = {}, []
    for submission_id, sha256, filename in stored:
        try:
            data = shared_files.load(app, sha256)
            scores[submission_id] = grading.grade(data, name=filename, app=app)[1].columns()
        except (SubmissionError, storage.StorageError) as err:
            failed.append(f"submission #{submission_id}: {err}")
    changed = 0
    with session_scope(app, write=True) as db:
        for submission_id, new in scores.items():
            s = queries.get_submission(db, submission_id)
            if any(getattr(s, field) != value for field, value in new.items()):
                changed += 1
                for field, value in new.items():
                    setattr(s, field, value)
    click.echo(f"rescored: {changed} submissions changed, {len(failed)} could not be scored")
    if changed:
        _revealed_note(app)
    for line in failed:
        click.echo(line, err=True)
    if failed:
        sys.exit(1)


@main.command()
@click.option("--submission", "submission_id", type=int, help="Submission id to disqualify.")
@click.option("--team", "team_name", help="Team name to disqualify.")
@click.option("--reason", help="Why; the team sees it. Required unless --undo.")
@click.option("--undo", is_flag=True, help="Reinstate instead.")
@with_app
def disqualify(app, submission_id: int | None, team_name: str | None, reason, undo) -> None:
    """Disqualify a submission or a whole team, with a reason the team sees."""
    if (submission_id is None) == (team_name is None):
        raise click.UsageError("give exactly one of --submission ID or --team NAME")
    if not undo:
        try:
            reason = queries.clean_reason(reason)
        except ValueError as err:
            raise click.UsageError(f"--reason: {err}") from None
    with session_scope(app, write=True) as db:
        if submission_id is not None:
            target, label = (
                queries.get_submission(db, submission_id),
                f"submission #{submission_id}",
            )
        else:
            target, label = queries.team_by_name(db, team_name), f"team {team_name!r}"
        if target is None:
            raise click.ClickException(f"no {label}")
        queries.disqualify(db, target, None if undo else reason)
    click.echo(f"{label} {'reinstated' if undo else 'disqualified'}")
    _revealed_note(app)


@main.command()
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@with_app
def backup(app: Flask, destination: Path) -> None:
    """Copy the database (online, while serving) and the stored files into DESTINATION."""
    written = backups.backup(app, destination)
    click.echo(f"backup written to {destination}: {written}")


@main.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the current database.")
@with_app
def restore(app: Flask, source: Path, yes: bool) -> None:
    """Replace the database with the backup in SOURCE and put its stored files back."""
    if not yes:
        click.confirm(f"Replace the database {_safe_url(app)} with {source}?", abort=True)
    restored = backups.restore(app, source)
    click.echo(f"restored from {source}: {restored}")
