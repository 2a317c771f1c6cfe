"""adascale-rl: context-aware DNN scaling controllers for mobile and embedded devices."""

__version__ = "0.1.0"
