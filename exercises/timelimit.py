"""A time limit on the learner's code: SIGALRM raises ``StepTimeout`` in it when the time is up.

Why a signal, and not a thread or a subprocess: a Python thread cannot be stopped from outside,
and a subprocess per step would import torch again each time and could not hand the trained
models on to the next steps. The alarm interrupts a loop of Python code at its next bytecode, and
a blocking call such as ``time.sleep`` or ``input`` at once; only a single long call inside C
(one enormous tensor operation) runs to its end first. ``StepTimeout`` derives from BaseException,
so a learner's ``except Exception`` does not swallow it, and the alarm repeats every second in case
a bare ``except`` does; code that swallows even those for ``GRACE_S`` more seconds ends the whole
process with a message (exit status ``EXIT_STUCK``), as the only way left to stop it. An outer alarm
(pytest-timeout's) keeps its deadline.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

REPEAT_S = 1.0  # the alarm fires again this often until the step gives up
GRACE_S = 5.0  # after the limit, how long code may swallow the alarms before the process ends
EXIT_STUCK = 3


class StepTimeout(BaseException):  # noqa: N818 - read as "the step timed out", like KeyboardInterrupt
    """Raised inside a step's code when its time limit runs out."""


def can_interrupt() -> bool:
    """Whether this thread can set an alarm (only the main thread of a Unix process can)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: float, *, stuck_message: str = "") -> Iterator[None]:
    """Raise StepTimeout in the block's code once it has run ``seconds`` (wall clock).

    If the code still runs GRACE_S seconds later (it caught every StepTimeout), write
    ``stuck_message`` to stderr and end the process. Where no alarm can be set (a thread other
    than the main one, Windows), the block runs without a limit.
    """
    if not can_interrupt():
        yield
        return
    start = time.monotonic()
    outer_handler = signal.getsignal(signal.SIGALRM)
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    outer_deadline = start + outer_delay if outer_delay > 0 else math.inf

    def on_alarm(signum, frame):
        now = time.monotonic()
        if now >= outer_deadline and callable(outer_handler):
            outer_handler(signum, frame)  # the outer alarm was due first: let it act
        if now >= start + seconds + GRACE_S:
            sys.stderr.write(
                stuck_message or f"stopped: still running {seconds:.0f} s past its limit\n"
            )
            sys.stderr.flush()
            os._exit(EXIT_STUCK)
        raise StepTimeout(seconds)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_delay or seconds), REPEAT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_delay > 0:  # give the outer alarm back what is left of its time
            left = max(outer_deadline - time.monotonic(), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)
