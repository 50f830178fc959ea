"""The ``challenge`` command line: generate data, look at pulses, validate, score and submit,
check a model file."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from challenge import cli_conventions as conventions
from challenge.client import DEFAULT_WAIT_S
from challenge.data import SUBMISSION_KINDS
from challenge.metrics import DEFAULT_SCORE_TYPE, score_type
from challenge.scoring import AnswerKeyError
from challenge.submission import DEFAULT_MAX_BYTES, SubmissionError


@contextlib.contextmanager
def _user_errors():
    """Turn a user's mistake into a one-line message on stderr and exit status 1, no traceback."""
    from challenge.data import DataError
    from challenge.model import ModelError
    from challenge.records import PackagingError
    from challenge.staging import ChallengeExistsError

    errors = (SubmissionError, AnswerKeyError, DataError, PackagingError, ModelError,
              ChallengeExistsError)  # fmt: skip
    try:
        yield
    except errors as err:
        raise click.ClickException(str(err)) from None


def _seed_option(help: str):
    """``--seed``: a public seed (practice data); without it a fresh secret is drawn."""
    return click.option("--seed", type=click.IntRange(min=0), default=None, help=help)


# FILE: the file a command reads (a submission, or the records to import).
_file_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
OUT_DIR_HELP = "Folder that receives public/ and private/."


def _package(make, *where, quiet: bool, **options) -> None:
    """Write a challenge with ``make`` (generate or import), then list the files it wrote.

    The command's options are ``make``'s keyword arguments; ``--quiet`` turns off its progress bar.
    """
    with _user_errors():
        written = make(*where, progress=not quiet, **options)
    for what, path in written.items():
        click.echo(f"{what:>18}: {path}")
    if options["submissions"] == "models":
        click.echo(_models_note(written["test"], written["answer_key"]))


def _models_note(test_records: Path, answer_key: Path) -> str:
    """Where test.root went in a challenge of model submissions, and the leaderboard's settings."""
    return (
        f"\nModel submissions: the test records went to {test_records}\n"
        "(owner-only, beside the answer key); they never leave the server. Give teams public/\n"
        "only: it has no test.root and no sample submission. On the leaderboard set\n"
        f"  export LEADERBOARD_ANSWER_KEY={answer_key.resolve()}\n"
        "  export LEADERBOARD_SUBMISSIONS=models\n"
        "(LEADERBOARD_TEST_RECORDS defaults to the test.root beside the answer key) and start\n"
        "workers with `leaderboard worker` (docs/organizer.md, 'Model submissions: workers')."
    )


_force_option = click.option(
    "--force",
    is_flag=True,
    default=False,
    help="Replace the challenge already in OUT: its private/ (secret, answer key) is kept as "
    "OUT/private-backup-<UTC time>/; without --force such a folder is refused.",
)

_submissions_option = click.option(
    "--submissions",
    type=click.Choice(SUBMISSION_KINDS),
    default="predictions",
    show_default=True,
    help="What teams upload: predictions (a score per event of the public test.root) or models "
    "(an ONNX model that the leaderboard runs on test.root, which then goes to OUT/private/).",
)


def _check_metric(ctx, param, name: str) -> str:
    try:
        score_type(name)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    return name


@click.group(cls=conventions.Group, context_settings=conventions.CONTEXT_SETTINGS)
@conventions.version_option()
def main() -> None:
    """The dark-matter pulse challenge: data, submissions and their score."""


@main.command(renamed={"--out": "--out-dir"})
@click.option(
    "--preset",
    type=click.Choice(["demo", "full", "course"]),
    default="demo",
    show_default=True,
    help="Size of the challenge: demo = 10,000 + 2,000 records, full = 10,000 + 20,000; "
    "course = 2,000 + 1,000 easier records (pulses from 12 mV, small offsets) for a class.",
)
@_seed_option(
    "A public seed, for practice data, tests and teaching: anyone can recompute the labels. "
    "Without it a fresh 128-bit secret is drawn and kept in OUT/private/ (a real event)."
)
@conventions.out_dir_option(default=Path("data"), help=OUT_DIR_HELP)
@click.option(
    "--n-train",
    type=click.IntRange(min=1),
    default=None,
    help="Override the preset's number of training records.",
)
@click.option(
    "--n-test",
    type=click.IntRange(min=1),
    default=None,
    help="Override the preset's number of test records.",
)
@click.option(
    "--record-length",
    type=click.IntRange(min=64),
    default=None,
    help="Samples per record (default 16384).",
)
@click.option(
    "--metric",
    default=DEFAULT_SCORE_TYPE,
    show_default=True,
    callback=_check_metric,
    help="What the leaderboard ranks by: roc_auc, or bkg_eff@E, the background (carrier) "
    "fraction passing at signal (absorber) efficiency E, e.g. bkg_eff@0.9.",
)
@click.option(
    "--simulated-training-data",
    type=click.Choice(["allowed", "forbidden"]),
    default="allowed",
    show_default=True,
    help="Your rule on training data that teams simulate themselves with the public simulator; "
    "written to the data card and public/challenge.json (the leaderboard's rules page).",
)
@click.option(
    "--carrier-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Share of carrier events (label 1) [default: 0.5]; rare carriers are realistic.",
)
@click.option(
    "--carrier-height-alpha",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="The carriers' own height spectrum dN/dh ~ h^-(1 + alpha) [default: the absorbers', "
    "0.4, so that the height alone tells nothing].",
)
@click.option(
    "--carrier-height-min",
    "carrier_height_min_v",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="The carriers' lowest height in volts [default: the absorbers'].",
)
@click.option(
    "--label-noise",
    type=click.FloatRange(0, 0.5, max_open=True),
    default=None,
    help="Share of training labels flipped, as a real labelling errs [default: 0]; the "
    "answer key keeps the true labels.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes that simulate the records, learn the physics reference and score the "
    "data card's references; the files do not depend on it.",
)
@_submissions_option
@_force_option
@conventions.quiet_option()
def generate(out, quiet, **options) -> None:
    """Simulate a challenge: train and test ROOT files, sample submission, data card, answer key.

    Prints on stderr the smallest AUC difference that each split of the test set can resolve.
    """
    from challenge.generate import generate_challenge
    from challenge.settings import read_settings, resolution_lines

    _package(generate_challenge, out, quiet=quiet, **options)
    for line in resolution_lines(read_settings(out)):
        click.echo(line, err=True)
    if options["seed"] is not None:
        from challenge.secret import Secret

        click.echo(f"warning: {Secret.from_seed(options['seed']).warning()}", err=True)


@main.command()
@click.option(
    "--auc",
    type=click.FloatRange(0.5, 1, max_open=True),
    default=0.98,
    show_default=True,
    help="The AUC of the submissions to tell apart (the physics reference's, say).",
)
@click.option(
    "--delta",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.005,
    show_default=True,
    help="The AUC difference that the private split must resolve.",
)
@click.option(
    "--public-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Share of the test events on the public board [default: the generator's, 0.3].",
)
@click.option(
    "--carrier-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Share of carrier events in the test set.",
)
def plan(auc, delta, public_fraction, carrier_fraction) -> None:
    """How many test events a challenge needs to tell apart two submissions DELTA apart in AUC.

    Paired DeLong test at 95%, Hanley & McNeil's variance, and the correlation measured between
    the project's own baselines.
    """
    from challenge.planning import (
        BASELINE_AUC_CORRELATION,
        events_needed,
        resolvable_difference,
        split_counts,
    )
    from challenge.splitting import PUBLIC_FRACTION

    fraction = PUBLIC_FRACTION if public_fraction is None else public_fraction
    try:
        n_test = events_needed(
            auc, delta, public_fraction=fraction, carrier_fraction=carrier_fraction
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    counts = split_counts(n_test, public_fraction=fraction, carrier_fraction=carrier_fraction)
    click.echo(
        f"{n_test} test events (--n-test {n_test}) with a public fraction of {fraction:g}: "
        f"the private split's {sum(counts['private'])} events resolve {delta:g} at AUC {auc:g}"
    )
    for name, (pos, neg) in counts.items():
        if min(pos, neg) > 0:
            found = resolvable_difference(auc, pos, neg)
            click.echo(
                f"{name:>8}: {pos} carrier + {neg} absorber events resolve {found:.4f} and more"
            )
    click.echo(
        f"(paired DeLong test at 95%, Hanley-McNeil variance, AUC correlation "
        f"{BASELINE_AUC_CORRELATION} between two submissions)"
    )


@main.command("import", renamed={"--out": "--out-dir"})
@_file_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["cait", "torch", "npz", "hdf5"]),
    required=True,
    help="cait: HDF5 with events/event (channels x events x samples); torch: a pickled tuple "
    "of tensors (X, y); npz / hdf5: arrays X and y.",
)
@click.option(
    "--channel",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Channel of a cait file.",
)
@click.option(
    "--labels",
    default=None,
    help="Label codes: a dataset in the file (cait: e.g. events/labels, channels x events) or "
    "a CSV file with a column 'label' in record order.",
)
@click.option(
    "--label-map",
    default=None,
    metavar="CODE=CLASS,...",
    help="Which label code is which class: CLASS is absorber, carrier, unlabelled (train.root "
    "only, label -1) or drop, e.g. 1=absorber,8=carrier for cait (needed there; cait's 0 is "
    "always unlabelled). Other formats default to 0=absorber,1=carrier,-1=unlabelled. A code "
    "outside the map is refused.",
)
@click.option(
    "--test",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A second file of the same format whose records make test.root (the course's own "
    "split); FILE then makes train.root and --test-fraction is not used.",
)
@click.option(
    "--test-labels",
    default=None,
    help="Label codes of the --test file, as --labels (default: --labels, when a dataset).",
)
@click.option(
    "--sampling-rate",
    "sampling_rate_hz",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Sampling rate in Hz, when the file does not record it.",
)
@click.option(
    "--volts-per-count",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Volts of one ADC count, when the file does not record it (attribute or array "
    "volts_per_count); 1 if neither gives it.",
)
@click.option(
    "--test-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Fraction of the records that make the test set.",
)
@_seed_option(
    "A public seed for the shuffle and the ids (practice data only); without it a fresh "
    "secret is drawn and kept in OUT/private/."
)
@conventions.out_dir_option(required=True, help=OUT_DIR_HELP)
@_submissions_option
@_force_option
@conventions.quiet_option()
def import_(file, out, quiet, **options) -> None:
    """Package the labelled records of FILE (cait HDF5, torch, npz, HDF5) as a challenge."""
    from challenge.importer import import_challenge

    _package(import_challenge, file, out, quiet=quiet, **options)


@main.command()
@_file_argument
@conventions.data_option(help="Challenge folder whose public/test.root lists the test events.")
@click.option(
    "--max-mb",
    type=click.FloatRange(min=0),
    default=DEFAULT_MAX_BYTES // 1_000_000,
    show_default=True,
    help="Size limit of the file in MB (1 MB = 1,000,000 bytes), as on the leaderboard.",
)
def validate(file, data, max_mb) -> None:
    """Check that FILE is a valid submission for the test set in --data."""
    from challenge.data import load_event_ids
    from challenge.submission import read_submission

    with _user_errors():
        expected = load_event_ids("test", data_dir=data)
        submission = read_submission(
            file, expected_ids=expected, max_bytes=int(max_mb * 1e6), name=str(file)
        )
    scores = submission["score"]
    click.echo(
        f"OK: {file}: {len(submission)} rows cover the {len(expected)} test events once each; "
        f"scores from {scores.min():.4g} to {scores.max():.4g}"
    )


@main.command("check-model")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@conventions.data_option(help="Challenge folder whose training records the model is run on.")
def check_model(model, data) -> None:
    """Run the leaderboard's checks of an ONNX MODEL on the training records in --data.

    The same sandbox and limits as the leaderboard's workers: the file's format, operators and
    size, the output's shape and finiteness, and the time per 1,000 records; then the AUC.
    """
    from challenge.data import load
    from challenge.metrics import roc_auc_score
    from challenge.sandbox import score_model

    with _user_errors():
        train = load("train", data_dir=data)
        result = score_model(model, train.X)
    per_1000 = 1000 * result.seconds / max(len(train.X), 1)
    labelled = train.y >= 0  # unlabelled imported records (-1) have no AUC to give
    click.echo(
        f"OK: {model} scored {len(train.X)} training records in {result.seconds:.2f} s "
        f"({per_1000:.2f} s per 1,000 records, sandboxed: {result.isolation}); "
        f"AUC on the training records "
        f"{roc_auc_score(train.y[labelled], result.scores[labelled]):.4f}"
    )


@main.command()
@_file_argument
@click.option(
    "--answers",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/private/answer_key.csv"),
    show_default=True,
    help="The organizers' answer key.",
)
def score(file, answers) -> None:
    """Score FILE against the answer key with the challenge's metric (metric.json next to the key,
    ROC AUC by default): public, private and overall, with 95% CI."""
    from challenge.scoring import load_answer_key, load_metric, score_submission
    from challenge.submission import read_submission

    with _user_errors():
        key = load_answer_key(answers)
        metric = load_metric(answers)
        submission = read_submission(file, expected_ids=key["event_id"].to_numpy(), name=str(file))
    for split, est in score_submission(submission, key, metric).items():
        n = len(key) if split == "overall" else int((key["split"] == split).sum())
        value, lo, hi = (metric.format(v) for v in est)
        click.echo(f"{split:>8} {metric.short_label} {value}  95% CI [{lo}, {hi}]  ({n} events)")


STILL_WAITING_EXIT = 3  # `challenge submit`: the model was not scored before --wait ran out


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url",
    required=True,
    envvar="CHALLENGE_URL",
    help="Leaderboard address, e.g. http://127.0.0.1:8000 (or env CHALLENGE_URL).",
)
@click.option(
    "--token", envvar="CHALLENGE_TOKEN", default=None, help="Team token (or env CHALLENGE_TOKEN)."
)
@click.option("--note", default="", help="A note shown with the submission.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=120,
    show_default=True,
    help="Seconds to wait for each request.",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_S,
    show_default=True,
    help="A model: seconds to wait for its score before giving up waiting (it stays queued).",
)
@click.option(
    "--no-wait", is_flag=True, help="A model: return once it is queued, without its score."
)
def submit(file, url, token, note, timeout, wait_s, no_wait) -> None:
    """Upload FILE (a prediction CSV, or an ONNX model) to the leaderboard; print its public score.

    A model is scored by the server's workers after the upload: the command waits for the score.
    Exit status: 0 scored (or queued, with --no-wait); 1 refused, failed or unreachable;
    3 not scored before --wait ran out.
    """
    from challenge.client import Leaderboard, LeaderboardError, StillWaiting

    if not token:
        raise click.ClickException("no team token: pass --token or set CHALLENGE_TOKEN")
    board = Leaderboard(url, token, timeout_s=timeout)
    try:
        status, body = board.upload(file, note)
        metric = score_type(body.get("metric", DEFAULT_SCORE_TYPE))
        if status == 201:
            click.echo(f"Submission {body['id']} accepted: {_public_score(metric, body)}"
                       f"{_remaining(body)}")  # fmt: skip
            return
        click.echo(f"Model {body['id']} queued for scoring{_remaining(body)}")
        if no_wait:
            return
        item = board.wait_for_score(body["id"], wait_s=wait_s, on_status=_say_running(body["id"]))
    except StillWaiting as err:
        click.echo(f"Error: {err}", err=True)
        raise SystemExit(STILL_WAITING_EXIT) from None
    except LeaderboardError as err:
        raise click.ClickException(str(err)) from None
    if item["status"] != "scored":
        raise click.ClickException(
            f"model {body['id']} failed: {item.get('failure_reason') or 'no reason given'}"
        )
    click.echo(f"Model {body['id']} scored: {_public_score(metric, item)}")


def _say_running(submission_id: int):
    """Tell, once, that the worker took the model (queued was said already; the end follows)."""

    def on_status(status: str) -> None:
        if status == "running":
            click.echo(f"Model {submission_id} running on the test records")

    return on_status


def _public_score(metric, scored: dict) -> str:
    """The public score as the server lets it be read: withheld (the Ladder: not better than the
    team's best), rounded to ``public_digits``, or in full."""
    if scored.get("public_auc") is None:
        return f"public {metric.short_label} {scored.get('public_withheld', 'not shown')}"
    digits = scored.get("public_digits")
    shown = (lambda v: f"{v:.{digits}f}") if digits is not None else metric.format
    value, lo, hi = (shown(v) for v in (scored["public_auc"], *scored["public_auc_ci"]))
    return f"public {metric.short_label} {value} (95% CI {lo} to {hi})"


def _remaining(body: dict) -> str:
    left = body.get("remaining_today")
    return "" if left is None else f"; {left} submissions left today"


@main.command(renamed={"--out": "--output"})
@conventions.data_option(help="Challenge folder.")
@click.option(
    "--n",
    "n_per_class",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Pulses per class.",
)
@conventions.output_option("pulses.png", help="PNG file to write.")
def plot(data, n_per_class, out) -> None:
    """Plot a few training pulses of each class to a PNG."""
    from challenge.data import load
    from challenge.plotting import plot_pulses

    with _user_errors():
        events = load("train", data_dir=data)
    plot_pulses(events, out, n=n_per_class)
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
