"""``python -m adascale_rl`` runs the CLI."""

import sys

from adascale_rl.cli import main

if __name__ == "__main__":
    sys.exit(main())
