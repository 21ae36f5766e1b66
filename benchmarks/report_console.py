"""The summary printed at the end of ``run`` and by ``report``: the same numbers as
summary.md, with what tables.md says about them.

* one row per (workload, strategy, ratio, budget): a workload column (optimizer and the
  workload signature with its data tag) when results.csv has one, so two runs of one cell
  on different data never look identical; a budget column when there are budget runs;
* the trust marks of tables.md: ``‡`` on Eff. outside EFFICIENCY_RANGE, ``§`` on Wall ×
  when the table's full-data epochs ran at speeds more than LOAD_SPREAD apart (machine
  load), ``†`` on Wall × when some run of the row had no same-seed full-data run; each
  mark used is explained under the table.

Nothing here is written to a file (summary.md keeps its bytes).
"""
from __future__ import annotations

from typing import List

from stbench.benchmarks.report import EFFICIENCY_RANGE, LOAD_SPREAD, ReportData
from stbench.benchmarks.report_tables import (DAGGER_MD, DAGGER_QUANTITY, DDAGGER_MD, EFF_QUANTITY, LOAD_MD, NOTE_EFF, NOTE_FALLBACK, NOTE_LOAD,
                                              SUMMARY_COLUMNS, _md_table, efficiency_flagged, escape_md,
                                              _is_reference, fmt_budget, fmt_number, ratio_text)


def _workload_text(row, columns) -> str:
    return " ".join(str(row[c]) for c in columns if str(row.get(c, "") or "") not in ("", "nan"))


def render_console_summary(data: ReportData) -> str:
    s = data.summary
    if not len(s):
        return "No finished runs.\n"
    wl_cols = [c for c in ("optimizer", "workload") if c in data.table_key]
    with_profile = s["profile"].nunique() > 1
    with_budget = data.has_budget and s["budget"].notna().any()
    header = ["dataset", "model"] + (["profile"] if with_profile else []) + (["workload"] if wl_cols else [])
    header += ["strategy", "ratio"] + (["budget"] if with_budget else []) + ["n"]
    header += [h for h, *_ in SUMMARY_COLUMNS]
    body, used, load_notes = [], set(), []
    for key in data.table_keys():
        rows = data.select(s, key)
        load = data.load_flagged(key)
        if load:
            lo, hi, spread = data.load_check(key)
            load_notes.append((key, lo, hi, spread))
        for _, row in rows.iterrows():
            cells = [escape_md(row["dataset"]), escape_md(row["model"])]
            cells += [escape_md(row["profile"])] if with_profile else []
            cells += [escape_md(_workload_text(row, wl_cols))] if wl_cols else []
            cells += [escape_md(row["strategy"]), ratio_text(row["strategy"], row["ratio"], row["budget"])]
            if with_budget:
                cells.append(fmt_budget(row["budget"]))
            cells.append(str(row["n"]))
            for _, q, d, sc, sg in SUMMARY_COLUMNS:
                text = fmt_number(row[f"{q}_mean"] * sc, d, sg)
                if text and q == DAGGER_QUANTITY:  # as tables.md: † then §, never § on the reference
                    if row.get("reference") == "mean":
                        text += DAGGER_MD
                        used.add("dagger")
                    if load and not _is_reference(row):
                        text += LOAD_MD
                if text and q == EFF_QUANTITY and efficiency_flagged(float(row["efficiency_mean"])):
                    text += DDAGGER_MD
                    used.add("eff")
                cells.append(text)
            body.append(cells)
    n_left = len(header) - len(SUMMARY_COLUMNS) - 1
    align = ["---"] * n_left + ["---:"] * (len(SUMMARY_COLUMNS) + 1)
    lines = ["Means over n seeds; avg pooled over the 12 steps; Wall = train-loop wall-clock speedup "
             "(primary), Pass = sample-pass speedup (ideal), Eff. = Wall / Pass; dMAE negative = better."
             + (" workload = optimizer and workload signature (its data tag after '-'): rows of different "
                "workloads are different experiments." if wl_cols else ""), ""]
    lines += _md_table(header, align, body)
    notes: List[str] = []
    if "eff" in used:
        notes.append(NOTE_EFF.format(sym=DDAGGER_MD, lo=EFFICIENCY_RANGE[0], hi=EFFICIENCY_RANGE[1]))
    for key, lo, hi, spread in load_notes:
        head = " / ".join(str(k) for k in key if str(k))
        notes.append(f"{head}: " + NOTE_LOAD.format(sym=LOAD_MD, lo=lo, hi=hi, spread=spread, limit=LOAD_SPREAD))
    if "dagger" in used:
        notes.append(NOTE_FALLBACK.format(dagger=DAGGER_MD))
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    if len(data.failed):
        lines += ["", f"{len(data.failed)} failed run(s): see index.md."]
    return "\n".join(lines) + "\n"
