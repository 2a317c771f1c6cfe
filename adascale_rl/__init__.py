"""adascale-rl: context-aware DNN scaling controllers for mobile and embedded devices.

Importing the package registers the Gymnasium environment ``adascale_rl/AdaScale-v0`` (lazily: the
environment module loads only when ``gymnasium.make`` is called); ``gymnasium.make_vec`` of that id
gives the batched :class:`~adascale_rl.envs.vector.AdaScaleVectorEnv` unless another vectorization mode
is asked for.
"""

__version__ = "0.1.0"

ENV_ID = "adascale_rl/AdaScale-v0"


def _register_envs() -> None:
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="adascale_rl.envs.adascale_env:AdaScaleEnv",
                           vector_entry_point="adascale_rl.envs.vector:AdaScaleVectorEnv")


_register_envs()
