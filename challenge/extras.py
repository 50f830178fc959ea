"""The distribution's optional parts (pip extras) and the install hint when one is missing.

The core (``challenge``) needs none of them; ``baselines``, ``leaderboard`` and ``exercises`` each
need their extra, named in pyproject.toml by distribution and here by import name.
"""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "darkmatter-challenge"
EXTRA_MODULES = {
    "baselines": ("torch", "sklearn"),
    "leaderboard": (
        "flask",
        "flask_wtf",
        "sqlalchemy",
        "waitress",
        "werkzeug",
        "markdown_it",
        "sklearn",
    ),
    "exercises": ("torch", "sklearn"),
    "models": ("onnx", "onnxruntime"),
}


def require_extra(extra: str) -> None:
    """Raise ImportError with the pip command if a module of ``extra`` is not installed."""
    missing = [name for name in EXTRA_MODULES[extra] if not _installed(name)]
    if missing:
        raise ImportError(
            f"the {extra} part needs {', '.join(missing)}, not installed here: "
            f"pip install '{DISTRIBUTION}[{extra}]'"
        )


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that knows the module is absent may say so by raising
        return False
