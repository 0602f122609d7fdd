"""``python -m dnagpt.cli``: the same as the ``dnagpt`` command."""

import sys

from . import main

sys.exit(main())
