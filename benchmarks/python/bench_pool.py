"""pool.map_default, pool.map_chunk1 and pool.apply_async: multiprocessing.Pool with its
default number of workers (os.cpu_count()) and the default start method.

pool.map_default  pool.map(square, range(200_000)) with the default chunksize.
pool.map_chunk1   pool.map(square, range(N), chunksize=1), N = 100,000 (20,000 with --quick).
pool.apply_async  20,000 x pool.apply_async(square, (i,)), then .get() of each in order.

The pool is created and warmed up (one small map) before the clock starts; results are
checked. Value: tasks per second.
"""

import multiprocessing as mp

from benchlib import emit, now, parse_args

COUNTS = {
    # figure: (full, quick)
    "pool.map_default": (200_000, 200_000),
    "pool.map_chunk1": (100_000, 20_000),
    "pool.apply_async": (20_000, 20_000),
}


def square(x):
    return x * x


def run(pool, figure, n):
    if figure == "pool.map_default":
        return pool.map(square, range(n))
    if figure == "pool.map_chunk1":
        return pool.map(square, range(n), chunksize=1)
    pending = [pool.apply_async(square, (i,)) for i in range(n)]
    return [r.get() for r in pending]


def main():
    args = parse_args(COUNTS, __doc__)
    full, quick = COUNTS[args.figure]
    n = quick if args.quick else full
    with mp.Pool() as pool:
        pool.map(square, range(100))
        t0 = now()
        results = run(pool, args.figure, n)
        elapsed = now() - t0
    if results != [i * i for i in range(n)]:
        raise SystemExit("wrong results")
    emit(n / elapsed, "tasks/s")


if __name__ == "__main__":
    main()
