"""The papers' testable claims against the measured rows: does ``higher > lower`` hold at this number of seeds?

A claims file (CSV) has one claim per line: ``higher`` and ``lower`` (row labels), where the claim was made
(``paper``, ``table``, ``setting``) and optionally what the paper reports (``reported``) and the claim's Holm
family (``family``). Per column of the results (bits x model), each claim whose two rows are there is tested
one-sided in its direction: Welch's t-test for two methods, the paired t-test by seed for a method against its own
variant (an ablation row such as ``maskaq[se=false]``, which shares each seed's draws).

Families: the p-values are Holm-corrected within a family of claims in a column, never over the whole file. A claim
without a ``family`` gets ``<method> ablations`` when it is a method against its own variant (the family of that
method's ablation table, whose paired column tests the same pairs two-sided) and ``comparisons`` otherwise.

Intervals match the one-sided tests: each bound is a one-sided Bonferroni bound at ``1 - alpha/m`` over the
claim's family (m its testable claims in the column), so the lower bounds of a family hold together with
probability ``1 - alpha`` or more, and so do the upper bounds (the interval is two-sided at ``1 - 2 alpha/m``).
The lower bound is above 0 exactly when the one-sided p in the claimed direction is below ``alpha/m``, which makes
its Holm-corrected p below alpha (holds); the upper bound below 0 likewise for the other direction
(contradicted). Holm's step-down is less strict than Bonferroni after its first step, so a claim can hold while its
lower bound is still below 0, never the reverse.

Verdicts: ``holds`` (significant in the claimed direction), ``contradicted`` (the one-sided test the other way,
Holm-corrected likewise, is significant) or ``not resolved at this n``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

from rich.table import Table
from rich.text import Text

from dfqbench.errors import UserError
from dfqbench.tables.leaderboard import TUNED, Column, Leaderboard, method_name, variant_of
from dfqbench.tables.render import (
    EMPTY,
    caption,
    column_title,
    format_level,
    format_p,
    md_table,
    sectioned_markdown,
)
from dfqbench.tables.stats import ALPHA, LEVEL, TTest, holm, paired_t_test, welch_t_test

CLAIM_FIELDS = ("higher", "lower", "paper", "table", "setting")  # required, non-empty
OPTIONAL_FIELDS = ("reported", "family")
ABLATIONS, COMPARISONS = "{} ablations", "comparisons"  # the families of claims that name none
HOLDS, CONTRADICTED, UNRESOLVED = "holds", "contradicted", "not resolved at this n"
NOT_MEASURED, UNTESTED = "not measured", "n=1: untested"


@dataclass(frozen=True)
class Claim:
    """``higher > lower``, as claimed in ``paper``, ``table``, ``setting`` (``reported``: the paper's numbers;
    ``family``: the claims it is Holm-corrected with, '' for the default, see :attr:`family_name`)."""

    higher: str
    lower: str
    paper: str
    table: str
    setting: str
    reported: str = ""
    family: str = ""

    @property
    def text(self) -> str:
        return f"{self.higher} > {self.lower}"

    @property
    def source(self) -> str:
        return f"{self.paper}, {self.table}, {self.setting}"

    @property
    def paired(self) -> bool:
        """A method against its own variant (either way round): the rows share each seed's draws."""
        return variant_of(self.lower) == self.higher or variant_of(self.higher) == self.lower

    @property
    def family_name(self) -> str:
        """The claim's Holm family: ``family`` when given, else ``<method> ablations`` for a method against its
        own variant and ``comparisons`` for the others."""
        if self.family:
            return self.family
        if self.paired:
            return ABLATIONS.format(self.higher if variant_of(self.lower) == self.higher else self.lower)
        return COMPARISONS


def _claim_of(record: dict[str, str], where: str) -> Claim:
    values = {k: (record.get(k) or "").strip() for k in CLAIM_FIELDS + OPTIONAL_FIELDS}
    empty = [k for k in CLAIM_FIELDS if not values[k]]
    if empty:
        raise UserError(f"bad claims file {where}: empty {', '.join(empty)}")
    if values["higher"] == values["lower"]:
        raise UserError(f"bad claims file {where}: a row is claimed above itself ({values['higher']})")
    return Claim(**values)


def read_claims(path: str | Path) -> list[Claim]:
    """The claims of a CSV file with columns CLAIM_FIELDS (and optionally OPTIONAL_FIELDS); UserError naming the file
    and line for a missing file or column, an empty field, a claim of a row above itself or a repeated claim."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            absent = [k for k in CLAIM_FIELDS if k not in (reader.fieldnames or [])]
            if absent:
                raise UserError(f"bad claims file {path}: missing columns: {', '.join(absent)}")
            claims = [_claim_of(record, f"{path}, line {reader.line_num}") for record in reader]
    except FileNotFoundError:
        raise UserError(f"claims file not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"bad claims file {path} ({exc})") from None
    seen = set()
    for claim in claims:
        if (claim.higher, claim.lower) in seen:
            raise UserError(f"bad claims file {path}: the claim {claim.text} appears twice")
        seen.add((claim.higher, claim.lower))
    if not claims:
        raise UserError(f"bad claims file {path}: no claims")
    return claims


@dataclass(frozen=True)
class Verdict:
    """One claim in one column: the one-sided tests both ways (None when not testable), Holm's p-values over its
    family, the family's number of testable claims in the column (m), verdict."""

    claim: Claim
    verdict: str
    holds: TTest | None = None  # alternative 'greater': higher - lower > 0
    p_holds: float | None = None
    p_contradicted: float | None = None
    family_size: int | None = None

    @property
    def bound_level(self) -> float | None:
        """The one-sided level of each bound of :meth:`interval`: Bonferroni's ``1 - alpha/m`` over the family;
        None for an untested claim."""
        return None if self.family_size is None else 1 - ALPHA / self.family_size

    def interval(self) -> tuple[float, float] | None:
        """The one-sided Bonferroni bounds of the difference, ``difference -+ t_{1-alpha/m, df} * se`` (a two-sided
        interval at ``1 - 2 alpha/m``); None for an untested claim."""
        return None if self.holds is None else self.holds.interval(1 - 2 * ALPHA / self.family_size)


def claim_tests(board: Leaderboard, claim: Claim, bits: str, model: str) -> tuple[TTest, TTest] | str:
    """The one-sided tests of ``claim`` in a column, (greater, less), or why there are none: not measured, or
    n=1 (fewer than 2 seeds, or fewer than 2 common seeds for a paired test)."""
    higher, lower = board.cell(claim.higher, bits, model), board.cell(claim.lower, bits, model)
    if higher is None or lower is None:
        return NOT_MEASURED
    if claim.paired:
        common = [seed for seed in higher.by_seed if seed in lower.by_seed]
        if len(common) < 2:
            return UNTESTED
        a, b = [higher.by_seed[s] for s in common], [lower.by_seed[s] for s in common]
        return paired_t_test(a, b, "greater"), paired_t_test(a, b, "less")
    if not (higher.tested and lower.tested):
        return UNTESTED
    return welch_t_test(higher.values, lower.values, "greater"), welch_t_test(higher.values, lower.values, "less")


def judge_column(board: Leaderboard, claims: list[Claim], bits: str, model: str) -> list[Verdict]:
    """Every claim's verdict in one column, Holm over the testable claims of its family in the column (each
    direction apart)."""
    tests = {i: claim_tests(board, claim, bits, model) for i, claim in enumerate(claims)}
    families: dict[str, list[int]] = {}
    for i, test in tests.items():
        if not isinstance(test, str):
            families.setdefault(claims[i].family_name, []).append(i)
    p_holds, p_contradicted, size = {}, {}, {}
    for members in families.values():
        p_holds.update(zip(members, holm([tests[i][0].p for i in members]), strict=True))
        p_contradicted.update(zip(members, holm([tests[i][1].p for i in members]), strict=True))
        size.update((i, len(members)) for i in members)
    verdicts = []
    for i, claim in enumerate(claims):
        if i not in size:
            verdicts.append(Verdict(claim, tests[i]))
            continue
        verdict = HOLDS if p_holds[i] < ALPHA else CONTRADICTED if p_contradicted[i] < ALPHA else UNRESOLVED
        verdicts.append(Verdict(claim, verdict, tests[i][0], p_holds[i], p_contradicted[i], size[i]))
    return verdicts


@dataclass
class ClaimsTable:
    claims: list[Claim]
    verdicts: dict[Column, list[Verdict]]
    board: Leaderboard


def tuned_label(label: str, labels: list[str]) -> str:
    """``label`` as the board holds it: a method run with a tuning file is ``sardfq[tuned]`` and its ablations
    ``sardfq[tuned,apa=false]``; a claim about ``sardfq`` is about the tuned row when the board has no other."""
    if label in labels:
        return label
    method = method_name(label)
    inside = label[len(method) + 1:-1] if label != method else ""
    tuned = f"{method}[{TUNED}{',' + inside if inside else ''}]"
    return tuned if tuned in labels else label


def build_claims_table(board: Leaderboard, claims: list[Claim]) -> ClaimsTable:
    """The verdicts of ``claims`` in every column of ``board`` (a claim about a method that the board holds only
    as its tuned row is read of that row); UserError when no claim's rows are measured."""
    claims = [replace(c, higher=tuned_label(c.higher, board.labels), lower=tuned_label(c.lower, board.labels))
              for c in claims]
    verdicts = {(b, m): judge_column(board, claims, b, m) for b, m in board.columns}
    if all(v.verdict == NOT_MEASURED for column in verdicts.values() for v in column):
        labels = ", ".join(dict.fromkeys(label for c in claims for label in (c.higher, c.lower)))
        raise UserError(f"no claim has both of its rows in the results (claims name: {labels}; results have: "
                        f"{', '.join(board.labels)})")
    return ClaimsTable(claims, verdicts, board)


# --- render ----------------------------------------------------------------------------------------------------------


def _difference_text(verdict: Verdict) -> str:
    if verdict.holds is None:
        return EMPTY
    low, high = verdict.interval()
    return f"{verdict.holds.difference:.2f} [{low:.2f}, {high:.2f}]"


def _family_text(verdict: Verdict) -> str:
    """'method orderings (m = 6)'; the bare name for an untested claim."""
    name = verdict.claim.family_name
    return name if verdict.family_size is None else f"{name} (m = {verdict.family_size})"


def _verdict_text(verdict: Verdict) -> str:
    if verdict.verdict == CONTRADICTED:
        return f"{CONTRADICTED} ({format_p(verdict.p_contradicted)} for {verdict.claim.lower} > {verdict.claim.higher})"
    return verdict.verdict


def _rows(table: ClaimsTable, bits: str, model: str) -> tuple[list[str], list[list[str]]]:
    header = ["claim", "source", "paper reports", "test", "Holm family (m)",
              "difference [Bonferroni bounds, one-sided 1 − α/m]", "p (one-sided, Holm over the family)", "verdict"]
    rows = [[v.claim.text, v.claim.source, v.claim.reported or EMPTY, "paired" if v.claim.paired else "Welch",
             _family_text(v), _difference_text(v), format_p(v.p_holds) if v.p_holds is not None else EMPTY,
             _verdict_text(v)]
            for v in table.verdicts[(bits, model)]]
    return header, rows


RIGHT = (5, 6)  # the right-aligned columns of _rows: the difference and p


def _counts(verdicts: list[Verdict]) -> str:
    names = (HOLDS, CONTRADICTED, UNRESOLVED, UNTESTED, NOT_MEASURED)
    counts = [(name, sum(v.verdict == name for v in verdicts)) for name in names]
    return ", ".join(f"{n} {name}" for name, n in counts if n)


def _levels(table: ClaimsTable) -> str:
    """'m = 4: 98.75%, m = 6: 99.17%' (the one-sided level of a bound) over the family sizes of the table,
    smallest first."""
    sizes = sorted({v.family_size for vs in table.verdicts.values() for v in vs if v.family_size is not None})
    return ", ".join(f"m = {m}: {format_level(1 - ALPHA / m)}" for m in sizes)


def claims_notes(table: ClaimsTable) -> list[str]:
    return [f"Holm family: the claims a p is corrected with, within the column; m: the family's testable claims "
            f"there. A claim that names no family is in '{ABLATIONS.format('<method>')}' when it sets a method "
            f"against its own variant (the family of that method's ablation table, whose paired column tests the same "
            f"pairs two-sided, where this table's p is one-sided) and in '{COMPARISONS}' "
            f"otherwise. Difference: higher − lower (paired: the mean over the seeds both rows have of the per-seed "
            f"differences), with one-sided Bonferroni bounds over the family, each at 1 − α/m ({_levels(table)}): "
            f"the m lower bounds of a family hold together with probability {LEVEL:.0%} or more, and so do the "
            f"upper ones (a two-sided interval at 1 − 2α/m). The lower bound is above 0 exactly when the one-sided "
            f"p in the claimed direction is below α/m, and then the claim holds (the upper bound below 0: "
            f"contradicted); Holm's step-down, less strict after its first step, can also resolve a claim whose "
            f"bound is not beyond 0, never the reverse. p: the "
            f"one-sided test in the claimed direction (Welch's t-test for two methods, the paired t-test by seed "
            f"for a method against its own ablation), Holm-corrected over the claim's family; {HOLDS}: "
            f"p < {ALPHA:g}; {CONTRADICTED}: the one-sided test the other way, Holm-corrected likewise, has "
            f"p < {ALPHA:g}; otherwise {UNRESOLVED}."]


def claims_markdown(table: ClaimsTable) -> str:
    """The caption, then per column a title line (with the verdict counts) and the claims, then the notes."""
    sections = []
    for b, m in table.verdicts:
        header, rows = _rows(table, b, m)
        sections.append((f"Claims · {column_title(b, m)}: {_counts(table.verdicts[(b, m)])}",
                         md_table(header, rows, [":---"] * 5 + ["---:"] * 2 + [":---"])))
    return sectioned_markdown(table.board, sections, claims_notes(table))


CLAIMS_CSV_FIELDS = ("bits", "model", "higher", "lower", "paper", "table", "setting", "reported", "test", "family",
                     "family_size", "difference", "low", "high", "bound_level", "p_holds", "p_contradicted",
                     "verdict")


def _round(value: float | None) -> str:
    return "" if value is None else str(round(value, 6))


def claims_csv(table: ClaimsTable) -> str:
    """Long CSV: one line per (column, claim), CLAIMS_CSV_FIELDS (low and high: the one-sided Bonferroni bounds,
    each at ``bound_level``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CLAIMS_CSV_FIELDS)
    for (b, m), verdicts in table.verdicts.items():
        for v in verdicts:
            c, t = v.claim, v.holds
            numbers = [t.difference, *v.interval(), v.bound_level, v.p_holds, v.p_contradicted] if t else [None] * 6
            writer.writerow([b, m, c.higher, c.lower, c.paper, c.table, c.setting, c.reported,
                             "paired" if c.paired else "Welch", c.family_name,
                             "" if v.family_size is None else v.family_size, *map(_round, numbers), v.verdict])
    return out.getvalue()


def claims_rich(table: ClaimsTable) -> list[Table]:
    """One rich table per column, the caption and the notes under the last."""
    tables = []
    columns = list(table.verdicts)
    for i, (b, m) in enumerate(columns):
        below = "\n".join([caption(table.board), *claims_notes(table)]) if i == len(columns) - 1 else None
        header, rows = _rows(table, b, m)
        out = Table(title=f"Claims · {column_title(b, m)}: {_counts(table.verdicts[(b, m)])}",
                    caption=Text(below) if below else None, caption_justify="left")
        for j, title in enumerate(header):
            out.add_column(title, justify="right" if j in RIGHT else "left")
        for row in rows:
            out.add_row(*(Text(v) for v in row))
        tables.append(out)
    return tables
