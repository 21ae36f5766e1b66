"""Seeds per cell of a results directory grown by ``run SUITE --until-resolved``.

The runner writes ``DIR/until_resolved.json`` (benchmarks/until_resolved.py); this module
renders its record as a section of budget_summary.md: per cell (workload, strategy,
budget) the seeds it got and why adding stopped (precision reached, the cap, or resolved
at the start). Nothing is rendered for a directory without the file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

from stbench.benchmarks.report import ReportData
from stbench.benchmarks.report_tables import _md_table, escape_md

RECORD = "until_resolved.json"


def read_record(results_dir) -> dict:
    """The until-resolved record of a results directory ({} without one)."""
    path = Path(results_dir) / RECORD
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected the record written by run --until-resolved") \
            from None


def render_seeds_section(data: ReportData) -> List[str]:
    """Lines of the "Seeds per cell" section ([] without a record)."""
    rec = read_record(data.results_dir)
    if not rec:
        return []
    lines = ["## Seeds per cell (run --until-resolved)", "",
             f"Seeds were added to the cells whose decisive comparisons (against full@1, against the control and, "
             f"for a selector with a plan-matched random control, against that control) "
             f"were not resolved after the first seeds, one seed per round, until every such comparison's "
             f"interval had a half-width <= delta / 2 = {rec['margin'] / 2:g} % (precision) or the cell had "
             f"{rec['max_seeds']} seeds (the cap); never on the sign or significance of the result. Rounds: "
             f"{rec['rounds']}." + ("" if rec.get("done", True) else
                                     " The last run stopped before its end (interrupted, or still going): "
                                     "this is the record after its last finished round; cells marked "
                                     "'going on' get more seeds when it is run again."), ""]
    body = [[escape_md(c.get("table", c["workload"])), escape_md(c["strategy"]), c["budget"], str(len(c["seeds"])),
             " ".join(str(s) for s in c["seeds"]), escape_md(c["stopped"])] for c in rec["cells"]]
    return lines + _md_table(["Table", "Strategy", "Budget", "Seeds", "Seed ids", "Stopped"],
                             ["---", "---", "---:", "---:", "---", "---"], body)
