"""manager.dict_set_child: a child process setting keys in a Manager dict (default start
method).

The main process starts a Manager and makes a dict proxy; a child sets d[i] = i for 20,000
keys (5,000 with --quick). Timed in the main process from starting the child until it is
joined (the Manager is started before); the dict's length is checked. Value: ops/s.
"""

import multiprocessing as mp

from benchlib import emit, now, parse_args

COUNTS = {
    # figure: (full, quick)
    "manager.dict_set_child": (20_000, 5_000),
}


def setter(d, n):
    for i in range(n):
        d[i] = i


def main():
    args = parse_args(COUNTS, __doc__)
    full, quick = COUNTS[args.figure]
    n = quick if args.quick else full
    with mp.Manager() as manager:
        d = manager.dict()
        t0 = now()
        p = mp.Process(target=setter, args=(d, n))
        p.start()
        p.join()
        elapsed = now() - t0
        if p.exitcode != 0:
            raise SystemExit(f"child exited with {p.exitcode}")
        if len(d) != n:
            raise SystemExit(f"dict has {len(d)} keys, expected {n}")
    emit(n / elapsed, "ops/s")


if __name__ == "__main__":
    main()
