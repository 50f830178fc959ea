"""The catalogue of lessons, and the skeletons made from the reference solutions.

A solution marks each statement the learner must write with a ``# BLANK: hint`` comment, at the
end of the statement's first line or alone on the line above it. The skeleton replaces the
statement by ``...`` (keeping ``name =`` or ``return``) and the hint by ``# TODO: hint``. A bare
``# BLANK`` at the end of a line folds its statement into the blank just above it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

SOLUTIONS_DIR = Path(__file__).parent / "solutions"
_MARKER = re.compile(r"#\s*BLANK\b:?\s*(?P<hint>.*?)\s*$")


@dataclass(frozen=True)
class Lesson:
    """One lesson: its number, a short name used in file names, its title and a note for the list."""

    number: int
    name: str
    title: str
    takes_mnist: bool = False
    note: str = ""

    @property
    def filename(self) -> str:
        """The file name of both the skeleton and the solution, e.g. ``lesson1_logistic.py``."""
        return f"lesson{self.number}_{self.name}.py"

    @property
    def solution_path(self) -> Path:
        return SOLUTIONS_DIR / self.filename

    def skeleton(self) -> str:
        """The learner's starting point: the solution with every marked statement blanked."""
        return make_skeleton(self.solution_path.read_text(encoding="utf-8"))


LESSONS = {
    lesson.number: lesson
    for lesson in (
        Lesson(1, "logistic", "Logistic regression and gradient-descent variants"),
        Lesson(
            2,
            "mlp",
            "Multilayer perceptron: backpropagation by hand, activations, dropout, a search",
        ),
        Lesson(3, "cnn", "Convolutional network on handwritten digits", takes_mnist=True),
        Lesson(
            4,
            "generative",
            "Generative models: autoencoder, conditional VAE, GAN",
            takes_mnist=True,
        ),
        Lesson(5, "beyond", "Beyond: MC-dropout uncertainty, saliency maps, a recurrent network"),
        Lesson(
            6,
            "roc",
            "ROC curves, AUC and your first submission",
            note="on a small challenge it generates into data/lesson6",
        ),
    )
}

# The names of each lesson's checked steps, in order: what `exercises check --report` sends and
# what the leaderboard accepts, without importing the checks (and torch) on the server. A test
# holds them equal to ``exercises.checks.lessonN.STEPS``.
STEP_NAMES: dict[int, tuple[str, ...]] = {
    1: ("sigmoid", "model", "loss functions", "training step", "optimizers", "accuracy",
        "optimizer comparison", "accuracy target", "figures"),
    2: ("backprop, forward pass", "backprop, gradients by hand", "backprop, finite differences",
        "activations", "MLP layers", "optimizer with weight decay", "training step",
        "dropout off for prediction", "backprop, training by hand", "hyperparameter search",
        "accuracy target", "figures"),
    3: ("softmax", "CNN layers", "training epoch", "prediction in eval mode", "accuracy target",
        "figures"),
    4: ("autoencoder layers", "reparameterisation", "VAE loss", "GAN step",
        "autoencoder reconstructs", "CVAE draws the asked digit", "GAN draws varied digits",
        "figures"),
    5: ("MC dropout", "saliency", "recurrent network", "training", "uncertainty where wrong",
        "pulse accuracy target", "figures"),
    6: ("read pulses with uproot", "ROC curve by a threshold sweep", "AUC by pairs",
        "AUC by trapezoids", "DeLong interval", "bootstrap interval",
        "accuracy with rare carriers", "scores in eval mode", "submission file",
        "validate and score", "network and submission", "figures"),
}  # fmt: skip


def get_lesson(number: int) -> Lesson:
    """The lesson numbered ``number``; ValueError naming the valid numbers otherwise."""
    try:
        return LESSONS[number]
    except KeyError:
        raise ValueError(
            f"there is no lesson {number}; the lessons are {', '.join(map(str, LESSONS))}"
        ) from None


def make_skeleton(source: str) -> str:
    """Replace each statement marked ``# BLANK: hint`` by a ``...`` blank and a TODO comment."""
    lines = source.splitlines(keepends=True)
    starts = _statements_by_first_line(ast.parse(source))
    out: list[str] = []
    previous_was_blank = False
    lineno = 1
    while lineno <= len(lines):
        line = lines[lineno - 1]
        marker = _MARKER.search(line)
        if marker is None:
            out.append(line)
            previous_was_blank = False
            lineno += 1
            continue
        standalone = line.lstrip().startswith("#")
        target = lineno
        if standalone:  # the marked statement follows, maybe after more lines of comment
            target += 1
            while target <= len(lines) and lines[target - 1].lstrip().startswith("#"):
                target += 1
        if target not in starts:
            raise ValueError(
                f"line {lineno}: a BLANK marker must end the first line of a "
                "statement or stand alone on the line above it"
            )
        stmt, hint = starts[target], marker["hint"]
        indent = line[: len(line) - len(line.lstrip())]
        todo = f"# TODO: {hint}" if hint else "# TODO"
        blank = _blank_for(stmt, source)
        if standalone:
            out += [f"{indent}{todo}\n", *lines[lineno : target - 1], f"{indent}{blank}\n"]
        elif hint or not previous_was_blank:
            out.append(f"{indent}{blank}  {todo}\n")
        previous_was_blank = True
        lineno = stmt.end_lineno + 1
    return "".join(out)


def _statements_by_first_line(tree: ast.AST) -> dict[int, ast.stmt]:
    """The outermost statement starting on each line."""
    starts: dict[int, ast.stmt] = {}
    for node in ast.walk(tree):  # breadth first: outer statements come before inner ones
        if isinstance(node, ast.stmt) and node.lineno not in starts:
            starts[node.lineno] = node
    return starts


def _blank_for(stmt: ast.stmt, source: str) -> str:
    """``...`` in place of the statement, keeping what it assigns to or that it returns."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        return f"{ast.get_source_segment(source, stmt.targets[0])} = ..."
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target = ast.get_source_segment(source, stmt.target)
        return f"{target}: {ast.get_source_segment(source, stmt.annotation)} = ..."
    if isinstance(stmt, ast.Return):
        return "return ..."
    return "..."
