"""The README's headline numbers cannot go stale silently: its "Measured" table is the
committed report's table, line for line (rebuild the report, then copy the table), and every
interval the attribution study's FINDINGS and README section quote is in its report."""
from __future__ import annotations

import re
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


# ----------------------------------------------------------------------------- issue 28
#: an interval as the reports write it: "-1.84 [-1.99, -1.68]"
INTERVAL = r"[+-]\d+\.\d+ \[[+-]\d+\.\d+, [+-]\d+\.\d+\]"
#: an interval with its verdict and adjusted p: "-1.84 [-1.99, -1.68] better n.s. (adj. p 0.064)"
WITH_P = re.compile(rf"({INTERVAL})(?: [a-z. ]+?)? \(adj\. p (<?\d\.\d+)\)")
ATTR_BEGIN = "<!-- attribution_cpu: numbers from results/attribution_cpu/report -->"
ATTR_END = "<!-- /attribution_cpu -->"


def quoted_numbers_missing(text: str, report: str) -> list[str]:
    """Every interval quoted in ``text`` that no report file holds, and every interval
    quoted with an adjusted p-value that the report does not give that p-value."""
    missing = [q for q in re.findall(INTERVAL, text) if q not in report]
    for iv, p in WITH_P.findall(text):
        if iv in report and not re.search(re.escape(iv) + r"[^|\n]*?\(adj\. p " + re.escape(p) + r"\)", report):
            missing.append(f"{iv} (adj. p {p})")
    return missing


def _report_text(name: str) -> str:
    files = sorted((REPO / "results" / name / "report").glob("*.md"))
    assert files, f"results/{name}/report: no report (run `python run_benchmark.py report results/{name}`)"
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_quoted_numbers_checker_catches_a_changed_number():
    report = "| x | -1.84 [-1.99, -1.68] better n.s. (adj. p 0.064) |"
    assert quoted_numbers_missing("was -1.84 [-1.99, -1.68], adj. p 0.064", report) == []
    assert quoted_numbers_missing("-1.84 [-1.99, -1.68] better (adj. p 0.064)", report) == []
    assert quoted_numbers_missing("-1.85 [-1.99, -1.68]", report) == ["-1.85 [-1.99, -1.68]"]
    assert quoted_numbers_missing("-1.84 [-1.99, -1.68] better (adj. p 0.012)", report) == \
        ["-1.84 [-1.99, -1.68] (adj. p 0.012)"]


def test_attribution_findings_and_readme_quote_only_the_reports_numbers():
    report = _report_text("attribution_cpu")
    findings = (REPO / "results" / "attribution_cpu" / "FINDINGS.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert ATTR_BEGIN in readme and ATTR_END in readme, f"README.md: the markers {ATTR_BEGIN!r} .. {ATTR_END!r} are missing"
    section = readme[readme.index(ATTR_BEGIN):readme.index(ATTR_END)]
    for name, text in (("results/attribution_cpu/FINDINGS.md", findings), ("README.md (attribution section)", section)):
        assert re.findall(INTERVAL, text), f"{name}: quotes no interval"
        missing = quoted_numbers_missing(text, report)
        assert not missing, f"{name} quotes numbers no file of results/attribution_cpu/report holds: {missing}"
