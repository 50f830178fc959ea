"""Run a learner's lesson file step by step and say, for each step, whether it works and why not.

The learner's file is imported as a module (its ``main()`` does not run), and so is the lesson's
reference solution. Each lesson's steps (``exercises.checks.lessonN.STEPS``) first compare the
learner's functions one at a time with the reference's on fixed inputs, then train and compare
against targets. Every step runs under a time limit (``exercises.timelimit``).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from exercises.lessons import Lesson
from exercises.timelimit import StepTimeout, time_limit

DEFAULT_TIME_LIMIT_S = 20.0  # a step that only calls functions on small inputs takes well under 1 s
LOAD_TIME_LIMIT_S = 30.0  # importing a lesson file runs only its imports and definitions


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
    reference: ModuleType | None = None  # the lesson's reference solution
    scratch: Path | None = None  # a temporary folder for the check's own files, removed after
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One checked step: ``run(ctx)`` returns a short success note or raises CheckFailed.

    ``uses`` names the learner's top-level functions and classes whose blanks must be filled in,
    ``needs`` the earlier steps whose results (in ``ctx.state``) this one builds on. A step that
    trains (``training``) does not run in a quick check. ``time_limit`` is in seconds.
    """

    name: str
    uses: tuple[str, ...]
    run: Callable[[Context], str]
    needs: tuple[str, ...] = ()
    training: bool = False
    time_limit: float = DEFAULT_TIME_LIMIT_S


@dataclass(frozen=True)
class StepResult:
    name: str
    passed: bool
    message: str
    seconds: float = 0.0
    ran: bool = True  # False for a training step left out of a quick check, or a skipped one
    skipped: bool = False  # not run: it needs a step that failed

    @property
    def status(self) -> str:
        if self.passed:
            return "passed"
        if self.skipped:
            return "skipped"
        return "failed" if self.ran else "not run"


def run_checks(
    lesson: Lesson,
    path: str | Path,
    *,
    out_dir: str | Path,
    mnist_dir: str | Path | None = None,
    quick: bool = False,
    time_scale: float = 1.0,
) -> Iterator[StepResult]:
    """Check the learner's ``path`` against ``lesson``, yielding one result per step.

    ``quick`` leaves out the steps that train; ``time_scale`` multiplies every step's time limit.
    Raises LearnerError when the file cannot be loaded at all.
    """
    path = Path(path).resolve()
    steps: list[Step] = importlib.import_module(f"exercises.checks.lesson{lesson.number}").STEPS
    blanks = find_blanks(path)
    _warm_up_torch()
    with (
        tempfile.TemporaryDirectory(prefix="exercises-check-") as scratch,
        loaded_module(lesson.solution_path) as reference,
        loaded_module(path) as module,
    ):
        ctx = Context(
            module,
            path,
            Path(out_dir),
            Path(mnist_dir) if mnist_dir else None,
            reference,
            Path(scratch),
        )
        failed: set[str] = set()
        for step in steps:
            if quick and step.training:
                result = StepResult(
                    step.name, False, "it trains: check without --quick to run it", ran=False
                )
            else:
                result = _run_step(step, ctx, blanks, failed, time_scale)
            if not result.passed:
                failed.add(step.name)
            yield result


def _warm_up_torch() -> None:
    """The first backward pass and optimizer step import much of torch (seconds); pay for them
    outside every step."""
    import torch

    weight = torch.ones(1, requires_grad=True)
    weight.sum().backward()
    torch.optim.Adam([weight]).step()


def _run_step(
    step: Step, ctx: Context, blanks: dict[str, list[int]], failed: set[str], time_scale: float
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
        return StepResult(
            step.name, False, f"needs step {', '.join(blocked)} to pass", ran=False, skipped=True
        )
    start = time.perf_counter()
    limit = step.time_limit * time_scale
    try:
        # the learner's progress prints are not shown
        with (
            time_limit(limit, stuck_message=_stuck_message(step, ctx.path, limit)),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            message = step.run(ctx)
        passed = True
    except CheckFailed as exc:
        message, passed = str(exc), False
    except StepTimeout as exc:
        message, passed = describe_timeout(exc, ctx.path, limit), False
    except Exception as exc:  # the learner's code failed: say where, without a traceback
        message, passed = describe_error(exc, ctx.path), False
    return StepResult(step.name, passed, message, time.perf_counter() - start)


def _stuck_message(step: Step, path: Path, limit: float) -> str:
    return (
        f"exercises: step {step.name!r} of {path.name} ran past its time limit ({limit:.0f} s) "
        "and caught every attempt to stop it (a bare `except:` inside an endless loop?); "
        "the check ends here.\n"
    )


def describe_timeout(exc: StepTimeout, path: Path, limit: float) -> str:
    """What a step that ran out of time says, with the learner's line where it was stopped."""
    text = (
        f"stopped after {limit:.0f} s, this step's time limit: does a loop in your code never "
        "end? (on a slow computer, --time-scale 3 triples every limit)"
    )
    where = _learner_frame(exc, path)
    return text + (f"; it was at {where}" if where else "")


def _learner_frame(exc: BaseException, path: Path) -> str:
    """``file.py, line 12: `code` `` for the learner's innermost line in the traceback, or ''."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f"{path.name}, line {frame.lineno}: `{(frame.line or '').strip()}`"


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
            with time_limit(LOAD_TIME_LIMIT_S):
                spec.loader.exec_module(module)
        except StepTimeout as exc:
            del sys.modules[self.name]
            where = _learner_frame(exc, self.path)
            raise LearnerError(
                f"loading {self.path.name} took more than {LOAD_TIME_LIMIT_S:.0f} s: does code "
                "outside the functions loop forever?" + (f" It was at {where}" if where else "")
            ) from None
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
    where = _learner_frame(exc, path)
    if where:
        text += f" ({where})"
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
