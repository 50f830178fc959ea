"""Registration as an adversary tries it: a script registering a hundred teams from one address,
an invite code used twice or guessed, a classroom of 30 behind one address, and the modes."""

from __future__ import annotations

import re

import pytest

from leaderboard import create_app
from leaderboard.config import ConfigError
from leaderboard.db import session_scope
from leaderboard.models import Team

CODE = re.compile(r"^[A-HJKMNP-Z2-9]{4}(-[A-HJKMNP-Z2-9]{4}){3}$")


def register(client, name, *, invite=None, address="203.0.113.5"):
    body = {"name": name} | ({"invite": invite} if invite is not None else {})
    return client.post("/api/teams", json=body, environ_base={"REMOTE_ADDR": address})


def team_count(app) -> int:
    with session_scope(app) as db:
        return db.query(Team).count()


def invites(runner, count) -> list[str]:
    result = runner.invoke(["invite", "--count", str(count)])
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_defaults_are_open_with_five_teams_an_hour_and_20_a_day_per_address(app_config):
    limits = ("REGISTRATIONS_PER_HOUR", "REGISTRATIONS_PER_DAY")
    app = create_app({k: v for k, v in app_config.items() if k not in limits})
    assert app.config["REGISTRATION"] == "open"
    assert app.config["REGISTRATIONS_PER_HOUR"] == 5
    assert app.config["REGISTRATIONS_PER_DAY"] == 20
    assert app.config["REGISTRATION_IPV6_PREFIX"] == 56


def test_a_script_registering_a_hundred_teams_gets_five(app, client, clock):
    app.config["REGISTRATIONS_PER_HOUR"] = 5
    answers = [register(client, f"bot {n}") for n in range(100)]
    assert [r.status_code for r in answers[:5]] == [201] * 5
    refused = answers[5:]
    assert {r.status_code for r in refused} == {429}
    assert {r.headers["Retry-After"] for r in refused} == {"3600"}
    assert refused[0].get_json()["error"] == (
        "5 teams were registered from this address in the last hour, the most allowed is 5; "
        "try again in 3600 s, or ask the organizers for an invite code"
    )
    assert team_count(app) == 5
    assert register(client, "elsewhere", address="198.51.100.9").status_code == 201
    clock.advance(seconds=3599)
    assert register(client, "bot late").headers["Retry-After"] == "1"
    clock.advance(seconds=1)
    assert register(client, "bot later").status_code == 201


def test_the_hour_slides(app, client, clock):
    app.config["REGISTRATIONS_PER_HOUR"] = 2
    assert register(client, "a").status_code == 201
    clock.advance(minutes=40)
    assert register(client, "b").status_code == 201
    assert register(client, "c").headers["Retry-After"] == str(20 * 60)
    clock.advance(minutes=20)
    assert register(client, "c").status_code == 201
    assert register(client, "d").headers["Retry-After"] == str(40 * 60)


def test_the_day_limits_a_script_that_keeps_the_hourly_pace(app, client, clock):
    """5 an hour would let one address register 120 teams a day; the day stops it at 20."""
    app.config.update(REGISTRATIONS_PER_HOUR=5, REGISTRATIONS_PER_DAY=20)
    statuses = []
    for hour in range(6):
        statuses += [register(client, f"bot {hour}.{n}").status_code for n in range(5)]
        clock.advance(hours=1)
    assert statuses == [201] * 20 + [429] * 10
    refused = register(client, "bot late")
    assert refused.get_json()["error"] == (
        "20 teams were registered from this address in the last 24 hours, the most allowed is "
        "20; try again in 64800 s, or ask the organizers for an invite code"
    )  # the first of the 20 came 6 h ago: 18 h to wait
    assert refused.headers["Retry-After"] == "64800"
    assert register(client, "elsewhere", address="198.51.100.9").status_code == 201
    clock.advance(hours=18)
    assert register(client, "bot next day").status_code == 201


def test_ipv6_registrations_count_per_56_network_by_default(app, client):
    """A home's /56 holds 256 /64s: counted per /64 it registered 1,280 teams in an hour."""
    app.config.update(REGISTRATIONS_PER_HOUR=2, REGISTRATIONS_PER_DAY=0)
    homes_64s = [f"2001:db8:0:{n:x}::1" for n in range(0, 256, 51)]  # six /64s of one /56
    statuses = [register(client, f"v6 {n}", address=a).status_code for n, a in enumerate(homes_64s)]
    assert statuses == [201, 201, 429, 429, 429, 429]
    assert register(client, "next home", address="2001:db8:0:100::1").status_code == 201
    app.config["REGISTRATION_IPV6_PREFIX"] = 64  # the setting: one host per /64
    assert register(client, "v6 64", address="2001:db8:0:ff::2").status_code == 201
    assert register(client, "v4", address="192.0.2.1").status_code == 201


def test_the_form_answers_429_with_the_time_to_retry(app, client):
    app.config["REGISTRATIONS_PER_HOUR"] = 1
    assert client.post("/register", data={"name": "one"}).status_code == 201
    page = client.post("/register", data={"name": "two"})
    assert page.status_code == 429 and page.headers["Retry-After"] == "3600"
    assert "try again in 3600 s" in page.get_data(as_text=True)


def test_zero_means_no_limit(app, client):
    app.config["REGISTRATIONS_PER_HOUR"] = 0
    assert {register(client, f"team {n}").status_code for n in range(12)} == {201}


def test_invite_codes_are_one_use(app, client, runner):
    app.config["REGISTRATION"] = "invite"
    codes = invites(runner, 30)
    assert len(codes) == len(set(codes)) == 30 and all(CODE.match(c) for c in codes)
    missing = register(client, "alpha")
    assert missing.status_code == 400
    assert missing.get_json()["error"] == (
        "registration needs an invite code: enter the one the organizers gave you"
    )
    assert register(client, "alpha", invite=codes[0]).status_code == 201
    again = register(client, "beta", invite=codes[0])
    assert again.status_code == 409
    assert again.get_json()["error"] == (
        "this invite code was already used; each code registers one team"
    )
    typed = codes[1].lower().replace("-", " ")
    assert register(client, "beta", invite=typed).status_code == 201
    taken = register(client, "ALPHA", invite=codes[2])
    assert taken.status_code == 409 and "already taken" in taken.get_json()["error"]
    assert register(client, "gamma", invite=codes[2]).status_code == 201  # not used up by a 409
    assert team_count(app) == 3


def test_guessed_invite_codes_count_as_wrong_tokens(app, client, runner):
    app.config.update(REGISTRATION="invite", BAD_TOKEN_LIMIT=2)
    code = invites(runner, 1)[0]
    assert register(client, "x", invite="AAAA-BBBB-CCCC-DDDD").status_code == 403
    assert register(client, "x", invite="AAAA-BBBB-CCCC-DDDE").status_code == 403
    guessed = register(client, "x", invite="AAAA-BBBB-CCCC-DDDF")
    assert guessed.status_code == 429 and guessed.headers["Retry-After"] == "1"
    assert register(client, "x", invite=code).status_code == 201  # a right one always works


def test_a_classroom_of_30_behind_one_address(app, client, runner):
    """The default of 5 an hour stops a class behind one NAT: invite mode, or a higher limit."""
    app.config["REGISTRATIONS_PER_HOUR"] = 5
    statuses = [register(client, f"pupil {n}").status_code for n in range(30)]
    assert statuses.count(201) == 5 and statuses.count(429) == 25
    app.config["REGISTRATION"] = "invite"  # no address limit: each code is one team
    codes = invites(runner, 30)
    statuses = [register(client, f"pupils {n}", invite=c).status_code for n, c in enumerate(codes)]
    assert statuses == [201] * 30
    app.config.update(REGISTRATION="open", REGISTRATIONS_PER_HOUR=40)  # another school
    statuses = [register(client, f"class {n}", address="192.0.2.80").status_code for n in range(30)]
    assert statuses == [201] * 30


def test_invite_mode_on_the_page(app, client, runner):
    app.config["REGISTRATION"] = "invite"
    code = invites(runner, 1)[0]
    page = client.get("/register").get_data(as_text=True)
    assert 'name="invite"' in page
    assert "with an invite code from the organizers" in client.get("/rules").text
    response = client.post("/register", data={"name": "alpha", "invite": code})
    assert response.status_code == 201 and "Team alpha is registered" in response.text
    response = client.post("/register", data={"name": "beta", "invite": code})
    assert response.status_code == 409 and "already used" in response.text
    result = runner.invoke(["status"])
    assert result.exit_code == 0
    assert "registration invite (1 of 1 codes used)" in result.output


def test_closed_registration_leaves_add_team(app, client, runner):
    app.config["REGISTRATION"] = "closed"
    assert register(client, "alpha").status_code == 403
    assert "Registration is closed" in client.get("/register").text
    result = runner.invoke(["add-team", "alpha"])
    assert result.exit_code == 0 and "team 'alpha' added" in result.output
    taken = runner.invoke(["add-team", "ALPHA"])
    assert taken.exit_code == 1
    assert taken.output.startswith("Error: the team name 'ALPHA' is already taken")


def test_invite_without_invite_mode_says_so(app, runner):
    result = runner.invoke(["invite", "--count", "2"])
    assert result.exit_code == 0 and len(result.stdout.split()) == 2
    assert "set LEADERBOARD_REGISTRATION=invite" in result.stderr
    assert runner.invoke(["invite", "--count", "0"]).exit_code == 1


def test_registration_mode_setting_and_the_deprecated_one(monkeypatch, app_config):
    monkeypatch.setenv("LEADERBOARD_REGISTRATION_OPEN", "0")
    with pytest.warns(FutureWarning, match="deprecated: set LEADERBOARD_REGISTRATION=closed"):
        assert create_app(app_config).config["REGISTRATION"] == "closed"
    monkeypatch.setenv("LEADERBOARD_REGISTRATION_OPEN", "1")
    with pytest.warns(FutureWarning, match="LEADERBOARD_REGISTRATION=open instead"):
        assert create_app(app_config).config["REGISTRATION"] == "open"
    monkeypatch.delenv("LEADERBOARD_REGISTRATION_OPEN")
    monkeypatch.setenv("LEADERBOARD_REGISTRATION", "invite")
    assert create_app(app_config).config["REGISTRATION"] == "invite"
    monkeypatch.setenv("LEADERBOARD_REGISTRATION", "members-only")
    with pytest.raises(ConfigError, match="expected one of open, invite, closed"):
        create_app(app_config)
    monkeypatch.delenv("LEADERBOARD_REGISTRATION")
    with pytest.raises(ConfigError, match="REGISTRATIONS_PER_HOUR=-1"):
        create_app({**app_config, "REGISTRATIONS_PER_HOUR": -1})
    with pytest.raises(ConfigError, match="REGISTRATIONS_PER_DAY=-1"):
        create_app({**app_config, "REGISTRATIONS_PER_DAY": -1})
    with pytest.raises(ConfigError, match="REGISTRATION_IPV6_PREFIX=129: expected the bits"):
        create_app({**app_config, "REGISTRATION_IPV6_PREFIX": 129})


@pytest.mark.timeout(60)
def test_simultaneous_registrations_respect_the_limit_and_one_use_codes(app, runner):
    """Twenty clients at once: the checks run under the write lock, so none slips through."""
    from concurrent.futures import ThreadPoolExecutor

    app.config["REGISTRATIONS_PER_HOUR"] = 5
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda n: register(app.test_client(), f"rush {n}").status_code,
                                 range(20)))  # fmt: skip
    assert sorted(statuses) == [201] * 5 + [429] * 15
    app.config["REGISTRATION"] = "invite"
    code = invites(runner, 1)[0]
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(
            lambda n: register(app.test_client(), f"code {n}", invite=code).status_code, range(10)
        ))  # fmt: skip
    assert sorted(statuses) == [201] + [409] * 9
    assert team_count(app) == 6
