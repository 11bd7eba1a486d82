"""Verilator lint of every top ``ganforge verilog`` writes (``make lint``).

Prints, per top, the design's warnings by category and how many ``lint/waivers.txt``
waived (what Amaranth's Verilog backend causes); ``--json FILE`` writes every count.
Exit status 1 if the design has any warning left, 0 otherwise.
"""

import argparse
import json
import sys

from ganforge.config import get_preset
from ganforge.errors import RunError, UserError
from ganforge.lint import run_lint, table_lines
from ganforge.outputs import writable_file


def main(argv=None):
    ap = argparse.ArgumentParser(prog="lint.py", description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="tiny", help="preset (default tiny)")
    ap.add_argument("--top", action="append", default=None, help="a top (default: all)")
    ap.add_argument("--json", metavar="FILE", default="build/lint/lint.json")
    args = ap.parse_args(argv)
    try:
        config = get_preset(args.config)
        writable_file(args.json)
        results = run_lint(config, args.top,
                           progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    except (UserError, RunError) as exc:
        print(f"lint.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"Verilator -Wall on preset {args.config} (waivers: lint/waivers.txt)")
    print("\n".join(table_lines(results)))
    with open(args.json, "w") as f:
        json.dump({"config": args.config, "tops": results}, f, indent=1)
    print(f"wrote {args.json}")
    return 1 if any(r["design"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
