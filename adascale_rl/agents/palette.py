"""One fixed colour per controller, shared by every plot (timeline, trade-off, training curve), so a
controller is the same colour wherever it appears and whichever other controllers were evaluated."""

from __future__ import annotations

from collections.abc import Iterable

FIXED = {
    "ppo": "tab:blue",
    "greedy": "tab:orange",
    "best-static": "tab:green",
    "static-full": "tab:red",
    "random": "tab:gray",
    "oracle": "black",
}
# for other names (static:VARIANT_ID …), in order of first appearance
EXTRA = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "gold", "navy", "teal")


def controller_colours(names: Iterable[str]) -> dict[str, str]:
    """Colour of each controller: :data:`FIXED` for the named controllers, then :data:`EXTRA` in order
    (sorted, so the same set of extra names always gets the same colours), cycling if there are more."""
    names = list(dict.fromkeys(names))
    extras = sorted(name for name in names if name not in FIXED)
    colours = {name: FIXED[name] for name in names if name in FIXED}
    colours.update({name: EXTRA[i % len(EXTRA)] for i, name in enumerate(extras)})
    return {name: colours[name] for name in names}
