"""``python -m finetune_bounds ...`` is the same as the ``finetune-bounds`` command."""

import sys

from .cli import main

sys.exit(main())
