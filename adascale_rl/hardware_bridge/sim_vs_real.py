"""Simulated vs measured: replay a live run's epochs through the simulator and compare, per controller.

:func:`compare_with_sim` replays the variants the device really served, in the same order, under the
conditions it measured, and sets the simulated p50/p95 latency, budget misses and energy per request
beside the real ones, epoch by epoch (error: ``|sim p95 − real p95| / real p95``, median and p90 over
the measured epochs). :func:`plot_comparison` draws that (one PNG per run), :func:`build_report` does it
for several runs — the ``adascale-rl bridge report`` verb — from their CSVs and ``.run.json`` sidecars
(:class:`RunInfo`, written by ``bridge run``).

Comparing the simulator with itself measures nothing (it is exact by construction), so runs made on the
simulator are refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adascale_rl.hardware_bridge.loop import CSV_COLUMNS, headline
from adascale_rl.scenario import Scenario, get_scenario, with_catalog
from adascale_rl.sim.simulator import ContentionSim, EpochConditions, SimConfig

METRICS = ("p50_ms", "p95_ms", "budget_miss_pct", "energy_mj_modelled")
SIM_ITSELF = ("comparing the simulator with itself measures nothing (same seed and actions give identical "
              "epochs, 0 % error by construction)")


@dataclass(frozen=True)
class SimComparison:
    """Per-epoch simulated stats beside the real ones, headline numbers of both, and the p95 error."""

    frame: pd.DataFrame  # per epoch: real_*/sim_* completed, p50, p95, miss_frac, energy; errors; bg used
    real: dict[str, float]  # headline (loop.headline) over the measured epochs
    sim: dict[str, float]
    median_error: float  # median over measured epochs of |sim p95 − real p95| / real p95
    p90_error: float
    n_epochs: int  # measured epochs with completed requests in both

    def summary(self) -> dict[str, float]:
        out = {"sim_vs_real_p95_error_median": self.median_error, "sim_vs_real_p95_error_p90": self.p90_error,
               "compared_epochs": self.n_epochs}
        out.update({f"sim_{key}": self.sim[key] for key in METRICS})
        return out


def compare_with_sim(frame: pd.DataFrame, scenario: Scenario, *, epoch_s: float, reading_is: str,
                     seed: int = 0) -> SimComparison:
    """Replay the run's served variants through the simulator under the measured conditions.

    ``reading_is``: ``"coming"`` when a device's reading describes the epoch about to be served,
    ``"previous"`` when it describes the epoch just finished (real utilisation is always measured over an
    interval: :class:`~.devices.local.LocalDevice`, :class:`~.devices.adb.AdbDevice`). For ``previous``
    the background of epoch ``i`` is taken from reading ``i + 1`` (the last epoch falls back to the
    injected background, else its own reading); frequency, memory and temperature are instantaneous and
    taken from reading ``i``. Variants are matched by ``served_variant_id``, so ``scenario`` may carry a
    recalibrated catalog of the same variants. Warm-up epochs are replayed (they leave a queue and a
    loaded variant) but not scored.
    """
    from adascale_rl.envs.contract import DecisionContract

    if reading_is not in ("coming", "previous"):
        raise ValueError(f"reading_is must be 'coming' or 'previous', got {reading_is!r}")
    s = scenario
    table = s.table
    try:
        variants = [table.index(v) for v in frame["served_variant_id"]]
    except KeyError as exc:
        raise ValueError(f"the run served a variant the scenario's catalog lacks: {exc.args[0]}") from None
    sim = ContentionSim(s.profile, table, SimConfig(epoch_s, s.request_rate_hz, s.latency_budget_ms, s.queue_limit,
                                                    s.mem_reserve_mb))
    contract = DecisionContract(s)
    sim.reset(seed, contract.action_to_variant(contract.fallback_action))
    bg = frame["cpu_bg_util"].to_numpy(dtype=float)
    if reading_is == "previous":
        injected = frame["injected_bg_util"].to_numpy(dtype=float)
        tail = injected[-1] if math.isfinite(injected[-1]) else bg[-1]
        bg = np.append(bg[1:], tail)
    bg = np.where(np.isfinite(bg), bg, frame["injected_bg_util"].fillna(0.0).to_numpy(dtype=float))
    warmup = frame["warmup"].astype(bool).to_numpy() if "warmup" in frame.columns else np.zeros(len(frame), bool)
    rows = []
    for i, row in enumerate(frame.itertuples(index=False)):
        conditions = EpochConditions(float(row.cpu_freq_frac), float(np.clip(bg[i], 0.0, 1.0)),
                                     float(row.mem_avail_frac) if math.isfinite(row.mem_avail_frac) else 1.0,
                                     float(row.temp_c))
        stats = sim.step(variants[i], conditions)
        rows.append({"epoch": row.epoch, "warmup": bool(warmup[i]), "bg_used": conditions.cpu_bg_util,
                     "variant_id": row.served_variant_id,
                     "real_completed": row.completed, "sim_completed": stats.completed,
                     "real_dropped": row.dropped, "sim_dropped": stats.dropped,
                     "real_failed": row.failed, "sim_failed": stats.failed,
                     "real_p50_ms": row.latency_p50_ms, "sim_p50_ms": stats.latency_p50_ms,
                     "real_p95_ms": row.latency_p95_ms, "sim_p95_ms": stats.latency_p95_ms,
                     "real_miss_frac": row.miss_frac, "sim_miss_frac": stats.miss_frac,
                     "real_energy_j": row.energy_j_modelled, "sim_energy_j": stats.energy_j,
                     "real_accuracy": row.accuracy, "sim_accuracy": stats.accuracy})
    out = pd.DataFrame(rows)
    both = (out["real_completed"] > 0) & (out["sim_completed"] > 0)
    for q in ("p95", "p50"):
        out[f"{q}_rel_error"] = np.where(both, (out[f"sim_{q}_ms"] - out[f"real_{q}_ms"]).abs() / out[f"real_{q}_ms"],
                                         np.nan)
    scored = out[~out["warmup"]]
    errors = scored["p95_rel_error"].dropna().to_numpy()
    median = float(np.median(errors)) if errors.size else math.nan
    p90 = float(np.percentile(errors, 90)) if errors.size else math.nan
    return SimComparison(out, headline(_side(scored, "real")), headline(_side(scored, "sim")), median, p90,
                         int(errors.size))


def _side(frame: pd.DataFrame, side: str) -> pd.DataFrame:
    """One side of a comparison frame in the loop's column names (for :func:`headline`)."""
    names = {"completed": "completed", "dropped": "dropped", "failed": "failed", "p50_ms": "latency_p50_ms",
             "p95_ms": "latency_p95_ms", "miss_frac": "miss_frac", "energy_j": "energy_j_modelled",
             "accuracy": "accuracy"}
    return pd.DataFrame({ours: frame[f"{side}_{key}"].to_numpy() for key, ours in names.items()})


def plot_comparison(run: pd.DataFrame, comparison: SimComparison, scenario: Scenario, path: str | Path,
                    title: str = "") -> Path:
    """PNG, one panel each over the epochs: p95 (with the budget), p50, budget misses and energy per
    request, real vs simulated; measured vs injected background; the per-epoch p95 error."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    c = comparison.frame
    energy = {side: 1000.0 * c[f"{side}_energy_j"] / c[f"{side}_completed"].clip(lower=1) for side in ("real", "sim")}
    panels = [("p95 latency (ms)", "real_p95_ms", "sim_p95_ms"), ("p50 latency (ms)", "real_p50_ms", "sim_p50_ms"),
              ("budget misses (%)", "real_miss_frac", "sim_miss_frac"), ("energy / request (mJ, modelled)", None, None)]
    fig, axes = plt.subplots(6, 1, figsize=(10, 13), sharex=True)
    for ax, (label, real, sim) in zip(axes, panels, strict=False):
        scale = 100.0 if "misses" in label else 1.0
        ax.plot(c["epoch"], energy["real"] if real is None else scale * c[real], label="real", color="tab:blue")
        ax.plot(c["epoch"], energy["sim"] if sim is None else scale * c[sim], label="sim", color="tab:orange",
                alpha=0.8)
        ax.set_ylabel(label)
        ax.legend(loc="upper right")
    axes[0].axhline(scenario.latency_budget_ms, color="tab:red", linestyle="--", label="budget")
    r, s = comparison.real, comparison.sim
    axes[0].set_title(f"{title or scenario.name}: real vs simulated — p95 {r['p95_ms']:.2f} vs {s['p95_ms']:.2f} ms, "
                      f"misses {r['budget_miss_pct']:.1f} vs {s['budget_miss_pct']:.1f} %, "
                      f"per-epoch p95 error median {comparison.median_error:.0%} (p90 {comparison.p90_error:.0%})",
                      fontsize=9)
    axes[4].plot(run["epoch"], run["cpu_bg_util"], label="measured background", color="tab:gray")
    if run["injected_bg_util"].notna().any():
        axes[4].plot(run["epoch"], run["injected_bg_util"], label="injected (trace)", color="tab:green")
    axes[4].set_ylabel("CPU share")
    axes[4].set_ylim(0, 1.05)
    axes[4].legend(loc="upper right")
    axes[5].plot(c["epoch"], c["p95_rel_error"], color="tab:purple", marker=".", linestyle="none")
    axes[5].set_ylabel("|sim − real| / real (p95)")
    axes[5].set_xlabel("epoch")
    for ax in axes:
        if c["warmup"].any():
            ax.axvspan(c["epoch"].min(), c.loc[c["warmup"], "epoch"].max() + 0.5, color="0.9", zorder=0)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class RunInfo:
    """What ``bridge run`` records beside its CSV (``NAME.run.json``), so a run can be replayed later."""

    controller: str
    device: str
    reading_is: str
    scenario_name: str
    scenario_ref: str
    scenario_digest: str
    epoch_s: float
    seed: int
    trace: str
    trace_start_s: float
    warmup_epochs: int
    date: str
    load_average: tuple[float, float]  # 1-minute load average at start and end
    cost_catalog: str | None = None  # catalog the device's runtime chose configurations from, if not the scenario's

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> RunInfo:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (`bridge run --out RUN.csv` writes RUN.run.json beside it)")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            doc["load_average"] = tuple(doc["load_average"])
            return cls(**doc)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a bridge run record ({exc}); expected the JSON `bridge run` "
                             "writes") from None


def sidecar(csv_path: str | Path, suffix: str) -> Path:
    """``RUN.csv`` → ``RUN<suffix>`` (``.run.json``, ``.live_profile.csv``, ``.catalog.csv``, …)."""
    path = Path(csv_path)
    return path.with_name(path.stem + suffix)


def load_run(csv_path: str | Path) -> tuple[pd.DataFrame, RunInfo]:
    """A run's per-epoch CSV and its record; refuses CSVs without the loop's columns."""
    path = Path(csv_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such run CSV")
    frame = pd.read_csv(path, dtype={"fallback_reason": str, "variant_id": str, "served_variant_id": str})
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a `bridge run` CSV (missing column(s) {', '.join(missing)})")
    frame["fallback_reason"] = frame["fallback_reason"].fillna("")
    return frame, RunInfo.load(sidecar(path, ".run.json"))


def run_scenario(info: RunInfo, catalog: str | Path | None = None, source: str = "") -> Scenario:
    """The scenario a run was made under (checked against its recorded digest), optionally with ``catalog``."""
    scenario = get_scenario(info.scenario_ref)
    if scenario.digest() != info.scenario_digest:
        raise ValueError(f"{source or 'run'}: recorded under scenario '{info.scenario_name}' digest "
                         f"{info.scenario_digest[:12]}…, but {info.scenario_ref!r} now has digest "
                         f"{scenario.digest()[:12]}… (its settings, profile or catalog changed since)")
    return with_catalog(scenario, catalog) if catalog is not None else scenario


@dataclass(frozen=True)
class Report:
    """One row per run (real and simulated headline numbers, errors) and the files written."""

    table: pd.DataFrame
    files: list[Path]


REPORT_COLUMNS = ("controller", "epochs", *(f"{side}_{m}" for m in METRICS for side in ("real", "sim")),
                  "p95_error_median", "p95_error_p90", "load_average")


def build_report(runs: list[str | Path], out_dir: str | Path, *, catalog: str | Path | None = None) -> Report:
    """Sim vs real for every run CSV: ``summary.csv``, ``summary.md`` and ``CONTROLLER.sim_vs_real.png``.

    The simulator uses ``catalog`` if given, else the catalog the run's device chose its configurations
    from (``bridge run --cost-catalog``), else the scenario's."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, files = [], []
    for csv_path in runs:
        frame, info = load_run(csv_path)
        if info.reading_is != "previous" or info.device == "sim":
            raise ValueError(f"{csv_path}: a run on the simulator; {SIM_ITSELF}")
        scenario = run_scenario(info, catalog or info.cost_catalog, str(csv_path))
        comparison = compare_with_sim(frame, scenario, epoch_s=info.epoch_s, reading_is=info.reading_is,
                                      seed=info.seed)
        label = info.controller
        png = out / f"{_slug(label)}.sim_vs_real.png"
        files.append(plot_comparison(frame, comparison, scenario, png, title=f"{label} on {info.device}"))
        row = {"controller": label, "epochs": comparison.n_epochs}
        for metric in METRICS:
            row[f"real_{metric}"], row[f"sim_{metric}"] = comparison.real[metric], comparison.sim[metric]
        row.update({"p95_error_median": comparison.median_error, "p95_error_p90": comparison.p90_error,
                    "load_average": "–".join(f"{x:.2f}" for x in info.load_average)})
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
    table.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(markdown_table(table) + "\n", encoding="utf-8")
    return Report(table, [out / "summary.csv", out / "summary.md", *files])


def markdown_table(table: pd.DataFrame) -> str:
    """A Markdown table (numbers to 4 significant digits, errors as percentages)."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        cells = []
        for column, value in zip(table.columns, row, strict=True):
            if isinstance(value, float) and "error" in column and math.isfinite(value):
                cells.append(f"{value:.1%}")
            elif isinstance(value, float) and math.isfinite(value):
                cells.append(f"{value:.4g}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
