"""A day's figures as PNG charts (matplotlib, no display needed) and one self-contained HTML page.

The HTML embeds the same PNGs as data URIs, so the page can be mailed or attached to a ticket on its own;
the PNG files sit beside it for slides and chat.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a driver or in CI

import matplotlib.dates as mdates  # noqa: E402  (after choosing the backend)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ecomlake.report.figures import DayFigures  # noqa: E402

BLUE, GREY, ORANGE, RED = "#1f77b4", "#9e9e9e", "#ff7f0e", "#d62728"


def render(figures: DayFigures, out: Path) -> dict[str, Path]:
    """Write the charts as ``out/<name>.png`` and the page as ``out/report.html``; returns every file written by name."""
    out.mkdir(parents=True, exist_ok=True)
    charts: dict[str, Path] = {}
    for name, draw in CHARTS.items():
        fig = draw(figures)
        if fig is not None:
            charts[name] = out / f"{name}.png"
            fig.savefig(charts[name], dpi=110, bbox_inches="tight")
            plt.close(fig)
    page = out / "report.html"
    page.write_text(html_page(figures, charts), encoding="utf-8")
    return {**charts, "report": page}


# --- charts: each returns None when its section has no data ---


def conservation_chart(f: DayFigures) -> Figure | None:
    c = f.conservation
    if c is None:
        return None
    parts = [("kept", c.kept, BLUE), ("quarantined", c.quarantined, ORANGE), ("exact duplicates", c.duplicates_exact, GREY)]
    parts += [("near duplicates", c.duplicates_near, "#bdbdbd"), ("redelivered", c.duplicates_redelivered, "#e0e0e0")]
    parts += [("bot rows removed", c.bot_rows_removed, RED)]
    fig, ax = plt.subplots(figsize=(8, 1.9))
    left = 0
    for label, rows, color in parts:
        ax.barh([0], [rows], left=left, color=color, label=f"{label} {rows:,}")
        left += rows
    ax.set_yticks([])
    ax.set_xlim(0, max(c.rows_in, 1))
    ax.set_xlabel("rows")
    ax.set_title(f"Row conservation {f.date}: {c.rows_in:,} rows in = {c.accounted:,} accounted for" + ("" if c.holds else " (DOES NOT HOLD)"))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=3, frameon=False, fontsize=8)
    return fig


def quarantine_chart(f: DayFigures) -> Figure | None:
    c = f.conservation
    if c is None or not c.quarantined_by_reason:
        return None
    reasons = list(c.quarantined_by_reason.items())[::-1]  # largest at the top
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(reasons) + 1.2))
    bars = ax.barh([r for r, _ in reasons], [n for _, n in reasons], color=ORANGE)
    ax.bar_label(bars, labels=[f"{n:,}" for _, n in reasons], padding=3, fontsize=8)
    ax.set_xlabel("rows quarantined")
    ax.set_title(f"Quarantine reasons {f.date}: {c.quarantined:,} rows")
    return fig


def kpi_chart(f: DayFigures) -> Figure | None:
    if f.kpis is None:
        return None
    k = f.kpis
    panels = [("active_users", "active users"), ("sessions", "sessions"), ("gmv", "GMV (currency)"), ("conversion_rate", "conversion rate")]
    fig, axes = plt.subplots(2, 2, figsize=(10, 5.5), sharex=True)
    for ax, (column, title) in zip(axes.flat, panels, strict=True):
        ax.plot(k["kpi_date"], k[column], marker="o", markersize=3, color=BLUE)
        day = k[k["kpi_date"] == f.date]
        ax.plot(day["kpi_date"], day[column], marker="o", markersize=8, color=RED, linestyle="none")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    first, last = pd.Timestamp(k["kpi_date"].min()), pd.Timestamp(k["kpi_date"].max())
    for ax in axes[1]:
        ax.set_xlim(first - pd.Timedelta(days=1), last + pd.Timedelta(days=1))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))  # type: ignore[no-untyped-call]  # matplotlib leaves its __init__ unannotated
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.suptitle(f"Daily KPIs, {len(k)} day{'s' if len(k) > 1 else ''} to {f.date} (red: the day)")
    fig.tight_layout()
    return fig


def funnel_chart(f: DayFigures) -> Figure | None:
    day = f.day_kpis
    if day is None:
        return None
    steps = [("sessions", day["sessions"]), ("with a view", day["sessions_with_view"]), ("with a cart", day["sessions_with_cart"])]
    steps += [("with a purchase", day["sessions_with_purchase"])]
    fig, ax = plt.subplots(figsize=(8, 3))
    bars = ax.barh([s for s, _ in steps][::-1], [int(n) for _, n in steps][::-1], color=BLUE)
    total = max(int(day["sessions"]), 1)
    ax.bar_label(bars, labels=[f"{int(n):,} ({int(n) / total:.1%})" for _, n in steps][::-1], padding=3, fontsize=8)
    ax.set_xlabel("sessions")
    ax.set_title(f"Session funnel {f.date}: conversion {day['conversion_rate']:.2%}, cart to purchase {_fmt(day['cart_to_purchase_rate'], '.1%')}")
    ax.margins(x=0.2)
    return fig


def segments_chart(f: DayFigures) -> Figure | None:
    if f.segments is None:
        return None
    s = f.segments.iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(s) + 1.2))
    bars = ax.barh(s["segment_name"], s["users"], color=BLUE)
    ax.bar_label(bars, labels=[f"{u:,} ({sh:.0%})" for u, sh in zip(s["users"], s["share"], strict=True)], padding=3, fontsize=8)
    ax.set_xlabel("users")
    ax.set_title(f"User segments as of {s['run_date'].iloc[0]} ({len(s)} segments)")
    ax.margins(x=0.2)
    return fig


def models_chart(f: DayFigures) -> Figure | None:
    candidates: list[tuple[pd.DataFrame | None, Callable[[Axes, pd.DataFrame], None]]] = [
        (f.recommend, _recommend_panel),
        (f.propensity_lift, _lift_panel),
        (f.lstm, _lstm_panel),
    ]
    panels = [(df, draw) for df, draw in candidates if df is not None]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (df, draw) in zip(axes[0], panels, strict=True):
        draw(ax, df)
    fig.tight_layout()
    return fig


def _recommend_panel(ax: Axes, recommend: pd.DataFrame) -> None:
    r = recommend.set_index("model")
    metrics = ["precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k"]
    width = 0.8 / len(r)
    for i, (model, row) in enumerate(r.iterrows()):
        ax.bar([m + i * width for m in range(len(metrics))], [row[m] for m in metrics], width, label=model, color=BLUE if model == "als" else GREY)
    ax.set_xticks([m + width * (len(r) - 1) / 2 for m in range(len(metrics))], [m.replace("_at_k", "") for m in metrics])
    ax.set_title(f"Recommendations @{int(r['k'].iloc[0])}: ALS vs popularity", fontsize=10)
    ax.legend(fontsize=8)


def _lift_panel(ax: Axes, lift: pd.DataFrame) -> None:
    for target, rows in lift.groupby("target"):
        ax.plot(rows["decile"], rows["lift"], marker="o", label=target)
    ax.axhline(1, color=GREY, linestyle="--", linewidth=1)
    ax.set_xticks(range(1, 11))
    ax.set_xlabel("decile (1 = ranked most likely)")
    ax.set_ylabel("lift")
    ax.set_title("Propensity: lift by decile (test users)", fontsize=10)
    ax.legend(fontsize=8)


def _lstm_panel(ax: Axes, lstm: pd.DataFrame) -> None:
    m = lstm.set_index("model")
    metrics = ["next_event_macro_f1", "purchase_roc_auc", "churn_roc_auc"]
    width = 0.8 / len(m)
    for i, (model, row) in enumerate(m.iterrows()):
        ax.bar([x + i * width for x in range(len(metrics))], [row[c] if pd.notna(row[c]) else 0 for c in metrics], width, label=model)
    ax.set_xticks([x + width * (len(m) - 1) / 2 for x in range(len(metrics))], ["next event F1", "purchase AUC", "churn AUC"])
    ax.set_ylim(0, 1)
    ax.set_title("Sequence model vs baselines (test split)", fontsize=10)
    ax.legend(fontsize=7)


CHARTS: dict[str, Callable[[DayFigures], Figure | None]] = {
    "conservation": conservation_chart,
    "quarantine": quarantine_chart,
    "kpis": kpi_chart,
    "funnel": funnel_chart,
    "segments": segments_chart,
    "models": models_chart,
}


# --- the page ---

MISSING = {
    "conservation": "no successful clean run for this date in ops.run_audit (ecomlake clean --date D)",
    "kpis": "no gold.daily_kpis row for this date (ecomlake featurize --date D)",
    "segments": "no gold.user_segments run on or before this date (ecomlake profile)",
    "recommend": "no gold.recommendations run on or before this date (ecomlake recommend)",
    "propensity": "no gold.propensity_scores run on or before this date (ecomlake propensity; needs labels)",
    "lstm": "no gold.lstm_scores run on or before this date (ecomlake train-lstm, score-lstm)",
    "ledger": "no ops.run_ledger rows for this date (no job has run for it)",
}

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
.missing { color: #8a6d3b; background: #fcf8e3; padding: 6px 10px; } .bad { color: #a94442; font-weight: bold; }
img { max-width: 100%; } .meta { color: #666; font-size: 0.9em; }
"""


def html_page(f: DayFigures, charts: dict[str, Path]) -> str:
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>ecomlake report {f.date}</title><style>{STYLE}</style></head><body>",
        f"<h1>ecomlake run report: {f.date}</h1><p class='meta'>lake {html.escape(f.lake_root)}</p>",
    ]
    parts += _section(
        "Row conservation (clean)", "conservation", f.conservation is not None, _conservation_html(f), charts, "conservation", "quarantine"
    )
    parts += _section("KPIs and funnel", "kpis", f.day_kpis is not None, _kpi_html(f), charts, "kpis", "funnel")
    parts += _section("User segments", "segments", f.segments is not None, _segments_html(f), charts, "segments")
    parts.append("<h2>Models</h2>")
    parts.append(f"<img alt='models' src='{_data_uri(charts['models'])}'>" if "models" in charts else "")
    parts += _subsection("Recommendations (ml.als_metrics)", "recommend", f.recommend)
    parts += _subsection("Churn and purchase propensity (ml.propensity_metrics, test split, chosen model)", "propensity", f.propensity)
    parts += _subsection("Sequence model (ml.lstm_metrics, test split)", "lstm", f.lstm)
    parts += _subsection("Job runs (ops.run_ledger)", "ledger", _ledger_rows(f.ledger))
    parts.append("</body></html>")
    return "\n".join(parts)


def _section(title: str, key: str, present: bool, body: str, charts: dict[str, Path], *names: str) -> list[str]:
    if not present:
        return [f"<h2>{title}</h2>", f"<p class='missing'>Not available: {MISSING[key]}.</p>"]
    images = [f"<img alt='{n}' src='{_data_uri(charts[n])}'>" for n in names if n in charts]
    return [f"<h2>{title}</h2>", body, *images]


def _subsection(title: str, key: str, table: pd.DataFrame | None) -> list[str]:
    if table is None:
        return [f"<h3>{title}</h3>", f"<p class='missing'>Not available: {MISSING[key]}.</p>"]
    return [f"<h3>{title}</h3>", _table(table)]


def _conservation_html(f: DayFigures) -> str:
    c = f.conservation
    if c is None:
        return ""
    rows = [
        ("rows in", c.rows_in),
        ("kept (silver.events)", c.kept),
        ("quarantined (silver.quarantine)", c.quarantined),
        ("exact duplicates dropped", c.duplicates_exact),
        ("near duplicates dropped", c.duplicates_near),
        ("redelivered events dropped", c.duplicates_redelivered),
        ("bot rows removed", c.bot_rows_removed),
        ("accounted for", c.accounted),
        ("bot rows flagged and kept", c.bot_rows_flagged),
    ]
    verdict = "holds" if c.holds else "<span class='bad'>DOES NOT HOLD</span>"
    reasons = pd.DataFrame(list(c.quarantined_by_reason.items()), columns=["reason", "rows"])
    return (
        f"<p>clean run {html.escape(str(f.clean_run_id))}: rows in = kept + quarantined + duplicates + bot rows removed: {verdict}.</p>"
        + _table(pd.DataFrame(rows, columns=["", "rows"]))
        + (_table(reasons) if not reasons.empty else "<p>No rows quarantined.</p>")
    )


def _kpi_html(f: DayFigures) -> str:
    day = f.day_kpis
    if day is None:
        return ""
    names = ["active_users", "new_users", "sessions", "events", "orders", "gmv", "aov", "conversion_rate", "view_to_cart_rate"]
    names += ["cart_to_purchase_rate", "bounce_rate", "avg_session_seconds"]
    return _table(pd.DataFrame([(n, day[n]) for n in names], columns=["KPI", str(f.date)]))


def _segments_html(f: DayFigures) -> str:
    if f.segments is None:
        return ""
    moved = ""
    if f.transitions is not None:
        changed = f.transitions[f.transitions["from_segment"] != f.transitions["to_segment"]].head(10)
        moved = "<p>Largest moves since the previous run (gold.segment_transitions):</p>" + _table(changed.drop(columns="run_date"))
    return _table(f.segments.drop(columns="run_date")) + moved


def _ledger_rows(ledger: pd.DataFrame | None) -> pd.DataFrame | None:
    """Each attempt's end row, and the start row of an attempt that never ended (its driver died)."""
    if ledger is None:
        return None
    ended = ledger[ledger["status"] != "running"]
    open_ = ledger[(ledger["status"] == "running") & ~ledger["run_id"].isin(ended["run_id"])]
    rows = pd.concat([ended, open_]).sort_values("started_at")
    return rows[["job", "status", "started_at", "seconds", "rows_in", "rows_out", "error"]]


def _table(df: pd.DataFrame) -> str:
    return df.map(_cell).to_html(index=False, border=0, escape=True)


def _cell(value: object) -> object:
    """Counts with thousands separators, other numbers to 4 significant digits, nothing for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:,.0f}" if abs(float(value)) >= 1000 else f"{value:.4g}"
    return value


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or pd.isna(value) else format(value, spec)
