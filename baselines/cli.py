"""The ``baselines`` command line: train a model, predict with a checkpoint, compare models,
export one to ONNX."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from baselines.models import MODELS
from baselines.train import DEVICES, TrainConfig, resolve_device, validation_split
from challenge import cli_conventions as conventions


@dataclass
class ChallengeData:
    """The public files of one challenge, loaded once per command."""

    data_dir: Path
    X: np.ndarray  # (n, L) volts, training records
    y: np.ndarray  # (n,) labels
    test_ids: np.ndarray | None  # (m,) event ids of the test records; None: not here (models)
    X_test: np.ndarray | None  # (m, L) volts
    metadata: dict


@contextlib.contextmanager
def _user_errors():
    """A user's mistake becomes a message on stderr and exit status 1, never a traceback; a
    missing data file's message says itself how to make the data."""
    from baselines.checkpoint import CheckpointError
    from baselines.train import TrainingDataError
    from challenge.data import DataError

    try:
        yield
    except (DataError, CheckpointError, TrainingDataError) as err:
        raise click.ClickException(str(err)) from None


def _training_config(seed: int, device: str, epochs, dry_run: bool, quiet: bool) -> TrainConfig:
    try:
        resolve_device(device)  # --device cuda on a machine without a GPU is a user error
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    return TrainConfig(seed=seed, device=device, epochs=epochs, dry_run=dry_run, progress=not quiet)


def load_challenge(data_dir: Path) -> ChallengeData:
    """The training records, and the test records where this copy has them: a team's copy of a
    challenge of model submissions has no test.root (the organizers' copy has it in private/)."""
    from challenge.data import has_split, load, read_metadata, submissions_kind

    with _user_errors():
        train = load("train", data_dir=data_dir)
        metadata = read_metadata("train", data_dir=data_dir)
        models = submissions_kind(data_dir) == "models"
        test = None if models and not has_split("test", data_dir) else load("test", data_dir)
    if test is None:
        return ChallengeData(data_dir, train.X, train.y, None, None, metadata)
    return ChallengeData(data_dir, train.X, train.y, test.event_id, test.X, metadata)


def train_model(name: str, data: ChallengeData, out_dir: Path, config: TrainConfig):
    """Train, then write checkpoint.pt, report.json, roc.png, training_curve.png, figures and
    submission.csv (where the test records are here) to out_dir; returns the ValidationResult
    and the validation (y, scores)."""
    from baselines.report import write_report
    from baselines.train import train
    from challenge.submission import write_submission

    out_dir.mkdir(parents=True, exist_ok=True)
    with _user_errors():
        trained, val_idx = train(name, data.X, data.y, data.metadata, config=config)
    trained.save(out_dir / "checkpoint.pt")
    y_val, scores = data.y[val_idx], trained.predict(data.X[val_idx])
    result = write_report(out_dir, trained, y_val, scores)
    if trained.preprocessor is not None:
        pre = trained.preprocessor
        period_s = pre.config.downsample / data.metadata["sampling_rate_hz"]
        trained.model.write_figures(out_dir, pre.transform(data.X[val_idx]), y_val, period_s)
    if data.X_test is not None:
        write_submission(out_dir / "submission.csv", data.test_ids, trained.predict(data.X_test))
    return result, (y_val, scores)


def _summary(result) -> str:
    return (
        f"{result.model}: validation AUC {result.auc:.4f} [{result.lo:.4f}, {result.hi:.4f}] "
        f"on {result.n_val} records, trained in {result.train_seconds:.1f} s "
        f"({result.train_cpu_seconds:.1f} s CPU), "
        f"{result.n_parameters:,} parameters"
    )


@click.group(cls=conventions.Group, context_settings=conventions.CONTEXT_SETTINGS)
@conventions.version_option()
def main() -> None:
    """Baselines of the dark-matter pulse challenge: train, predict, compare, export."""


challenge_data_option = conventions.data_option(
    help="Challenge folder made by `challenge generate`.", dest="data_dir"
)


def _training_options(command):
    """The options that `train` and `compare` share."""
    options = [
        challenge_data_option,
        click.option(
            "--epochs",
            type=click.IntRange(min=1),
            default=None,
            help="Maximum epochs (bdt: boosting rounds); default: the model's own.",
        ),
        click.option(
            "--device",
            type=click.Choice(DEVICES),
            default="auto",
            show_default=True,
            help="Where torch models train.",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed of the validation split, initialisation and batches.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="One epoch of two batches: checks the pipeline in seconds.",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=None,
            help="CPU threads for torch and numpy; default: the physical cores less those the "
            "machine's other processes use (load average), at least 1.",
        ),
        conventions.quiet_option(),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextlib.contextmanager
def _threads(threads: int | None, quiet: bool) -> Iterator[None]:
    """Load and train on ``threads`` threads, or on the cores the machine has free now."""
    from baselines.threads import cpus_in_use, default_threads, physical_cores, use_threads

    if threads is None:
        cores, in_use = physical_cores(), cpus_in_use()
        threads = default_threads(cores, in_use)
        why = f"{cores} physical cores, {in_use:.1f} in use by other processes; --threads N sets it"
    else:
        why = "--threads"
    if not quiet:
        click.echo(
            f"training on {threads} CPU thread{'s' if threads > 1 else ''} ({why})", err=True
        )
    with use_threads(threads):
        yield


@main.command(renamed={"--out": "--out-dir"})
@click.argument("model", type=click.Choice(list(MODELS)))
@_training_options
@conventions.out_dir_option(help="Output folder  [default: runs/MODEL]")
def train(model, data_dir, epochs, device, seed, dry_run, threads, quiet, out) -> None:
    """Train MODEL; write checkpoint, validation report and a test-set submission."""
    config = _training_config(seed, device, epochs, dry_run, quiet)
    out = out or Path("runs") / model
    with _threads(threads, quiet):
        data = load_challenge(data_dir)
        result, _ = train_model(model, data, out, config)
    click.echo(_summary(result))
    if data.X_test is None:
        click.echo(
            f"wrote {out}/checkpoint.pt, report.json and roc.png; no submission.csv, since the "
            "test records of this challenge stay on the leaderboard's server: submit a model "
            f"(baselines export {out}/checkpoint.pt -o model.onnx --data {data_dir})"
        )
    else:
        click.echo(f"wrote {out}/checkpoint.pt, report.json, roc.png and submission.csv")


def _checkpoint_command(output: str, what: str):
    """The arguments of the commands that take a CHECKPOINT and write one file (predict, export)."""

    def decorate(command):
        options = [
            main.command(renamed={"--out": "--output"}),
            click.argument("checkpoint", type=click.Path(path_type=Path)),
            challenge_data_option,
            conventions.output_option(output, help=f"{what} to write."),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _check_record_length(checkpoint: Path, trained, X: np.ndarray, which: str, data_dir) -> None:
    expected = trained.metadata.get("record_length")
    if expected is not None and X.shape[1] != expected:
        raise click.ClickException(
            f"{checkpoint} was trained on records of {expected} samples, "
            f"the {which} records in {data_dir} have {X.shape[1]}"
        )


@_checkpoint_command("submission.csv", "Submission file")
def predict(checkpoint, data_dir, out) -> None:
    """Score the test records with CHECKPOINT and write a submission file."""
    from baselines.checkpoint import TrainedModel
    from challenge.data import load
    from challenge.submission import write_submission

    with _user_errors():
        trained = TrainedModel.load(checkpoint)
        test = load("test", data_dir=data_dir)
    _check_record_length(checkpoint, trained, test.X, "test", data_dir)
    write_submission(out, test.event_id, trained.predict(test.X))
    click.echo(f"wrote {out}: {len(test.event_id)} scores from {trained.name} ({checkpoint})")


@_checkpoint_command("model.onnx", "ONNX file")
def export(checkpoint, data_dir, out) -> None:
    """Export a torch CHECKPOINT to ONNX with its preprocessing, for a model submission.

    The export is checked against torch on the checkpoint's validation records in --data.
    """
    from baselines.checkpoint import TrainedModel
    from baselines.export import MAX_ABS_DIFFERENCE, ExportError, export_onnx, write_onnx

    with _user_errors():
        trained = TrainedModel.load(checkpoint)
    data = load_challenge(data_dir)
    _check_record_length(checkpoint, trained, data.X, "training", data_dir)
    _, val_idx = validation_split(data.y, fraction=TrainConfig().val_fraction, seed=trained.seed)
    try:
        model, difference = export_onnx(trained, data.X[val_idx])
    except ExportError as err:
        raise click.ClickException(str(err)) from None
    write_onnx(model, out)
    click.echo(
        f"wrote {out} ({len(model) / 1e6:.2f} MB): {trained.name} with its preprocessing; "
        f"onnxruntime and torch differ by {difference:.2g} at most on {len(val_idx)} validation "
        f"records (allowed: {MAX_ABS_DIFFERENCE:g}, relative to the largest |score| where it "
        "exceeds 1)"
    )


@main.command(renamed={"--out": "--out-dir"})
@click.option(
    "--models",
    "names",
    default=",".join(MODELS),
    show_default=True,
    help="Comma-separated models to train and compare.",
)
@_training_options
@conventions.out_dir_option(
    default=Path("runs/compare"), help="Folder for one run per model, table.md and roc_all.png."
)
def compare(names, data_dir, epochs, device, seed, dry_run, threads, quiet, out) -> None:
    """Train the models on one validation split; print a markdown table, plot all ROC curves."""
    from baselines.plots import plot_roc
    from baselines.report import markdown_table

    models = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in models if n not in MODELS]
    if unknown or not models:
        raise click.BadParameter(
            f"unknown model(s) {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(MODELS)}",
            param_hint="--models",
        )
    config = _training_config(seed, device, epochs, dry_run, quiet)
    results, curves = [], {}
    with _threads(threads, quiet):
        data = load_challenge(data_dir)
        for name in models:
            start = time.perf_counter()
            result, curves[name] = train_model(name, data, out / name, config)
            results.append(result)
            click.echo(
                f"{_summary(result)} ({time.perf_counter() - start:.0f} s with report)", err=True
            )
    table = markdown_table(results)
    (out / "table.md").write_text(table + "\n")
    plot_roc(out / "roc_all.png", curves)
    click.echo(table)
    click.echo(f"\nwrote {out}/table.md and {out}/roc_all.png", err=True)
