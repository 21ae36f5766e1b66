"""The README's headline numbers cannot go stale silently: its "Measured" table is the
committed report's table, line for line (rebuild the report, then copy the table)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN = "<!-- budget_summary: best setting per budget (results/budget_cpu/report/budget_summary.md) -->"
END = "<!-- /budget_summary -->"


def _first_table(lines: list[str]) -> list[str]:
    """The first run of consecutive lines that start with '|'."""
    out: list[str] = []
    for line in lines:
        if line.startswith("|"):
            out.append(line)
        elif out:
            break
    return out


def test_readme_measured_table_is_the_committed_report_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert BEGIN in readme and END in readme, f"README.md: the markers {BEGIN!r} .. {END!r} are missing"
    block = readme[readme.index(BEGIN) + 1: readme.index(END)]
    table = _first_table(block)
    summary = (REPO / "results" / "budget_cpu" / "report" / "budget_summary.md").read_text(encoding="utf-8")
    section = summary.split("## Best setting per budget", 1)[1].splitlines()
    expected = _first_table(section)
    assert len(expected) > 2, "budget_summary.md: no 'Best setting per budget' table"
    assert table == expected, (
        "README.md's Measured table differs from results/budget_cpu/report/budget_summary.md "
        "(copy the report's 'Best setting per budget' table between the markers)")
