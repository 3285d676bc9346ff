"""``python -m ingest`` is ``city-ingest``."""

import sys

from ingest.cli import main

sys.exit(main())
