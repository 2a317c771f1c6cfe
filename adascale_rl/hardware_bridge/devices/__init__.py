"""Devices the closed loop can drive: the ``Device`` protocol and its implementations.

- :class:`~.base.Device` — ``sample() -> Reading``, ``apply(action)``, ``serve_epoch(duration_s) -> EpochStats``.
- :class:`~.sim.SimDevice` — the SimPy simulator replaying a trace (no hardware; fast).
- :class:`~.local.LocalDevice` — this Linux machine: real readings, real supernet variants served in a
  worker thread, real per-request latency, modelled energy (imports torch).
- :class:`~.adb.AdbDevice` — an Android phone over adb with an on-device app (protocol documented there;
  not exercised against a phone in this repository).

Import the implementation you need from its module; this package imports none of them.
"""
