"""CrashLoopBackOff: how long the kubelet waits before restarting a crashing container.

Upstream (``pkg/kubelet/kubelet.go``) starts at 10 s and doubles up to 300 s, and forgets a
container's crashes after 600 s without one; the ``ReduceDefaultCrashLoopBackOffDecay``
feature gate lowers that to 1 s doubling up to 60 s. We restart the *first* crash at once
(the study note's self-healing promise: "a new container in about a second" — we aim for
well under 100 ms), then wait 1 s, 2 s, 4 s ... up to 60 s, and forget the crash history once
a container has run for :data:`RESET_AFTER` seconds. The numbers are lower than upstream's
so that a learner sees CrashLoopBackOff in seconds rather than minutes.
"""

from __future__ import annotations

INITIAL = 1.0
CAP = 60.0
#: A container that ran this long before exiting starts a fresh back-off sequence.
RESET_AFTER = 120.0


def backoff_delay(step: int) -> float:
    """Seconds to wait before start number ``step`` of a crash loop (step 0 = first start)."""
    if step <= 1:
        return 0.0
    return min(CAP, INITIAL * 2 ** (step - 2))


def next_step(previous_step: int, ran_for: float | None) -> int:
    """The back-off step of the next instance, given how long the previous one ran."""
    if ran_for is not None and ran_for >= RESET_AFTER:
        return 0
    return previous_step + 1
