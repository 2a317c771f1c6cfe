"""Evaluation report plots: which episode the timeline shows and why, every controller in its fixed
colour, state shading, and nothing clipped without saying so."""

from __future__ import annotations

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Rectangle

from adascale_rl.agents.evaluate import EpisodeSpec, evaluate, has_state_change, summarize
from adascale_rl.agents.factory import build_controllers
from adascale_rl.agents.palette import FIXED, controller_colours
from adascale_rl.agents.report import (
    P95_AXIS_BUDGETS,
    pick_timeline_episode,
    timeline_figure,
    tradeoff_figure,
    write_report,
)
from adascale_rl.envs import AdaScaleEnv
from adascale_rl.scenario import get_scenario

SCENARIO = get_scenario("pixel4")
NAMES = ["greedy", "static-full", "static:mobilenet_w1|int8", "random", "oracle"]
CALM = EpisodeSpec(0, 3968, 40, 1)  # no state change in it (the test trace changes at 3604 and 5405)
CHANGE = EpisodeSpec(0, 5990, 40, 2)  # straddles the change at epoch 6006


@pytest.fixture(scope="module")
def evaluated():
    env = AdaScaleEnv(SCENARIO, mode="eval")
    trace = env.source.traces[0]
    assert not has_state_change(trace, CALM) and has_state_change(trace, CHANGE)
    records = evaluate(env, build_controllers(NAMES, env.contract, seed=3), [CALM, CHANGE])
    return records, summarize(records, SCENARIO)


def same(colour_a, colour_b) -> bool:
    return mcolors.to_rgba(colour_a) == pytest.approx(mcolors.to_rgba(colour_b))


def test_colours_are_fixed_per_controller_whatever_else_was_evaluated() -> None:
    assert controller_colours(["oracle", "ppo"]) == {"oracle": FIXED["oracle"], "ppo": FIXED["ppo"]}
    assert controller_colours(["static:b", "ppo", "static:a"]) == controller_colours(["static:a", "static:b", "ppo"])
    assert len(set(controller_colours([*FIXED, "static:a", "static:b"]).values())) == len(FIXED) + 2


def test_timeline_prefers_an_episode_with_a_state_change_and_says_so(evaluated) -> None:
    records, _ = evaluated
    episode, why = pick_timeline_episode(records)
    assert episode == CHANGE.seed
    assert why.startswith("episode 2 of 2 (seed 2, trace rpi4b4gb_1200mhz_pattern_12h, epochs 5990–6029)")
    assert "among the 1 episodes with a state change" in why


def test_timeline_shows_every_controller_in_its_colour_with_states_shaded(evaluated) -> None:
    records, _ = evaluated
    fig, notes = timeline_figure(records, SCENARIO, CHANGE.seed, "test")
    try:
        conditions, accuracy, p95 = fig.axes[:3]
        colours = controller_colours(NAMES)
        for ax in (accuracy, p95):
            legend = [t.get_text() for t in ax.get_legend().get_texts()]
            assert legend[:len(NAMES)] == NAMES
            for line in ax.get_lines():
                if line.get_label() in colours:
                    assert same(line.get_color(), colours[line.get_label()])
        spans = [p for p in conditions.patches if isinstance(p, Rectangle)]
        assert len(spans) == 2  # two state runs in this episode, one shaded span each
        states = [t.get_text() for t in conditions.get_legend().get_texts() if t.get_text().startswith("state: ")]
        episode = records[(records["episode"] == CHANGE.seed) & (records["controller"] == NAMES[0])]
        assert states == [f"state: {s}" for s in sorted(set(episode["state"]))]
        top = P95_AXIS_BUDGETS * SCENARIO.latency_budget_ms
        rows = records[records["episode"] == CHANGE.seed]
        over = {n: int((rows[rows["controller"] == n]["latency_p95_ms"] > top).sum()) for n in NAMES}
        clipped = [n for n in NAMES if over[n]]
        assert clipped, "this episode has p95 above the axis for some controller (so the check below bites)"
        assert p95.get_ylim()[1] == top
        note = next(n for n in notes if n.startswith("p95 above"))
        for name in clipped:
            assert f"{name} {over[name]} epochs" in note
        assert note == p95.get_title()
    finally:
        plt.close(fig)


def test_tradeoff_uses_the_same_colours(evaluated) -> None:
    _, summary = evaluated
    fig = tradeoff_figure(summary)
    try:
        points = fig.axes[0].collections
        colours = controller_colours(NAMES)
        assert len(points) == len(NAMES)
        for name, point in zip(summary["controller"], points, strict=True):
            assert same(point.get_facecolor()[0], colours[name])
    finally:
        plt.close(fig)


def test_report_names_the_timeline_episode(evaluated, tmp_path) -> None:
    records, summary = evaluated
    out = write_report(tmp_path, SCENARIO, summary, records, {"traces": ["t"], "episodes": 2,
                                                               "notes": ["1 of 2 episodes contain a state change"]})
    text = (out / "summary.md").read_text()
    assert "- 1 of 2 episodes contain a state change" in text
    assert "Timeline: episode 2 of 2 (seed 2" in text and "p95 above 120 ms" in text
