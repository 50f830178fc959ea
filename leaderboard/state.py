"""What an app holds besides its settings: one typed ``State``, with one part per module that holds
anything (the database's engine, the answer key and its caches, the board cache, the queue, ...).

Each module's ``init_app`` holds its own part, a class of that module; ``state_of(app).part(Kind)``
finds it, typed as ``Kind``. The parts are looked up by their class, never by a string, and this
module imports none of them, so that nothing here points up to the modules that use it.
"""

from __future__ import annotations

from typing import TypeVar

from flask import Flask

Part = TypeVar("Part")

EXTENSION = "leaderboard"  # the one key of ``app.extensions`` that the leaderboard uses


class State:
    """The parts an app holds, one per class."""

    def __init__(self) -> None:
        self._parts: dict[type, object] = {}

    def hold(self, part: Part) -> Part:
        """Hold ``part`` as the one of its class (replacing an earlier one); returns it."""
        self._parts[type(part)] = part
        return part

    def part(self, kind: type[Part]) -> Part:
        """The part of class ``kind``; LookupError naming it when the app holds none."""
        try:
            return self._parts[kind]  # type: ignore[return-value]
        except KeyError:
            raise LookupError(
                f"this app holds no {kind.__module__}.{kind.__qualname__}; "
                "was it built by leaderboard.create_app?"
            ) from None

    def find(self, kind: type[Part]) -> Part | None:
        """The part of class ``kind``, or None when the app holds none (yet)."""
        return self._parts.get(kind)  # type: ignore[return-value]


def state_of(app: Flask) -> State:
    """The app's state, made on first use."""
    return app.extensions.setdefault(EXTENSION, State())
