"""Team names: invisible characters are refused and look-alikes of a taken name are taken
(Unicode's confusable skeletons, UTS #39, as ICU computes them)."""

from __future__ import annotations

import pytest

from leaderboard import names

TAKEN = "Team Rocket"

# The cases of issue 11, each accepted next to "Team Rocket" before.
INVISIBLE = [
    ("Team\u034fRocket", "U+034F (COMBINING GRAPHEME JOINER) at position 5"),
    ("Team Rocket\ufe0f", "U+FE0F (VARIATION SELECTOR-16) at position 12"),
    ("Team\u3164Rocket", "U+3164 (HANGUL FILLER) at position 5"),
    ("\u115fTeam Rocket", "U+115F (HANGUL CHOSEONG FILLER) at position 1"),
    ("Team\u2800Rocket", "U+2800 (BRAILLE PATTERN BLANK) at position 5"),
]
LOOKALIKES = [
    "Te\u0251m Rocket",  # ɑ Latin alpha
    "Team R\u0585cket",  # օ Armenian oh
    "\u13a2eam Rocket",  # Ꭲ Cherokee tlv
    "TEAM R\u041eCKET",  # capitals, with Cyrillic О
]


def register(client, name):
    return client.post("/api/teams", json={"name": name})


@pytest.mark.parametrize(("name", "message"), INVISIBLE)
def test_invisible_characters_are_refused(client, name, message):
    assert register(client, TAKEN).status_code == 201
    response = register(client, name)
    assert response.status_code == 400
    assert (
        response.get_json()["error"] == f"the team name contains the invisible character {message}"
    )


@pytest.mark.parametrize("name", LOOKALIKES)
def test_lookalikes_of_a_taken_name_are_taken(client, name):
    assert register(client, TAKEN).status_code == 201
    response = register(client, name)
    assert response.status_code == 409
    assert response.get_json()["error"] == f"the team name {name!r} is already taken"


def test_names_that_differ_stay_apart(client):
    for name in (
        "Team Rocket",
        "Team Rockets",
        "Team Pocket",
        "Équipe Fusée",
        "Ωμέγα 🚀",
        "チーム",
    ):
        assert register(client, name).status_code == 201, name


@pytest.mark.parametrize(
    ("name", "key"),
    [("Team Rocket", "tearn rocket"), ("\u13a2EAM", "tearn"), ("ΟΡΕΝ", "open"), ("ﬁnal", "final")],
)
def test_name_key_is_the_folded_skeleton(name, key):
    assert names.name_key(name) == key


def test_skeleton_is_icus_uts39_skeleton():
    # Examples of UTS #39 section 4: "paypal" with Cyrillic а, and the digit one for l.
    assert names.skeleton("p\u0430yp\u0430l") == names.skeleton("paypal")
    assert names.skeleton("1") == names.skeleton("l")
