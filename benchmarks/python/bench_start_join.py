"""start_join.{forkserver,spawn,fork}: ms per process for a trivial target, started and
joined one after the other with the given start method.

Timed: N x (Process(target=noop).start(); join()), after a warm-up that also starts the
fork server. Value: elapsed / N in milliseconds.
"""

import multiprocessing as mp

from benchlib import emit, now, parse_args

COUNTS = {
    # figure: (full, quick)
    "start_join.forkserver": (400, 100),
    "start_join.spawn": (60, 15),
    "start_join.fork": (1000, 200),
}


def noop():
    pass


def main():
    args = parse_args(COUNTS, __doc__)
    method = args.figure.split(".", 1)[1]
    full, quick = COUNTS[args.figure]
    n = quick if args.quick else full
    ctx = mp.get_context(method)
    for _ in range(3):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
    t0 = now()
    for _ in range(n):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"child exited with {p.exitcode}")
    emit((now() - t0) * 1e3 / n, "ms")


if __name__ == "__main__":
    main()
