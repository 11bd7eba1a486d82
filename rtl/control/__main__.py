"""``python -m ganforge.rtl.control [PATH]``: rewrite the instruction tables of PATH
(``docs/control.md`` by default) from :mod:`.isa`."""

import sys

from .isa import write_docs

if __name__ == "__main__":
    write_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/control.md")
