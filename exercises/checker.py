"""Run a learner's lesson file step by step and say, for each step, whether it works and why not.

The learner's file is imported as a module (its ``main()`` does not run) and each lesson's steps
(``exercises.checks.lessonN.STEPS``) call the learner's functions and compare against targets.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from exercises.lessons import Lesson


class CheckFailed(Exception):
    """A step's verdict: what is wrong and a hint on how to fix it."""


class LearnerError(Exception):
    """The learner's file could not be loaded or raised an error; the message says where."""


@dataclass
class Context:
    """What the steps share: the learner's module and file, options, and results of earlier steps."""

    module: ModuleType
    path: Path
    out_dir: Path
    mnist_dir: Path | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One checked step: ``run(ctx)`` returns a short success note or raises CheckFailed.

    ``uses`` names the learner's top-level functions and classes whose blanks must be filled in,
    ``needs`` the earlier steps whose results (in ``ctx.state``) this one builds on.
    """

    name: str
    uses: tuple[str, ...]
    run: Callable[[Context], str]
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepResult:
    name: str
    passed: bool
    message: str
    seconds: float = 0.0


def run_checks(
    lesson: Lesson, path: str | Path, *, out_dir: str | Path, mnist_dir: str | Path | None = None
) -> Iterator[StepResult]:
    """Check the learner's ``path`` against ``lesson``, yielding one result per step.

    Raises LearnerError when the file cannot be loaded at all.
    """
    path = Path(path).resolve()
    steps: list[Step] = importlib.import_module(f"exercises.checks.lesson{lesson.number}").STEPS
    blanks = find_blanks(path)
    with loaded_module(path) as module:
        ctx = Context(module, path, Path(out_dir), Path(mnist_dir) if mnist_dir else None)
        failed: set[str] = set()
        for step in steps:
            result = _run_step(step, ctx, blanks, failed)
            if not result.passed:
                failed.add(step.name)
            yield result


def _run_step(
    step: Step, ctx: Context, blanks: dict[str, list[int]], failed: set[str]
) -> StepResult:
    unfilled = [f"{name} (line {blanks[name][0]})" for name in step.uses if name in blanks]
    if unfilled:
        return StepResult(
            step.name, False, "not filled in yet: replace the `...` in " + ", ".join(unfilled)
        )
    missing = [name for name in step.uses if not hasattr(ctx.module, name)]
    if missing:
        return StepResult(
            step.name,
            False,
            f"{', '.join(missing)} is missing from {ctx.path.name} (was it renamed or deleted?)",
        )
    blocked = [name for name in step.needs if name in failed]
    if blocked:
        return StepResult(step.name, False, f"skipped: needs step {', '.join(blocked)} to pass")
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the learner's progress prints
            message = step.run(ctx)
        passed = True
    except CheckFailed as exc:
        message, passed = str(exc), False
    except Exception as exc:  # the learner's code failed: say where, without a traceback
        message, passed = describe_error(exc, ctx.path), False
    return StepResult(step.name, passed, message, time.perf_counter() - start)


def find_blanks(path: Path) -> dict[str, list[int]]:
    """Lines of the ``...`` blanks left in ``path``, by top-level function, class or variable.

    An Ellipsis inside a subscript (``x[..., 0]``) is indexing, not a blank. Other blanks at top
    level are listed under ``"<module>"``.
    """
    tree = _parse(path)
    blanks: dict[str, list[int]] = {}
    for top in tree.body:
        name = _top_level_name(top)
        sliced = {
            id(n)
            for sub in ast.walk(top)
            if isinstance(sub, ast.Subscript)
            for n in ast.walk(sub.slice)
        }
        for node in ast.walk(top):
            if isinstance(node, ast.Constant) and node.value is Ellipsis and id(node) not in sliced:
                blanks.setdefault(name, []).append(node.lineno)
    return {name: sorted(lines) for name, lines in blanks.items()}


def _top_level_name(node: ast.stmt) -> str:
    """The function, class or single variable a top-level statement defines, else <module>."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AnnAssign):
        target = node.target
    else:
        return getattr(node, "name", "<module>")
    return target.id if isinstance(target, ast.Name) else "<module>"


class loaded_module:  # noqa: N801 - used as a context manager, like open()
    """Import ``path`` under a private name for the duration of a ``with`` block."""

    _count = 0

    def __init__(self, path: Path):
        self.path = path
        loaded_module._count += 1
        self.name = f"_exercises_learner_{loaded_module._count}"

    def __enter__(self) -> ModuleType:
        _parse(self.path)  # a syntax error is reported with its line, before anything runs
        spec = importlib.util.spec_from_file_location(self.name, self.path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = module  # dataclasses look their module up while it executes
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[self.name]
            raise LearnerError(
                f"could not load {self.path.name}: {describe_error(exc, self.path)}"
            ) from None
        return module

    def __exit__(self, *exc_info: object) -> None:
        sys.modules.pop(self.name, None)


def describe_error(exc: BaseException, path: Path) -> str:
    """``TypeError: message (file.py, line 12: `code`)``, pointing at the learner's last line."""
    text = f"{type(exc).__name__}: {exc}"
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path
    ]
    if frames:
        frame = frames[-1]
        text += f" ({path.name}, line {frame.lineno}: `{(frame.line or '').strip()}`)"
    if "ellipsis" in str(exc).lower():
        text += "; is a `...` still waiting to be filled in?"
    return text


def _parse(path: Path) -> ast.Module:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LearnerError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise LearnerError(f"{path.name}, line {exc.lineno}: syntax error: {exc.msg}") from None
