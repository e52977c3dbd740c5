"""The tables ``xmodal eval`` prints: fused metrics, fused against each space, the cut-off."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from retrieval.evaluation import EvalReport
from retrieval.space_eval import SPACE_ORDER, Comparison


def print_report(title: str, report: EvalReport, comparison: Comparison) -> None:
    """Recall/MRR/nDCG of the fused ranking, then MRR@10 of fused vs every space alone."""
    table = Table(title=title)
    for col in ("kind", "queries", "R@1", "R@5", "R@10", "MRR@10", "nDCG@10", "p50 ms"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    latency = {**report.kind_latency, "overall": (report.latency_p50, report.latency_p95)}
    for kind, m in [*sorted(report.kinds.items()), ("overall", report.overall)]:
        table.add_row(
            kind,
            str(m.queries),
            *(f"{v:.3f}" for v in (m.recall[1], m.recall[5], m.recall[10], m.mrr10, m.ndcg10)),
            f"{latency[kind][0] * 1000:.0f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"latency p50 {report.latency_p50 * 1000:.0f} ms, p95 {report.latency_p95 * 1000:.0f} ms"
    )
    spaces = [s for s in SPACE_ORDER if any(s in r.mrr for r in comparison.rows.values())]
    if len(spaces) > 1:
        versus = Table(title="MRR@10: fused vs each space alone")
        for col in ("kind", "queries", "fused", *spaces, "best", "vs best", "90% CI"):
            versus.add_column(col, justify="left" if col == "kind" else "right")
        for kind, row in comparison.rows.items():
            versus.add_row(
                kind, str(row.queries), f"{row.mrr['fused']:.3f}",
                *(f"{row.mrr[s]:.3f}" if s in row.mrr else "-" for s in spaces),
                row.best_space or "-", f"{row.mrr['fused'] - row.best:+.3f}",
                "{:+.2f}..{:+.2f}".format(*row.vs_best_interval),
            )
        console.print(versus)
    if comparison.none_queries:
        console.print(
            f"no-answer queries: {comparison.none_queries}; results shown as good matches: "
            f"{comparison.none_shown_good} (in {comparison.none_any_good} queries); "
            f"queries whose first relevant hit is shown as good: "
            f"{comparison.found_flagged_good:.0%}"
        )
    if report.unknown_relevant:
        console.print(f"[yellow]not indexed: {', '.join(report.unknown_relevant)}[/yellow]")


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """The fused-vs-spaces rows and the cut-off's record, for ``--json``."""
    return {
        "kinds": {
            kind: {"queries": row.queries, "mrr@10": row.mrr, "recall@10": row.recall10,
                   "best_space": row.best_space,
                   "vs_best_interval": list(row.vs_best_interval)}
            for kind, row in comparison.rows.items()
        },
        "none": {"queries": comparison.none_queries, "shown_good": comparison.none_shown_good,
                 "queries_with_a_good": comparison.none_any_good},
        "found_flagged_good": comparison.found_flagged_good,
    }
