"""Best-model selection on the same validation episodes at every evaluation.

SB3's ``EvalCallback`` plays the next ``n_eval_episodes`` episodes of its env at each evaluation; with
random segments that means every checkpoint is scored on *different* segments and simulator seeds, and the
"best" model is largely the one that drew easy ones (measured: seeds of one recipe then scored 0.78–0.97
of the oracle on a held-out board). Reseeding the validation env before each evaluation makes every
checkpoint play identical segments with identical request streams (common random numbers), so the
comparison between checkpoints is about the policies.
"""

from __future__ import annotations

from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback


class FixedEpisodesEvalCallback(MaskableEvalCallback):
    """``MaskableEvalCallback`` whose env is reseeded with ``episode_seed`` before every evaluation."""

    def __init__(self, *args, episode_seed: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.episode_seed = episode_seed

    def _on_step(self) -> bool:
        if self.eval_freq > 0 and self.n_calls % self.eval_freq == 0:
            self.eval_env.seed(self.episode_seed)
        return super()._on_step()
