"""Run the ganforge CLI as ``python -m ganforge``."""

import sys

from ganforge.cli import main

if __name__ == "__main__":
    sys.exit(main())
