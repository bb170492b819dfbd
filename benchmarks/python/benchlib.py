"""Shared helpers for the Python side of the multiproc benchmark harness.

Every script in this directory is run as

    python3 bench_<group>.py FIGURE [--quick] [script options]

and prints exactly one JSON line on stdout, {"value": ..., "unit": ...}. Anything else a
script has to say goes to stderr. The harness runs each script once per round, so a script
measures inside itself and leaves out the interpreter's start-up.

The `bench_` prefix is there so that no script shadows a standard module: a `queue.py` in
this directory would replace the `queue` module that multiprocessing itself imports.
"""

import argparse
import json
import sys
import time

now = time.perf_counter


def parse_args(figures, doc, extra=None):
    """Parses FIGURE and --quick (plus options added by `extra(parser)`)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("figure", choices=sorted(figures))
    parser.add_argument(
        "--quick", action="store_true", help="smaller counts, for a run under a minute"
    )
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def emit(value, unit):
    """Prints the result line: the only line a script writes on stdout."""
    sys.stdout.write(json.dumps({"value": value, "unit": unit}) + "\n")
    sys.stdout.flush()


def per_second(count, seconds):
    return count / seconds


MB = 1e6
MIB = 1 << 20
