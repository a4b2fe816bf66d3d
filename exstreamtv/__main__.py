"""``python -m exstreamtv``."""

import sys

from exstreamtv.cli import main

sys.exit(main())
