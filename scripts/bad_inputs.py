"""Bad input, tried as a careless or hostile user would (``make bad-inputs``).

Runs every case of :data:`ganforge.bench.bad_inputs.CASES` (``python -m ganforge ...`` in a
subprocess, in a scratch folder, with a time limit) and prints how many were refused in
one line, and every hang, traceback, silent run or unclear message. Exit status 1 if any
case was not refused cleanly. ``--json FILE`` writes every result.
"""

import argparse
import json
import sys

from ganforge.bench.bad_inputs import CASES, run_cases, summary_lines
from ganforge.cli import positive_int
from ganforge.errors import UserError
from ganforge.outputs import writable_file


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bad_inputs.py", description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=positive_int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--timeout", type=positive_int, default=60,
                    help="seconds before a case counts as a hang (default 60)")
    ap.add_argument("--json", metavar="FILE", default=None, help="write every result")
    args = ap.parse_args(argv)
    if args.json:
        try:
            writable_file(args.json)
        except UserError as exc:
            ap.error(str(exc))

    def progress(done, total, result):
        print(f"\r{done}/{total} {result['case'][:60]:60s}", end="", file=sys.stderr, flush=True)

    results = run_cases(CASES, jobs=args.jobs, timeout=args.timeout, progress=progress)
    print(file=sys.stderr)
    print("\n".join(summary_lines(results)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all(r["outcome"] == "refused" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
