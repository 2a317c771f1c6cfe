"""Per-epoch random streams (common random numbers) from a counter-based generator.

Each epoch's arrivals and service-time noise come from Philox keyed by the episode seed with the
epoch index in its counter: epoch ``t`` always sees the same numbers whatever happened before, so a
counterfactual run of one epoch (the hindsight oracle's) sees exactly the same requests. Resetting a
Philox counter costs a few microseconds, far less than building a new generator every epoch.
"""

from __future__ import annotations

import numpy as np

_COUNTER_WORDS = 4


class EpochStreams:
    """A numpy ``Generator`` repositioned at the start of each epoch's independent stream."""

    def __init__(self, seed: int) -> None:
        self.key = np.array([seed & (2**64 - 1), seed >> 64], dtype=np.uint64)
        self.generator = np.random.Generator(np.random.Philox(key=int(seed)))
        # one state document, re-used: the setter copies it into the generator, so only the counter's
        # epoch word changes between epochs (half the cost of building it every epoch)
        self._counter = np.zeros(_COUNTER_WORDS, dtype=np.uint64)
        self._state = {
            "bit_generator": "Philox", "state": {"counter": self._counter, "key": self.key},
            "buffer": np.zeros(_COUNTER_WORDS, dtype=np.uint64), "buffer_pos": _COUNTER_WORDS,
            "has_uint32": 0, "uinteger": 0,
        }

    def at_epoch(self, epoch: int) -> np.random.Generator:
        """The generator positioned at the start of ``epoch``'s stream (2**128 draws apart)."""
        self._counter[2] = epoch
        self.generator.bit_generator.state = self._state
        return self.generator
