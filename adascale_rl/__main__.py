"""``python -m adascale_rl`` runs the CLI."""

import sys

from adascale_rl.cli import main

sys.exit(main())
