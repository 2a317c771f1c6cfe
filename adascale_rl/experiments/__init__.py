"""Experiment grids: scenarios × trace sets × controllers × training seeds, run as independent,
resumable cells in this process, a local process pool or on Ray, into one tidy result table.

Modules: ``grid`` (the TOML grid file, folds, leave-one-out), ``plan`` (cells and their content keys),
``cells`` (what a worker computes), ``backends`` (inline, process pool, Ray), ``store`` (finished
cells on disk), ``table`` (the result table, scores), ``aggregate`` (IQM + stratified-bootstrap CIs),
``report`` (Markdown + PNG), ``engine`` (running a grid), ``tune`` (Ray Tune hyperparameter search),
``rllib`` (the env registered with RLlib). Nothing here imports ``ray`` until a Ray backend, ``tune``
or ``rllib`` is used.
"""
