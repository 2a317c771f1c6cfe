"""The hardware bridge: run a trained controller policy on real devices.

Pieces (one module each, imported by name so that a device runtime never pays for what it does not use):

- :mod:`~adascale_rl.hardware_bridge.export` — MaskablePPO run → ``policy.onnx`` + ``policy.json`` (needs
  torch and stable-baselines3; the only module here that does).
- :mod:`~adascale_rl.hardware_bridge.policy_file` — the ``policy.json`` contract: write, read, check.
- :mod:`~adascale_rl.hardware_bridge.runtime` — :class:`PolicyRuntime`: numpy + onnxruntime only.
- :mod:`~adascale_rl.hardware_bridge.devices` — the ``Device`` protocol; simulated, local and adb devices.
- :mod:`~adascale_rl.hardware_bridge.contention` — replays a trace's background load on this machine
  (workers: :mod:`~adascale_rl.hardware_bridge.load_workers`).
- :mod:`~adascale_rl.hardware_bridge.loop` — the closed loop sample → decide → apply → serve → measure,
  and the sim-vs-real comparison; :mod:`~adascale_rl.hardware_bridge.session` — one whole run (CLI, benchmark).
- :mod:`~adascale_rl.hardware_bridge.server` / :mod:`~adascale_rl.hardware_bridge.client` /
  :mod:`~adascale_rl.hardware_bridge.protocol` — decisions over HTTP for device runtimes that cannot
  embed Python.
- :mod:`~adascale_rl.hardware_bridge.testing` — tiny trained runs and a quick local scenario for tests.

This ``__init__`` deliberately imports nothing: importing the runtime must not drag in torch.
"""
