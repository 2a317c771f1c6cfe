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
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adascale_rl.hardware_bridge.loop import CSV_COLUMNS, headline, measured
from adascale_rl.scenario import Scenario, get_scenario, with_catalog
from adascale_rl.sim.simulator import ContentionSim, EpochConditions, SimConfig
from adascale_rl.sim.situations import SituationTable

METRICS = ("p50_ms", "p95_ms", "budget_miss_pct", "energy_mj_modelled")
SIM_ITSELF = ("comparing the simulator with itself measures nothing (same seed and actions give identical "
              "epochs, 0 % error by construction)")
DEFAULT_REPLICATIONS = 32  # simulator replays per comparison; its per-epoch prediction is their median


@dataclass(frozen=True)
class SimComparison:
    """Per-epoch simulated stats beside the real ones, headline numbers of both, and the p95 error."""

    frame: pd.DataFrame  # per epoch: real_*/sim_* completed, p50, p95, miss_frac, energy; errors; bg used
    real: dict[str, float]  # headline (loop.headline) over the measured epochs
    sim: dict[str, float]
    median_error: float  # median over measured epochs of |sim p95 − real p95| / real p95
    p90_error: float
    n_epochs: int  # measured epochs with completed requests in both
    coverage: float = math.nan  # share of those epochs whose real p95 lies in the simulator's p10–p90 band
    replications: int = 1
    noise_floor: float = math.nan  # the same median error against one more simulated draw instead of the run
    p50_median_error: float = math.nan  # median over measured epochs of |sim p50 − real p50| / real p50

    def summary(self) -> dict[str, float]:
        out = {"sim_vs_real_p95_error_median": self.median_error, "sim_vs_real_p95_error_p90": self.p90_error,
               "sim_vs_real_p50_error_median": self.p50_median_error, "sim_vs_real_p95_band_coverage": self.coverage,
               "sim_vs_real_p95_noise_floor": self.noise_floor, "compared_epochs": self.n_epochs,
               "sim_replications": self.replications}
        out.update({f"sim_{key}": self.sim[key] for key in METRICS})
        return out


def compare_with_sim(frame: pd.DataFrame, scenario: Scenario, *, epoch_s: float, reading_is: str,
                     seed: int = 0, replications: int = DEFAULT_REPLICATIONS) -> SimComparison:
    """Replay the run's served variants through the simulator under the measured conditions.

    ``reading_is``: ``"coming"`` when a device's reading describes the epoch about to be served,
    ``"previous"`` when it describes the epoch just finished (real utilisation is always measured over an
    interval: :class:`~.devices.local.LocalDevice`, :class:`~.devices.adb.AdbDevice`). For ``previous``
    the background of epoch ``i`` is taken from reading ``i + 1`` (the last epoch falls back to the
    injected background, else its own reading); frequency, memory and temperature are instantaneous and
    taken from reading ``i``. Variants are matched by ``served_variant_id``, so ``scenario`` may carry a
    recalibrated catalog of the same variants. Warm-up epochs are replayed (they leave a queue and a
    loaded variant) but not scored.

    The run is replayed ``replications`` times (seeds ``seed``, ``seed + 1``, …: other arrivals and service
    draws, same variants and conditions). One epoch's p95 rests on a few dozen requests (50 in the ``local``
    scenario) and so carries sampling noise of its own (≈ 15 % relative SD for a lognormal service with σ =
    0.5); scoring one simulated draw against one real draw would count that noise twice. The simulator's
    prediction for an epoch is therefore the *median over replications* of its p50/p95 (the value that
    minimises the expected absolute error against one more draw of the same estimator — the real epoch), and
    the mean of its counts, misses and energy; ``sim_p95_lo_ms``/``sim_p95_hi_ms`` keep the p10/p90 band, and
    :attr:`SimComparison.coverage` says how often the real p95 fell inside it (≈ 80 % when the simulator's
    spread is right, less when it is too narrow or biased). One more replay (seed ``seed + replications``) is
    held out and scored like the run: :attr:`SimComparison.noise_floor` is the error a run would get if the
    simulator were exactly right — what per-epoch sampling alone costs.
    """
    if reading_is not in ("coming", "previous"):
        raise ValueError(f"reading_is must be 'coming' or 'previous', got {reading_is!r}")
    if replications < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    s = scenario
    table = s.table
    try:
        variants = [table.index(v) for v in frame["served_variant_id"]]
    except KeyError as exc:
        raise ValueError(f"the run served a variant the scenario's catalog lacks: {exc.args[0]}") from None
    bg = frame["cpu_bg_util"].to_numpy(dtype=float)
    if reading_is == "previous":
        injected = frame["injected_bg_util"].to_numpy(dtype=float)
        tail = injected[-1] if math.isfinite(injected[-1]) else bg[-1]
        bg = np.append(bg[1:], tail)
    bg = np.clip(np.where(np.isfinite(bg), bg, frame["injected_bg_util"].fillna(0.0).to_numpy(dtype=float)), 0, 1)
    mem = frame["mem_avail_frac"].to_numpy(dtype=float)
    conditions = [EpochConditions(float(f), float(b), float(m) if math.isfinite(m) else 1.0, float(t))
                  for f, b, m, t in zip(frame["cpu_freq_frac"], bg, mem, frame["temp_c"], strict=True)]
    sims = _replay(s, variants, conditions, epoch_s, seed, replications)
    warmup = frame["warmup"].astype(bool).to_numpy() if "warmup" in frame.columns else np.zeros(len(frame), bool)
    out = pd.DataFrame({"epoch": frame["epoch"].to_numpy(), "warmup": warmup, "bg_used": bg,
                        "variant_id": frame["served_variant_id"].to_numpy()})
    for key, real in (("completed", "completed"), ("dropped", "dropped"), ("failed", "failed"),
                      ("p50_ms", "latency_p50_ms"), ("p95_ms", "latency_p95_ms"), ("miss_frac", "miss_frac"),
                      ("energy_j", "energy_j_modelled"), ("accuracy", "accuracy")):
        out[f"real_{key}"] = frame[real].to_numpy(dtype=float)
        out[f"sim_{key}"] = sims[key]
    out["sim_p95_lo_ms"], out["sim_p95_hi_ms"] = sims["p95_lo_ms"], sims["p95_hi_ms"]
    out["held_out_p95_ms"] = sims["held_out_p95_ms"]
    both = (out["real_completed"] > 0) & (out["sim_completed"] > 0)
    for q in ("p95", "p50"):
        out[f"{q}_rel_error"] = np.where(both, (out[f"sim_{q}_ms"] - out[f"real_{q}_ms"]).abs() / out[f"real_{q}_ms"],
                                         np.nan)
    scored = out[~out["warmup"]]
    compared = scored[scored["p95_rel_error"].notna()]
    errors = compared["p95_rel_error"].to_numpy()
    inside = compared["real_p95_ms"].between(compared["sim_p95_lo_ms"], compared["sim_p95_hi_ms"])
    median = float(np.median(errors)) if errors.size else math.nan
    p90 = float(np.percentile(errors, 90)) if errors.size else math.nan
    held_out = scored[(scored["sim_completed"] > 0) & (scored["held_out_p95_ms"] > 0)]
    floor = ((held_out["sim_p95_ms"] - held_out["held_out_p95_ms"]).abs() / held_out["held_out_p95_ms"]).median()
    return SimComparison(out, headline(_side(scored, "real")), headline(_side(scored, "sim")), median, p90,
                         int(errors.size), float(inside.mean()) if errors.size else math.nan, replications,
                         float(floor), float(scored["p50_rel_error"].median()))


def _replay(scenario: Scenario, variants: list[int], conditions: list[EpochConditions], epoch_s: float, seed: int,
            replications: int) -> dict[str, np.ndarray]:
    """Per-epoch simulated stats over ``replications`` replays (see :func:`compare_with_sim`): medians of
    the percentiles, their p10/p90 band, means of everything else; and the p95 of one more, held-out replay."""
    from adascale_rl.envs.contract import DecisionContract

    s = scenario
    config = SimConfig(epoch_s, s.request_rate_hz, s.latency_budget_ms, s.queue_limit, s.mem_reserve_mb)
    situations = SituationTable(s.profile, s.table, s.latency_budget_ms)
    contract = DecisionContract(s)
    start = contract.action_to_variant(contract.fallback_action)
    fields = ("completed", "dropped", "failed", "latency_p50_ms", "latency_p95_ms", "miss_frac", "energy_j",
              "accuracy")
    draws = np.empty((replications + 1, len(variants), len(fields)))
    for r in range(replications + 1):
        sim = ContentionSim(s.profile, s.table, config, situations=situations)
        sim.reset(seed + r, start)
        for i, (variant, condition) in enumerate(zip(variants, conditions, strict=True)):
            stats = sim.step(variant, condition)
            draws[r, i] = [getattr(stats, name) for name in fields]
    held_out = draws[-1, :, fields.index("latency_p95_ms")]
    values = dict(zip(fields, np.moveaxis(draws[:-1], -1, 0), strict=True))
    with warnings.catch_warnings():  # epochs where no replication completed a request stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        p95_lo, p95, p95_hi = np.nanpercentile(values["latency_p95_ms"], [10, 50, 90], axis=0)
        p50 = np.nanmedian(values["latency_p50_ms"], axis=0)
    means = {key: values[key].mean(axis=0) for key in ("completed", "dropped", "failed", "miss_frac", "energy_j",
                                                       "accuracy")}
    return {**means, "p50_ms": p50, "p95_ms": p95, "p95_lo_ms": p95_lo, "p95_hi_ms": p95_hi,
            "held_out_p95_ms": held_out}


def served_cells(frame: pd.DataFrame) -> str:
    """What a run served over its measured epochs: ``variant@configuration share`` per cell, most first."""
    scored = measured(frame)
    shares = (scored["served_variant_id"] + "@" + scored["served_config"].fillna("")).value_counts(normalize=True)
    return ", ".join(f"{cell} {share:.0%}" for cell, share in shares.items())


def run_to_run_error(first: pd.DataFrame, second: pd.DataFrame) -> float:
    """Median over the measured epochs both runs share of ``|p95 of second − p95 of first| / p95 of first``:
    how far two live runs of one controller on one trace window differ epoch by epoch — the floor that
    live-to-live variation puts under any simulator's error on that device."""
    a, b = (measured(f).set_index("epoch")["latency_p95_ms"] for f in (first, second))
    both = pd.concat([a, b], axis=1, keys=["first", "second"], join="inner").dropna()
    both = both[both["first"] > 0]
    return float(((both["second"] - both["first"]).abs() / both["first"]).median()) if len(both) else math.nan


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
    axes[0].fill_between(c["epoch"], c["sim_p95_lo_ms"], c["sim_p95_hi_ms"], color="tab:orange", alpha=0.2,
                         linewidth=0, label=f"sim p10–p90 over {comparison.replications} replays")
    axes[0].axhline(scenario.latency_budget_ms, color="tab:red", linestyle="--", label="budget")
    axes[0].legend(loc="upper right", fontsize=8)
    r, s = comparison.real, comparison.sim
    axes[0].set_title(f"{title or scenario.name}: real vs simulated — p95 {r['p95_ms']:.2f} vs {s['p95_ms']:.2f} ms, "
                      f"misses {r['budget_miss_pct']:.1f} vs {s['budget_miss_pct']:.1f} %\n"
                      f"per-epoch p95 error median {comparison.median_error:.0%} (p90 {comparison.p90_error:.0%}; "
                      f"noise floor {comparison.noise_floor:.0%}), real in the sim's band {comparison.coverage:.0%}",
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
    frame = pd.read_csv(path, dtype={"fallback_reason": str, "variant_id": str, "served_variant_id": str,
                                     "served_config": str})
    if "served_config" not in frame.columns:  # runs recorded before the column existed
        frame["served_config"] = ""
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a `bridge run` CSV (missing column(s) {', '.join(missing)})")
    frame[["fallback_reason", "served_config"]] = frame[["fallback_reason", "served_config"]].fillna("")
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
                  "p95_error_median", "p95_error_p90", "p95_noise_floor", "p95_band_coverage", "load_average")


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
                    "p95_noise_floor": comparison.noise_floor, "p95_band_coverage": comparison.coverage,
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
            if isinstance(value, float) and any(k in column for k in ("error", "coverage", "floor")) \
                    and math.isfinite(value):
                cells.append(f"{value:.1%}")
            elif isinstance(value, float) and math.isfinite(value):
                cells.append(f"{value:.4g}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
