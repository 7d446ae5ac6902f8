"""``python -m se_dualstack ...``: the same as the ``se-dualstack`` console script."""

import sys

from se_dualstack.cli import main

sys.exit(main())
