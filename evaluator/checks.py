"""Loading prediction and gold files for scoring: validate first, refuse what is invalid."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from challenge.catalogue import ID
from challenge.errors import UsageError, problem_lines
from challenge.tables import Problem, as_scores, check_scores, errors, read_table, read_template


class InvalidFile(UsageError):
    """A predictions file with errors: the problems are listed, exit code 1."""

    def __init__(self, path, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{path} is not a valid predictions file ({len(problems)} error(s)):\n"
                         f"{problem_lines(problems, 20)}")


@dataclass
class Checked:
    frame: pd.DataFrame             # floats, index Patient_ID, the 89 score columns in catalogue order
    warnings: list[Problem] = field(default_factory=list)


def validate_file(pred_path: str | Path, template_path: str | Path | None = None, *,
                  gold: bool = False) -> list[Problem]:
    """All problems of a file against a template (template/gold files may have empty or filled score cells)."""
    frame = read_table(pred_path)
    template = read_template(template_path) if template_path is not None else None
    return check_scores(frame, template, gold=gold)


def load_gold(path: str | Path) -> Checked:
    """A gold file, held to the gold rules (``check_scores(strict=True)``: every joint score an integer
    from 0 to the column's maximum); errors in it make it unusable (exit 2), one error said on one line."""
    frame = read_table(path)
    problems = check_scores(frame, strict=True)
    bad = errors(problems)
    if len(bad) == 1:
        p = bad[0]
        where = ", ".join(f"{k} {v}" for k, v in (("row", p.row), ("column", p.column)) if v is not None)
        raise UsageError(f"{path} cannot be used as a gold file: {where}{': ' if where else ''}{p.message}")
    if bad:
        raise UsageError(f"{path} cannot be used as a gold file ({len(bad)} error(s)):\n{problem_lines(bad, 20)}")
    return Checked(as_scores(frame), [p for p in problems if p.level == "warning"])


def load_predictions(path: str | Path, gold: Checked | pd.DataFrame) -> Checked:
    """A predictions file checked against the gold's patients; raises ``InvalidFile`` listing every error."""
    frame = read_table(path)
    gold_frame = gold.frame if isinstance(gold, Checked) else gold
    template = pd.DataFrame({ID: list(gold_frame.index)})
    problems = check_scores(frame, template)
    bad = errors(problems)
    if bad:
        raise InvalidFile(path, bad)
    return Checked(as_scores(frame), [p for p in problems if p.level == "warning"])
