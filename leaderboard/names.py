"""Team names that people can tell apart: no invisible characters, and one name per Unicode
confusable skeleton (UTS #39, computed by ICU), so that look-alikes cannot pose as another team."""

from __future__ import annotations

import functools
import unicodedata

# Drawn as blank, yet neither white space nor default-ignorable in Unicode: Braille's empty cell.
BLANK_LOOKING = "\u2800"
# The name key's column width (models.Team.name_key).
MAX_KEY_CHARS = 200


@functools.cache
def _icu():
    try:
        import icu
    except ImportError as err:  # pragma: no cover - an install without the leaderboard's needs
        raise ImportError(
            "team names need PyICU (Unicode's confusable skeletons): pip install pyicu "
            "(with ICU's headers: apt-get install libicu-dev pkg-config)"
        ) from err
    return icu


@functools.cache
def _invisible():
    """Default-ignorable code points (joiners, variation selectors, Hangul fillers) and blanks."""
    invisible = _icu().UnicodeSet(f"[[:Default_Ignorable_Code_Point:]{BLANK_LOOKING}]")
    invisible.freeze()  # read-only from here on, so that threads may share it
    return invisible


@functools.cache
def _spoof_checker():
    return _icu().SpoofChecker()


def check_visible(name: str) -> None:
    """ValueError naming the first invisible character of ``name`` and where it is."""
    invisible = _invisible()
    for position, char in enumerate(name):
        if invisible.contains(char):
            label = unicodedata.name(char, "unnamed")
            raise ValueError(
                f"the team name contains the invisible character U+{ord(char):04X} ({label}) "
                f"at position {position + 1}"
            )


def skeleton(text: str) -> str:
    """The UTS #39 confusable skeleton of ``text`` (ICU's): "Тeam" (Cyrillic Т) gives "Tearn"."""
    return _spoof_checker().getSkeleton(0, text)


def name_key(name: str) -> str:
    """What two team names must differ in: the skeleton of the NFKC, case-folded skeleton.

    Skeletons keep case ("TEAM" is not "team"), and case folding alone would move some letters
    out of reach of the table (Cherokee Ꭲ folds to ꮲ, which is no Latin look-alike), so the
    name is skeletonised both before and after folding.
    """
    key = skeleton(skeleton(unicodedata.normalize("NFKC", name)).casefold())
    if len(key) > MAX_KEY_CHARS:
        raise ValueError("the team name has too many combined characters; use a plainer one")
    return key
