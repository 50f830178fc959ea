"""The leaderboard's configuration: defaults, overlaid by the instance config, the environment and tests.

Every setting lives in the Flask config; ``LEADERBOARD_*`` environment variables override the
instance file ``config.py``, and a test config overrides both.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from challenge.data import SETTINGS_FILE, SUBMISSION_KINDS
from challenge.model import ModelLimits
from challenge.sandbox import SandboxLimits
from challenge.submission import DEFAULT_MAX_BYTES

DEFAULT_SECRET_KEY = "dev"
MB = 1024 * 1024
TRAINING_DATA_RULES = ("allowed", "forbidden")
# Shortest secret key and organizer token accepted: 32 random characters are beyond guessing.
MIN_SECRET_CHARS = 32
HOW_TO_MAKE_A_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"

logger = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """A setting that stops the leaderboard from starting; the message says which and how to fix it."""


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (tests replace the config's ``NOW``)."""
    return datetime.now(timezone.utc)


# The instance folder when LEADERBOARD_INSTANCE is not set: in the folder the command runs in.
DEFAULT_INSTANCE = "instance"


def default_instance() -> str:
    """``./instance`` in the current folder, as an absolute path."""
    return os.path.abspath(DEFAULT_INSTANCE)


def describe_instance(config: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """Which instance folder is in use, and why: the variable, or the current folder's."""
    if environ.get("LEADERBOARD_INSTANCE"):
        return f"{config['INSTANCE_PATH']} (LEADERBOARD_INSTANCE)"
    return f"{config['INSTANCE_PATH']} (./{DEFAULT_INSTANCE} in the current folder; LEADERBOARD_INSTANCE is not set)"


def defaults(instance_path: str) -> dict[str, Any]:
    """The settings a fresh install runs with: SQLite and uploads in the instance folder."""
    return {
        "INSTANCE_PATH": instance_path,
        "ENV_NAME": "production",
        "SECRET_KEY": DEFAULT_SECRET_KEY,
        # The management commands run no web server, so they need no real secret key.
        "CHECK_SECRET": True,
        "DATABASE_URL": "sqlite:///" + os.path.join(instance_path, "leaderboard.sqlite"),
        "SQLITE_BUSY_TIMEOUT_MS": 15_000,
        "ANSWER_KEY": None,
        "ADMIN_TOKEN": None,
        # The address teams reach the site at, shown in `challenge submit --url ...`; never
        # taken from a request's Host header, which a client chooses.
        "PUBLIC_URL": None,
        "DAILY_QUOTA": 10,
        # Uploads of a team refused as invalid in one UTC day (0: no limit); past it, every
        # upload of the team is refused before any check until the next day, so that a team
        # cannot make the server check invalid or crafted files without end.
        "REFUSED_PER_DAY": 50,
        "OPEN_AT": None,
        "CLOSE_AT": None,
        # After the close: refuse uploads (403), or score them and list them apart as late.
        "LATE_SUBMISSIONS": False,
        # open: anyone registers (at most REGISTRATIONS_PER_HOUR and REGISTRATIONS_PER_DAY teams
        # per client address, 0 for no limit); invite: with a one-use code from `leaderboard invite`; closed: only
        # `leaderboard add-team` creates teams.
        "REGISTRATION": None,  # None: from the deprecated REGISTRATION_OPEN, else "open"
        "REGISTRATION_OPEN": None,  # deprecated: True is "open", False "closed"
        "REGISTRATIONS_PER_HOUR": 5,
        "REGISTRATIONS_PER_DAY": 20,
        # An IPv6 client registers from its network of this many bits: a home gets a /56
        # (256 /64s), so counting per /64 would let one home register 256 times the limit.
        "REGISTRATION_IPV6_PREFIX": 56,
        "MAX_UPLOAD_BYTES": DEFAULT_MAX_BYTES,  # one limit: `challenge validate` checks the same
        "MAX_JSON_BYTES": 64 * 1024,  # the API's JSON bodies are a name or a flag
        # The course (leaderboard.course): reports of lesson checks a team may send in an hour
        # (0: no limit), the largest request of reports, and when a failing step counts as
        # stuck on the tutors' page (that many failures in a row, or failing that long).
        "COURSE_REPORTS_PER_HOUR": 120,
        "COURSE_MAX_BODY_BYTES": 1024 * 1024,
        "COURSE_STUCK_ATTEMPTS": 3,
        "COURSE_STUCK_MINUTES": 15,
        "UPLOAD_FOLDER": os.path.join(instance_path, "submissions"),
        "MAX_FINALS": 2,
        "TEAM_NAME_MAX_CHARS": 40,
        "NOTE_MAX_CHARS": 200,
        # A log-in (team or organizer) lasts a week at most: a school's whole event.
        "LOGIN_LIFETIME_S": 7 * 24 * 3600,
        # Wrong tokens or invite codes from one address: the first BAD_TOKEN_LIMIT get a plain
        # 401, then each gets 429 with a Retry-After that doubles from BAD_TOKEN_DELAY_S up to
        # BAD_TOKEN_MAX_DELAY_S; the count is forgotten after BAD_TOKEN_FORGET_S without one.
        "BAD_TOKEN_LIMIT": 10,
        "BAD_TOKEN_DELAY_S": 1,
        "BAD_TOKEN_MAX_DELAY_S": 300,
        "BAD_TOKEN_FORGET_S": 3600,
        "ROC_TOP_TEAMS": 5,
        # What the challenge pages (/overview, /rules, /data) announce; see leaderboard.content.
        "PRIZE": None,  # text, e.g. "a GPU and a talk slot for the winning team"
        "REVEAL_AT": None,  # when the organizers plan to reveal the final ranking (UTC)
        "MAX_TEAM_SIZE": None,  # people per team; None: no limit
        # Training on data that teams simulate themselves: "allowed" or "forbidden", as
        # `challenge generate --simulated-training-data`; its public/challenge.json wins.
        "SIMULATED_TRAINING_DATA": "allowed",
        "PUBLIC_DATA": None,  # folder of the public files, offered for download on /data
        # Rank intervals: paired bootstrap resamples of the test events, and their seed.
        "BOOTSTRAP_RESAMPLES": 1000,
        "BOOTSTRAP_SEED": 0,
        "STABILITY_TOP_TEAMS": 40,  # teams shown in the rank-stability figure
        # The public board before the reveal: "ladder" shows a team's public score only when a
        # submission beats its best by a one-sided paired test at LADDER_LEVEL, rounded to what
        # the public split resolves (leaderboard.ladder); "plain" shows every score in full.
        "PUBLIC_BOARD": "ladder",
        "LADDER_LEVEL": 0.05,
        # Per process: scores of stored files (n floats each) and their bootstrap AUCs (8 kB each,
        # enough for every team's shown file on both splits at a large event).
        "SCORE_CACHE_SIZE": 256,
        "BOOTSTRAP_CACHE_SIZE": 4096,
        # After a write, each server process computes the board again in the background; a
        # reader waits for it at most this many seconds, then gets the board before the write
        # (one computation at a time: a burst of uploads does not hold every reader behind it).
        "BOARD_WAIT_S": 0.5,
        # Reverse proxies in front (nginx: 1); their X-Forwarded-For then names the client,
        # so that throttling counts each client, not the proxy.
        "PROXY_FIX": 0,
        # The address the nearest proxy connects from: `leaderboard serve` (waitress) trusts
        # X-Forwarded-* headers from it alone, as gunicorn's forwarded_allow_ips does.
        "TRUSTED_PROXY": "127.0.0.1",
        # What teams upload: "predictions" (a score per event of the published test.root) or
        # "models" (an ONNX model that the workers run on test.root, which stays on the server).
        "SUBMISSIONS": "predictions",
        "TEST_RECORDS": None,  # models: test.root; None: the one beside the answer key
        # The job queue of model scoring (huey): sqlite:///PATH, embedded, for one machine, or
        # redis://HOST:PORT/DB for workers on several machines. None: sqlite in the instance.
        "QUEUE_URL": None,
        # One model's run (challenge.sandbox.SandboxLimits) and its file (challenge.model).
        "MODEL_MAX_BYTES": ModelLimits.max_bytes,
        "MODEL_WALL_S": SandboxLimits.wall_seconds,
        "MODEL_CPU_S": SandboxLimits.cpu_seconds,
        "MODEL_MEMORY_BYTES": SandboxLimits.memory_bytes,
        "MODEL_THREADS": SandboxLimits.threads,
        # A running model whose claim is older than MODEL_WALL_S plus this margin lost its worker
        # (SIGKILL, a lost machine): each worker checks every half margin and queues it again.
        "MODEL_STALE_MARGIN_S": 120.0,
        # A worker refuses to start where bubblewrap or python3-seccomp is missing, unless False.
        "MODEL_REQUIRE_ISOLATION": True,
        # "server", or "worker" (set by `leaderboard worker`): a worker reads the answer key and
        # test.root from the database (leaderboard.shared_files), whatever the settings say.
        "ROLE": "server",
        "NOW": utc_now,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": None,  # None: True in production, False otherwise
        "WTF_CSRF_TIME_LIMIT": None,  # a form may stay open all day in a classroom
    }


# Environment variable -> (config key, parser).
def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off, got {text!r}")


def parse_utc(text: str | datetime | None) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime; a time without zone is taken as UTC."""
    if text is None or isinstance(text, datetime):
        value = text
    elif not text.strip():
        return None
    else:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc) if value is not None else None


ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "LEADERBOARD_INSTANCE": ("INSTANCE_PATH", os.path.abspath),
    "LEADERBOARD_ENV": ("ENV_NAME", str),
    "LEADERBOARD_DATABASE_URL": ("DATABASE_URL", str),
    "LEADERBOARD_ANSWER_KEY": ("ANSWER_KEY", str),
    "LEADERBOARD_ADMIN_TOKEN": ("ADMIN_TOKEN", str),
    "LEADERBOARD_SECRET_KEY": ("SECRET_KEY", str),
    "LEADERBOARD_DAILY_QUOTA": ("DAILY_QUOTA", int),
    "LEADERBOARD_REFUSED_PER_DAY": ("REFUSED_PER_DAY", int),
    "LEADERBOARD_COURSE_REPORTS_PER_HOUR": ("COURSE_REPORTS_PER_HOUR", int),
    "LEADERBOARD_COURSE_MAX_BODY_BYTES": ("COURSE_MAX_BODY_BYTES", int),
    "LEADERBOARD_COURSE_STUCK_ATTEMPTS": ("COURSE_STUCK_ATTEMPTS", int),
    "LEADERBOARD_COURSE_STUCK_MINUTES": ("COURSE_STUCK_MINUTES", float),
    "LEADERBOARD_OPEN_AT": ("OPEN_AT", parse_utc),
    "LEADERBOARD_CLOSE_AT": ("CLOSE_AT", parse_utc),
    "LEADERBOARD_LATE_SUBMISSIONS": ("LATE_SUBMISSIONS", _bool),
    "LEADERBOARD_REGISTRATION": ("REGISTRATION", str),
    "LEADERBOARD_REGISTRATION_OPEN": ("REGISTRATION_OPEN", _bool),
    "LEADERBOARD_REGISTRATIONS_PER_HOUR": ("REGISTRATIONS_PER_HOUR", int),
    "LEADERBOARD_REGISTRATIONS_PER_DAY": ("REGISTRATIONS_PER_DAY", int),
    "LEADERBOARD_REGISTRATION_IPV6_PREFIX": ("REGISTRATION_IPV6_PREFIX", int),
    "LEADERBOARD_MAX_UPLOAD_BYTES": ("MAX_UPLOAD_BYTES", int),
    "LEADERBOARD_UPLOAD_FOLDER": ("UPLOAD_FOLDER", str),
    "LEADERBOARD_COOKIE_SECURE": ("SESSION_COOKIE_SECURE", _bool),
    "LEADERBOARD_PROXY_FIX": ("PROXY_FIX", int),
    "LEADERBOARD_TRUSTED_PROXY": ("TRUSTED_PROXY", str),
    "LEADERBOARD_PUBLIC_URL": ("PUBLIC_URL", str),
    "LEADERBOARD_PRIZE": ("PRIZE", str),
    "LEADERBOARD_REVEAL_AT": ("REVEAL_AT", parse_utc),
    "LEADERBOARD_MAX_TEAM_SIZE": ("MAX_TEAM_SIZE", int),
    "LEADERBOARD_SIMULATED_TRAINING_DATA": ("SIMULATED_TRAINING_DATA", str),
    "LEADERBOARD_PUBLIC_DATA": ("PUBLIC_DATA", os.path.abspath),
    "LEADERBOARD_PUBLIC_BOARD": ("PUBLIC_BOARD", str),
    "LEADERBOARD_LADDER_LEVEL": ("LADDER_LEVEL", float),
    "LEADERBOARD_BOARD_WAIT_S": ("BOARD_WAIT_S", float),
    "LEADERBOARD_SUBMISSIONS": ("SUBMISSIONS", str),
    "LEADERBOARD_TEST_RECORDS": ("TEST_RECORDS", os.path.abspath),
    "LEADERBOARD_QUEUE_URL": ("QUEUE_URL", str),
    "LEADERBOARD_MODEL_MAX_BYTES": ("MODEL_MAX_BYTES", int),
    "LEADERBOARD_MODEL_WALL_S": ("MODEL_WALL_S", float),
    "LEADERBOARD_MODEL_CPU_S": ("MODEL_CPU_S", int),
    "LEADERBOARD_MODEL_MEMORY_BYTES": ("MODEL_MEMORY_BYTES", int),
    "LEADERBOARD_MODEL_THREADS": ("MODEL_THREADS", int),
    "LEADERBOARD_MODEL_STALE_MARGIN_S": ("MODEL_STALE_MARGIN_S", float),
    "LEADERBOARD_MODEL_REQUIRE_ISOLATION": ("MODEL_REQUIRE_ISOLATION", _bool),
}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as ``LEADERBOARD_*`` environment variables, parsed."""
    settings = {}
    for variable, (key, parse) in ENVIRONMENT.items():
        if variable in environ:
            try:
                settings[key] = parse(environ[variable])
            except ValueError as err:
                raise ConfigError(f"{variable}={environ[variable]!r}: {err}") from None
    return settings


def finish(config: dict[str, Any]) -> None:
    """Derive dependent settings and refuse unsafe or inconsistent ones."""
    if config["ENV_NAME"] not in ("production", "development"):
        raise ConfigError(
            f"LEADERBOARD_ENV={config['ENV_NAME']!r}: expected 'production' or 'development'"
        )
    if config["ROLE"] == "worker":  # its challenge files come from the database
        config.update(SUBMISSIONS="models", ANSWER_KEY=None, TEST_RECORDS=None, PUBLIC_DATA=None)
    production = config["ENV_NAME"] == "production" and not config.get("TESTING")
    if production and config["CHECK_SECRET"]:
        _check_secret_key(config.get("SECRET_KEY"))
    _check_admin_token(config.get("ADMIN_TOKEN"))
    if config["PUBLIC_URL"]:
        config["PUBLIC_URL"] = config["PUBLIC_URL"].rstrip("/") + "/"
    if config["SESSION_COOKIE_SECURE"] is None:
        config["SESSION_COOKIE_SECURE"] = production
    for key in ("OPEN_AT", "CLOSE_AT", "REVEAL_AT"):
        try:
            config[key] = parse_utc(config[key])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{key}={config[key]!r}: not an ISO 8601 time ({err})") from None
    if config["OPEN_AT"] and config["CLOSE_AT"] and config["CLOSE_AT"] <= config["OPEN_AT"]:
        raise ConfigError(f"CLOSE_AT {config['CLOSE_AT']} is not after OPEN_AT {config['OPEN_AT']}")
    config["REGISTRATION"] = _registration_mode(config)
    for key in ("DAILY_QUOTA", "REFUSED_PER_DAY", "MAX_UPLOAD_BYTES", "MAX_FINALS",
                "REGISTRATIONS_PER_HOUR", "REGISTRATIONS_PER_DAY", "COURSE_REPORTS_PER_HOUR",
                "COURSE_MAX_BODY_BYTES", "COURSE_STUCK_ATTEMPTS", "COURSE_STUCK_MINUTES",
                "BOARD_WAIT_S"):  # fmt: skip
        if float(config[key]) < 0:
            raise ConfigError(f"{key}={config[key]!r} must not be negative")
    if not 16 <= int(config["REGISTRATION_IPV6_PREFIX"]) <= 128:
        raise ConfigError(
            f"REGISTRATION_IPV6_PREFIX={config['REGISTRATION_IPV6_PREFIX']!r}: expected the "
            "bits of an IPv6 network prefix from 16 to 128 (56: a home's allocation)"
        )
    if not config["ANSWER_KEY"] and config["ROLE"] != "worker":
        raise ConfigError(
            "no answer key: set LEADERBOARD_ANSWER_KEY to the private/answer_key.csv that "
            "`challenge generate` wrote"
        )
    if config["SIMULATED_TRAINING_DATA"] not in TRAINING_DATA_RULES:
        raise ConfigError(
            f"SIMULATED_TRAINING_DATA={config['SIMULATED_TRAINING_DATA']!r}: expected "
            + " or ".join(map(repr, TRAINING_DATA_RULES))
        )
    if config["PUBLIC_DATA"]:
        _check_public_data(config["PUBLIC_DATA"], config["ANSWER_KEY"])
    _check_public_board(config)
    _check_submissions(config)
    # The multipart body carries the file plus a note and the form's boundaries.
    config["MAX_CONTENT_LENGTH"] = upload_limit(config) + MB


PUBLIC_BOARDS = ("ladder", "plain")


def _check_public_board(config: dict[str, Any]) -> None:
    if config["PUBLIC_BOARD"] not in PUBLIC_BOARDS:
        raise ConfigError(
            f"LEADERBOARD_PUBLIC_BOARD={config['PUBLIC_BOARD']!r}: expected "
            + " or ".join(map(repr, PUBLIC_BOARDS))
        )
    if not 0 < float(config["LADDER_LEVEL"]) < 1:
        raise ConfigError(
            f"LEADERBOARD_LADDER_LEVEL={config['LADDER_LEVEL']!r}: expected a test level "
            "strictly between 0 and 1, such as 0.05"
        )


def upload_limit(config: Mapping[str, Any]) -> int:
    """The largest file a team may upload: a model file in models mode, else a prediction file."""
    models = config["SUBMISSIONS"] == "models"
    return int(config["MODEL_MAX_BYTES"] if models else config["MAX_UPLOAD_BYTES"])


QUEUE_SCHEMES = ("sqlite:///", "redis://", "rediss://")


def _check_submissions(config: dict[str, Any]) -> None:
    """The submission kind, the queue's URL and, for models, the limits and where test.root is."""
    if config["SUBMISSIONS"] not in SUBMISSION_KINDS:
        raise ConfigError(
            f"LEADERBOARD_SUBMISSIONS={config['SUBMISSIONS']!r}: expected "
            + " or ".join(map(repr, SUBMISSION_KINDS))
        )
    if not config["QUEUE_URL"]:
        config["QUEUE_URL"] = "sqlite:///" + os.path.join(config["INSTANCE_PATH"], "queue.sqlite")
    if not config["QUEUE_URL"].startswith(QUEUE_SCHEMES):
        raise ConfigError(
            f"LEADERBOARD_QUEUE_URL={config['QUEUE_URL']!r}: expected sqlite:///PATH (one "
            "machine) or redis://HOST:PORT/DB (workers on several machines)"
        )
    for key in ("MODEL_MAX_BYTES", "MODEL_WALL_S", "MODEL_CPU_S", "MODEL_MEMORY_BYTES",
                "MODEL_THREADS", "MODEL_STALE_MARGIN_S"):  # fmt: skip
        if not float(config[key]) > 0:
            raise ConfigError(f"{key}={config[key]!r} must be positive")
    if config["ROLE"] == "worker":
        return  # the challenge's files: from the database, once it is open
    if not config["TEST_RECORDS"]:
        config["TEST_RECORDS"] = os.path.join(
            os.path.dirname(os.path.abspath(config["ANSWER_KEY"])), "test.root"
        )
    _check_challenge_kind(config)
    if config["SUBMISSIONS"] == "models":
        _check_test_records(config["TEST_RECORDS"])
        if config["PUBLIC_DATA"]:
            _check_public_data_of_models(config["PUBLIC_DATA"], config["TEST_RECORDS"])


# Files of a challenge of prediction files that a challenge of models keeps private: the test
# pulses, and the sample submission that lists every test event id.
PREDICTION_FILES = ("test.root", "sample_submission.csv")
MODELS_HOW_TO = (
    "`challenge generate --submissions models` (or `challenge import --submissions models`) "
    "writes it as private/test.root beside the answer key"
)


def public_folder(config: Mapping[str, Any]) -> Path | None:
    """Where the public files are: ``PUBLIC_DATA``, else the ``public/`` folder beside the answer
    key's ``private/`` (the layout ``challenge generate`` writes), if it exists."""
    if config["PUBLIC_DATA"]:
        return Path(config["PUBLIC_DATA"])
    beside = Path(config["ANSWER_KEY"]).resolve().parent.parent / "public"
    return beside if beside.is_dir() else None


def challenge_facts(config: Mapping[str, Any]) -> dict:
    """The challenge's public ``challenge.json`` (from ``challenge generate``), or {} without one."""
    folder = public_folder(config)
    path = folder / SETTINGS_FILE if folder else None
    if path is None or not path.is_file():
        return {}
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("cannot read %s: %s", path, err)
        return {}
    return facts if isinstance(facts, dict) else {}


def _check_challenge_kind(config: dict[str, Any]) -> None:
    """The challenge's public/challenge.json (``PUBLIC_DATA``, else the public/ beside the answer
    key's private/) must name the kind of submissions the leaderboard takes, where it names one."""
    folder = config["PUBLIC_DATA"] or Path(config["ANSWER_KEY"]).resolve().parent.parent / "public"
    path = Path(folder) / SETTINGS_FILE
    try:
        kind = json.loads(path.read_text(encoding="utf-8")).get("submissions")
    except (OSError, ValueError, AttributeError):
        return  # no challenge.json, or not one of ours: nothing to compare
    if kind in SUBMISSION_KINDS and kind != config["SUBMISSIONS"]:
        raise ConfigError(
            f"{path} says the challenge takes {kind}, but LEADERBOARD_SUBMISSIONS is "
            f"{config['SUBMISSIONS']!r}: set LEADERBOARD_SUBMISSIONS={kind}, or generate the "
            f"challenge again with --submissions {config['SUBMISSIONS']}"
        )


def _check_test_records(path: str) -> None:
    """In models mode the workers run each model on test.root: it must be there."""
    if not os.path.isfile(path):
        raise ConfigError(
            f"LEADERBOARD_TEST_RECORDS={path!r}: no such file. Model submissions are run on the "
            f"test records: {MODELS_HOW_TO} (the default place), or set LEADERBOARD_TEST_RECORDS "
            "to the test.root of the challenge"
        )


def _check_public_data_of_models(folder: str, test_records: str) -> None:
    """A challenge of models publishes no test pulse and no test event id: the download folder
    must not hold test.root (the settings' or any file of that name) or a sample submission."""
    public = Path(folder).resolve()
    if public in Path(test_records).resolve().parents:
        raise ConfigError(
            f"LEADERBOARD_PUBLIC_DATA={folder!r} holds the test records {test_records}, which "
            "model submissions keep on the server: give the public/ folder, never private/"
        )
    found = sorted(str(p) for name in PREDICTION_FILES for p in public.rglob(name))
    if found:
        raise ConfigError(
            f"LEADERBOARD_PUBLIC_DATA={folder!r} holds {', '.join(found)}: the test pulses and "
            "ids of a challenge of model submissions stay on the server. Give the public/ folder "
            f"of a challenge made for models ({MODELS_HOW_TO}), or delete those files"
        )


def _check_public_data(folder: str, answer_key: str) -> None:
    """The download folder must exist and must not hold the answer key, even further down."""
    public = Path(folder).resolve()
    if not public.is_dir():
        raise ConfigError(
            f"LEADERBOARD_PUBLIC_DATA={folder!r} is not a folder: give the public/ folder "
            "that `challenge generate` wrote"
        )
    if public in Path(answer_key).resolve().parents:
        raise ConfigError(
            f"LEADERBOARD_PUBLIC_DATA={folder!r} holds the answer key {answer_key}: give the "
            "public/ folder, never the challenge folder or private/"
        )


def _check_secret_key(secret: str | None) -> None:
    """Refuse the default or a short secret key: whoever guesses it can forge session cookies."""
    if not secret or secret == DEFAULT_SECRET_KEY:
        raise ConfigError(
            "refusing to run in production with the default secret key: set LEADERBOARD_SECRET_KEY "
            f"(for example to the output of `{HOW_TO_MAKE_A_SECRET}`)"
        )
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"LEADERBOARD_SECRET_KEY is {len(secret)} characters long; at least "
            f"{MIN_SECRET_CHARS} are needed, because whoever guesses it can forge log-in cookies "
            f"(make one with `{HOW_TO_MAKE_A_SECRET}`)"
        )


def _check_admin_token(token: str | None) -> None:
    """Refuse a short organizer token: it opens every private score and the reveal."""
    if token and len(token) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"LEADERBOARD_ADMIN_TOKEN is {len(token)} characters long; at least "
            f"{MIN_SECRET_CHARS} are needed, because it opens every private score "
            f"(make one with `{HOW_TO_MAKE_A_SECRET}`, or leave it unset to manage from the CLI)"
        )


REGISTRATION_MODES = ("open", "invite", "closed")


def _registration_mode(config: Mapping[str, Any]) -> str:
    """REGISTRATION, or what the deprecated REGISTRATION_OPEN meant (with a warning), or "open"."""
    mode, legacy = config["REGISTRATION"], config["REGISTRATION_OPEN"]
    if mode is None and legacy is not None:
        mode = "open" if legacy else "closed"
        warnings.warn(
            f"LEADERBOARD_REGISTRATION_OPEN is deprecated: set LEADERBOARD_REGISTRATION={mode} "
            "instead (open, invite or closed)",
            FutureWarning,
            stacklevel=3,
        )
    mode = (mode or "open").strip().lower()
    if mode not in REGISTRATION_MODES:
        raise ConfigError(
            f"LEADERBOARD_REGISTRATION={mode!r}: expected one of {', '.join(REGISTRATION_MODES)}"
        )
    return mode
