"""The real PyTorch multi-branch supernet, its compression operators, one-shot training and profiler.

Import the pieces from their modules (``model``, ``operators``, ``train``, ``profile`` …); this package
imports nothing heavy on its own so that ``import adascale_rl.supernet`` stays cheap.
"""
