"""Goals and the MET/MISSED table that ends every notebook.

A goal is a measured value, a comparison and a bound. The table says for each whether it is
met, by how much it is missed, and what the number is compared with, so that a reader finds
the verdict of a notebook in one place.

>>> goals = [Goal("joint factor kept", 0.93, ">=", 0.9), Goal("gap (dB)", 3.5, "<=", 1.0)]
>>> print(goal_table(goals))
goal               measured  target  verdict
joint factor kept     0.930  >= 0.9  MET
gap (dB)              3.500  <= 1    MISSED by 2.5
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Goal", "goal_table"]

_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, "<": lambda a, b: a < b}


@dataclass(frozen=True)
class Goal:
    """One goal of an experiment.

    Arguments:
        name: what is measured.
        value: the measured number.
        op: ``">="``, ``"<="``, ``">"`` or ``"<"``.
        target: the bound.
        note: what to compare with (a baseline, a ceiling), printed after the verdict.
    """

    name: str
    value: float
    op: str
    target: float
    note: str = ""

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"op must be one of {sorted(_OPS)}, got {self.op!r}")

    @property
    def met(self) -> bool:
        """Whether the measured value satisfies the goal (a NaN never does)."""
        return bool(self.value == self.value and _OPS[self.op](self.value, self.target))

    @property
    def verdict(self) -> str:
        """``"MET"``, or ``"MISSED by <distance>"``."""
        if self.met:
            return "MET"
        if self.value != self.value:
            return "MISSED (not measured)"
        return f"MISSED by {abs(self.value - self.target):.3g}"


def goal_table(goals: Sequence[Goal]) -> str:
    """The goals as an aligned text table (name, measured, target, verdict, note).

    Raises:
        TypeError: an entry that is not a :class:`Goal`.
    """
    if not all(isinstance(g, Goal) for g in goals):
        raise TypeError("goal_table takes a sequence of Goal")
    width = max([len("goal"), *(len(g.name) for g in goals)])
    targets = [f"{g.op} {g.target:g}" for g in goals]
    twidth = max([len("target"), *(len(t) for t in targets)])
    lines = [f"{'goal':{width}}  measured  {'target':{twidth}}  verdict"]
    for g, t in zip(goals, targets):
        line = f"{g.name:{width}}  {g.value:8.3f}  {t:{twidth}}  {g.verdict}"
        lines.append(line + (f"  ({g.note})" if g.note else ""))
    return "\n".join(lines)
