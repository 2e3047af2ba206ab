"""The states of an evaluation, as one enum (docs/design.md, "Store").

``queued``: waiting (or re-queued after a dead process); ``running``: training;
``interrupted``: was training when its driver stopped (Ctrl-C) or died — the stored state of
the first, what every read shows for a ``running`` evaluation whose driver is gone
(``dse.store.drivers``); the next driver of the study runs it again;
``complete``: trained to the end; ``failed``: training raised, diverged or timed out;
``infeasible``: over a hard budget, never trained; ``pruned``: stopped early by the
early-stopping rule (``dse.search.EarlyStopping``). A :class:`Status` is a ``str``, so it
compares and stores as its value.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    COMPLETE = "complete"
    FAILED = "failed"
    INFEASIBLE = "infeasible"
    PRUNED = "pruned"

    @property
    def final(self) -> bool:
        """After it the evaluation's row no longer changes (besides its Pareto flag)."""
        return self not in (Status.QUEUED, Status.RUNNING, Status.INTERRUPTED)


#: Every status, in lifecycle order.
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
#: The statuses an evaluation ends in.
FINAL_STATUSES: tuple[str, ...] = tuple(s.value for s in Status if s.final)
#: The statuses a training run ends in (the trainer's outcomes).
TRAINING_OUTCOMES: tuple[str, ...] = (Status.COMPLETE.value, Status.FAILED.value,
                                      Status.PRUNED.value)
#: Not yet decided: a duplicate of one of these is training right now.
UNFINISHED_STATUSES: tuple[str, ...] = tuple(s.value for s in Status if not s.final)

__all__ = ["FINAL_STATUSES", "STATUSES", "TRAINING_OUTCOMES", "UNFINISHED_STATUSES", "Status"]
