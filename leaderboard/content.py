"""The challenge pages (/overview, /data, /rules, /evaluation): Markdown text and the facts they show.

The organizers write a page as ``INSTANCE/<page>.md``; without one, the default text comes from
``templates/pages/<page>.md``, filled in from the settings. Markdown is rendered with
markdown-it-py with raw HTML switched off, so that no page can carry a script (see ``to_html``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import current_app, render_template
from markdown_it import MarkdownIt
from markupsafe import Markup

from challenge.data import SETTINGS_FILE
from leaderboard import config as settings
from leaderboard.config import PREDICTION_FILES, TRAINING_DATA_RULES

PAGES = {  # endpoint name -> title, in the order of the navigation
    "overview": "Overview",
    "data": "Data",
    "evaluation": "Evaluation",
    "rules": "Rules",
}
DATACARD = "DATACARD.md"
CHALLENGE_JSON = SETTINGS_FILE  # public facts of the challenge, written by `challenge generate`
SIMULATED_KEY = "simulated_training_data"  # "allowed" or "forbidden"
FILE_ROLES = {  # public file -> what it is (HTML: /data shows it as it is)
    "train.root": Markup("training records with labels (ROOT TTree <code>events</code>)"),
    "test.root": "test records without labels; your submission scores these",
    "sample_submission.csv": "a valid submission with random scores: the format to follow",
    DATACARD: "the data card: what the data are, units, class balance, reference scores",
    CHALLENGE_JSON: "the challenge's public facts, machine-readable",
}


def file_roles() -> dict[str, str]:
    """The public files of this challenge and what each is: with model submissions the test
    records and the sample submission (which lists the test ids) stay on the server."""
    if current_app.config["SUBMISSIONS"] == "models":
        return {k: v for k, v in FILE_ROLES.items() if k not in PREDICTION_FILES}
    return FILE_ROLES


def submission_facts() -> dict:
    """What the pages say about the kind of submission: prediction files or models, and a
    model's limits on the server."""
    config = current_app.config
    return {
        "models": config["SUBMISSIONS"] == "models",
        "model_max": file_size(config["MODEL_MAX_BYTES"]),
        "model_wall_s": f"{config['MODEL_WALL_S']:g}",
        "model_memory": file_size(config["MODEL_MEMORY_BYTES"]),
    }


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # "commonmark" with html=False: raw HTML in the text is shown as text, never passed on, and
    # link targets go through markdown-it's validateLink, which refuses javascript:, vbscript:,
    # file: and data: URLs (except data:image). With that the output needs no sanitizer of its own.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def to_html(text: str) -> Markup:
    """Markdown as safe HTML: no raw HTML, no script links."""
    return Markup(_markdown().render(text))


def page_text(page: str, **context) -> Markup:
    """The organizers' ``INSTANCE/<page>.md`` if there is one, else the default text."""
    custom = Path(current_app.config["INSTANCE_PATH"]) / f"{page}.md"
    if custom.is_file():
        return to_html(custom.read_text(encoding="utf-8"))
    return to_html(render_template(f"pages/{page}.md", **context))


def public_folder() -> Path | None:
    """Where the public files are (``config.public_folder``)."""
    return settings.public_folder(current_app.config)


def challenge_facts() -> dict:
    """The challenge's public ``challenge.json``, or {} without one (``config.challenge_facts``)."""
    return settings.challenge_facts(current_app.config)


def datacard() -> Markup | None:
    """The data card of the challenge, rendered as a section of /data, or None when there is none
    to read: its title (or "Data card") is the section's heading, its headings one level down."""
    folder = public_folder()
    path = folder / DATACARD if folder else None
    if path is None or not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if not text.lstrip().startswith("# "):
        text = "# Data card\n\n" + text
    md = _markdown()
    tokens = md.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + 1, 6)}"
    first = next(t for t in tokens if t.type == "heading_open")
    first.attrSet("id", "datacard")  # /data#datacard, as before
    return Markup(md.renderer.render(tokens, md.options, {}))


@dataclass(frozen=True)
class PublicFile:
    name: str
    size_bytes: int
    role: str


def downloads() -> list[PublicFile]:
    """The files offered on /data: the top level of ``LEADERBOARD_PUBLIC_DATA``, none without it.

    Only plain, visible files directly in the folder: never a subfolder, so a private/ folder
    put there by mistake stays out of reach (and the settings refuse a folder holding the key).
    """
    if not current_app.config["PUBLIC_DATA"]:
        return []
    folder = Path(current_app.config["PUBLIC_DATA"])
    # with models, the settings refuse a folder holding the test files at start; this keeps
    # them out of reach if one is copied there later
    hidden = PREDICTION_FILES if current_app.config["SUBMISSIONS"] == "models" else ()
    return [
        PublicFile(path.name, path.stat().st_size, FILE_ROLES.get(path.name, ""))
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".") and path.name not in hidden
    ]


def simulated_training_data() -> str:
    """ "allowed" or "forbidden": may teams train on data of their own simulation? The challenge's
    ``challenge.json`` says it when it has the key, else ``LEADERBOARD_SIMULATED_TRAINING_DATA``."""
    rule = challenge_facts().get(SIMULATED_KEY)
    return rule if rule in TRAINING_DATA_RULES else current_app.config["SIMULATED_TRAINING_DATA"]


def simulated_training_data_rule() -> str:
    """The challenge's own sentence about self-simulated training data, if ``challenge.json``
    has one (``challenge generate`` writes it), else ""."""
    rule = challenge_facts().get(SIMULATED_KEY + "_rule")
    return rule if isinstance(rule, str) else ""


def file_size(n_bytes: int) -> str:
    """A size as people read it: "237 MB", "4.2 kB", "512 bytes" (powers of 1000)."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= factor:
            value = n_bytes / factor
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{n_bytes} bytes"
