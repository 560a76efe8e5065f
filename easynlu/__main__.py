"""``python -m easynlu``: the same command line as the ``easynlu`` script."""

import sys

from easynlu.cli import main

if __name__ == "__main__":
    sys.exit(main())
