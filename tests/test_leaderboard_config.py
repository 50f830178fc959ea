"""Configuration layers, production safety, the SQLite settings, and clean 5xx answers."""

from __future__ import annotations

import errno
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from leaderboard import create_app
from leaderboard.config import MB, ConfigError
from leaderboard.db import engine_of


def test_layers_defaults_instance_environment_test_config(monkeypatch, tmp_path, app_config):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("DAILY_QUOTA = 7\nNOTE_MAX_CHARS = 50\nROC_TOP_TEAMS = 3\n")
    monkeypatch.setenv("LEADERBOARD_INSTANCE", str(instance))
    monkeypatch.setenv("LEADERBOARD_DAILY_QUOTA", "8")
    monkeypatch.setenv("LEADERBOARD_REGISTRATION", "Invite")
    monkeypatch.setenv("LEADERBOARD_OPEN_AT", "2026-03-02T08:00")
    monkeypatch.setenv("LEADERBOARD_CLOSE_AT", "2026-03-06T18:00:00+02:00")
    monkeypatch.setenv("LEADERBOARD_MAX_UPLOAD_BYTES", str(2 * MB))
    config = {k: v for k, v in app_config.items() if k != "DAILY_QUOTA"}
    app = create_app({**config, "ROC_TOP_TEAMS": 4})
    assert app.config["NOTE_MAX_CHARS"] == 50  # instance file over defaults
    assert app.config["DAILY_QUOTA"] == 8  # environment over instance file
    assert app.config["ROC_TOP_TEAMS"] == 4  # test config over everything
    assert app.config["REGISTRATION"] == "invite"
    assert app.config["OPEN_AT"] == datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    assert app.config["CLOSE_AT"] == datetime(2026, 3, 6, 16, 0, tzinfo=timezone.utc)
    assert app.config["MAX_CONTENT_LENGTH"] == 3 * MB
    assert app.config["UPLOAD_FOLDER"] == app_config["UPLOAD_FOLDER"]
    assert app.instance_path == str(instance)
    engine_of(app).dispose()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LEADERBOARD_DAILY_QUOTA", "ten", "LEADERBOARD_DAILY_QUOTA='ten'"),
        ("LEADERBOARD_REGISTRATION_OPEN", "maybe", "expected 1/0"),
        ("LEADERBOARD_OPEN_AT", "next monday", "LEADERBOARD_OPEN_AT='next monday'"),
        ("LEADERBOARD_ENV", "staging", "expected 'production' or 'development'"),
    ],
)
def test_bad_environment_values_are_named(monkeypatch, app_config, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        create_app({k: v for k, v in app_config.items() if k != "TESTING"})


def test_close_before_open_is_refused(app_config):
    with pytest.raises(ConfigError, match="is not after OPEN_AT"):
        create_app({**app_config, "OPEN_AT": "2026-03-05", "CLOSE_AT": "2026-03-04"})


def test_production_needs_a_secret_and_sets_secure_cookies(app_config):
    production = {k: v for k, v in app_config.items() if k != "TESTING"} | {
        "ENV_NAME": "production"
    }
    with pytest.raises(ConfigError, match="default secret key: set LEADERBOARD_SECRET_KEY"):
        create_app({**production, "SECRET_KEY": "dev"})
    with pytest.raises(ConfigError, match="default secret key"):
        create_app({**production, "SECRET_KEY": ""})
    app = create_app({**production, "SECRET_KEY": "s" * 32})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    plain_http = create_app({**production, "SECRET_KEY": "s" * 32, "SESSION_COOKIE_SECURE": False})
    assert plain_http.config["SESSION_COOKIE_SECURE"] is False
    development = create_app({**production, "ENV_NAME": "development"})
    assert development.config["SESSION_COOKIE_SECURE"] is False


def test_short_secrets_are_refused_and_the_message_says_why(app_config):
    production = {k: v for k, v in app_config.items() if k != "TESTING"} | {
        "ENV_NAME": "production"
    }
    with pytest.raises(ConfigError) as error:
        create_app({**production, "SECRET_KEY": "s" * 31})
    assert str(error.value).startswith(
        "LEADERBOARD_SECRET_KEY is 31 characters long; at least 32 are needed, because whoever "
        "guesses it can forge log-in cookies"
    )
    create_app({**production, "SECRET_KEY": "s" * 32})
    for config in (app_config, production | {"SECRET_KEY": "s" * 32}):  # tests too
        with pytest.raises(ConfigError, match="LEADERBOARD_ADMIN_TOKEN is 1 characters long"):
            create_app({**config, "ADMIN_TOKEN": "x"})
        with pytest.raises(ConfigError, match="is 31 characters long; at least 32 are needed"):
            create_app({**config, "ADMIN_TOKEN": "t" * 31})
    assert create_app({**app_config, "ADMIN_TOKEN": "t" * 32}).config["ADMIN_TOKEN"] == "t" * 32
    assert create_app({**app_config, "ADMIN_TOKEN": None}).config["ADMIN_TOKEN"] is None


def test_instance_and_public_url_come_from_the_settings_map(monkeypatch, tmp_path, app_config):
    monkeypatch.setenv("LEADERBOARD_INSTANCE", "relative-instance")
    monkeypatch.setenv("LEADERBOARD_PUBLIC_URL", "https://challenge.example.org")
    monkeypatch.chdir(tmp_path)
    app = create_app(app_config)
    assert app.instance_path == str(tmp_path / "relative-instance")
    assert app.config["INSTANCE_PATH"] == app.instance_path
    assert app.config["PUBLIC_URL"] == "https://challenge.example.org/"


def test_the_default_instance_is_in_the_current_folder(monkeypatch, tmp_path, app_config):
    """Not the installed package's folder: two events run from one install keep apart."""
    monkeypatch.delenv("LEADERBOARD_INSTANCE", raising=False)
    config = {k: v for k, v in app_config.items() if k not in ("DATABASE_URL", "QUEUE_URL")}
    for event in ("spring", "autumn"):
        (tmp_path / event).mkdir()
        monkeypatch.chdir(tmp_path / event)
        app = create_app(config)
        assert app.instance_path == str(tmp_path / event / "instance")
        assert (
            app.config["DATABASE_URL"]
            == f"sqlite:///{tmp_path / event / 'instance'}/leaderboard.sqlite"
        )
        engine_of(app).dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(app):
    if engine_of(app).dialect.name != "sqlite":
        pytest.skip("SQLite settings")
    with engine_of(app).connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 15_000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_database_failure_is_a_clean_503(api, monkeypatch):
    token = api.register("alpha")

    def read_only(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("attempt to write a readonly database"))

    monkeypatch.setattr("leaderboard.queries.add_submission", read_only)
    response = api.submit(token, api.submission())
    assert response.status_code == 503
    assert response.get_json() == {
        "error": "the database is unavailable (read-only, full or locked); try again later"
    }
    page = api.client.post("/register", data={"name": "x"})  # through the write lock as well
    assert page.status_code == 201
    monkeypatch.setattr("leaderboard.queries.ranking_teams", read_only)
    response = api.client.get("/")
    assert response.status_code == 503 and "database is unavailable" in response.get_data(
        as_text=True
    )


def test_full_upload_folder_is_a_clean_503(app, api, monkeypatch, tmp_path):
    token = api.register("alpha")

    def disk_full(folder, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("leaderboard.storage.store", disk_full)
    response = api.submit(token, api.submission())
    assert response.status_code == 503
    assert "submission folder is unavailable" in response.get_json()["error"]
    assert api.client.get("/api/leaderboard").get_json()["rows"] == []  # nothing recorded


def test_unexpected_errors_are_500_without_details(api, monkeypatch):
    def broken(session):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("leaderboard.queries.ranking_teams", broken)
    response = api.client.get("/api/leaderboard")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error; the organizers have been told"}


# Model submissions: test.root on the server, nowhere in the public files.


@pytest.fixture(scope="module")
def models_challenge(tmp_path_factory):
    """A tiny challenge of model submissions, and the same challenge made for prediction files."""
    from challenge.generate import generate_challenge

    folders = {}
    for kind in ("models", "predictions"):
        folders[kind] = tmp_path_factory.mktemp(kind)
        generate_challenge(folders[kind], n_train=20, n_test=40, record_length=64, seed=1,
                           submissions=kind, progress=False)  # fmt: skip
    return folders


def models_config(app_config, folder, tmp_path, **settings) -> dict:
    return {**app_config, "SUBMISSIONS": "models",
            "ANSWER_KEY": str(folder / "private" / "answer_key.csv"),
            "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.sqlite'}", **settings}  # fmt: skip


def test_models_take_test_root_beside_the_answer_key(app_config, models_challenge, tmp_path):
    folder = models_challenge["models"]
    app = create_app(
        models_config(app_config, folder, tmp_path, PUBLIC_DATA=str(folder / "public"))
    )
    assert app.config["TEST_RECORDS"] == str(folder / "private" / "test.root")
    engine_of(app).dispose()


def test_models_without_test_records_say_how_to_make_them(app_config, models_challenge, tmp_path):
    folder = models_challenge["models"]
    missing = tmp_path / "nowhere" / "test.root"
    with pytest.raises(ConfigError) as refused:
        create_app(models_config(app_config, folder, tmp_path, TEST_RECORDS=str(missing)))
    assert str(refused.value).startswith(f"LEADERBOARD_TEST_RECORDS='{missing}': no such file.")
    assert "challenge generate --submissions models" in str(refused.value)


@pytest.mark.parametrize("name", ["test.root", "deeper/test.root", "sample_submission.csv"])
def test_models_refuse_public_data_with_test_pulses_or_ids(app_config, models_challenge, tmp_path,
                                                           name):  # fmt: skip
    """The public/ of prediction files (test.root, the sample submission listing the test ids),
    copied whole or in part, is never offered for download in models mode."""
    folder = models_challenge["models"]
    public = tmp_path / "public"
    shutil.copytree(folder / "public", public)
    create_app(models_config(app_config, folder, tmp_path, PUBLIC_DATA=str(public)))
    (public / name).parent.mkdir(exist_ok=True)
    shutil.copy(models_challenge["predictions"] / "public" / Path(name).name, public / name)
    with pytest.raises(ConfigError, match=f"holds {public / name}: the test pulses and ids"):
        create_app(models_config(app_config, folder, tmp_path, PUBLIC_DATA=str(public)))


def test_models_refuse_public_data_that_holds_the_test_records(app_config, models_challenge,
                                                               tmp_path):  # fmt: skip
    folder = models_challenge["models"]
    public = tmp_path / "public"
    shutil.copytree(folder / "public", public)
    records = public / "records" / "events.root"  # under any name
    records.parent.mkdir()
    shutil.copy(folder / "private" / "test.root", records)
    with pytest.raises(ConfigError, match=f"holds the test records {records}, which model"):
        create_app(models_config(app_config, folder, tmp_path, PUBLIC_DATA=str(public),
                                 TEST_RECORDS=str(records)))  # fmt: skip


def test_the_challenge_and_the_leaderboard_agree_on_the_kind(app_config, models_challenge,
                                                             tmp_path):  # fmt: skip
    models, predictions = models_challenge["models"], models_challenge["predictions"]
    forgot = {**app_config, "ANSWER_KEY": str(models / "private" / "answer_key.csv")}
    with pytest.raises(ConfigError, match="says the challenge takes models, but LEADERBOARD_SUB"
                                          "MISSIONS is 'predictions': set LEADERBOARD_SUBMISSIONS=models"):  # fmt: skip
        create_app(forgot)
    with pytest.raises(
        ConfigError, match="takes predictions, but LEADERBOARD_SUBMISSIONS is 'models'"
    ):
        create_app(models_config(app_config, predictions, tmp_path,
                                 TEST_RECORDS=str(models / "private" / "test.root")))  # fmt: skip
