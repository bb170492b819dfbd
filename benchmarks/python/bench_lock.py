"""lock.uncontended and lock.contended_incr: multiprocessing.Lock (default start method).

lock.uncontended      one process acquires and releases a Lock 5,000,000 times (1,000,000
                      with --quick). Value: acquire/release pairs per second.
lock.contended_incr   2 processes each add 1 to a shared Value('q') 500,000 times (100,000
                      with --quick), each increment under the Value's Lock. Timed in the
                      main process from starting both until both are joined; the final
                      value is checked. Value: total increments per second.
"""

import multiprocessing as mp

from benchlib import emit, now, parse_args

COUNTS = {
    # figure: (full, quick)
    "lock.uncontended": (5_000_000, 1_000_000),
    "lock.contended_incr": (500_000, 100_000),
}

WORKERS = 2


def uncontended(n):
    lock = mp.Lock()
    acquire = lock.acquire
    release = lock.release
    t0 = now()
    for _ in range(n):
        acquire()
        release()
    return n / (now() - t0), "pairs/s"


def increment(value, n):
    lock = value.get_lock()
    for _ in range(n):
        with lock:
            value.value += 1


def contended_incr(n):
    value = mp.Value("q", 0)
    t0 = now()
    procs = [mp.Process(target=increment, args=(value, n)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = now() - t0
    if value.value != WORKERS * n:
        raise SystemExit(f"counter is {value.value}, expected {WORKERS * n}")
    return WORKERS * n / elapsed, "incr/s"


def main():
    args = parse_args(COUNTS, __doc__)
    full, quick = COUNTS[args.figure]
    n = quick if args.quick else full
    if args.figure == "lock.uncontended":
        emit(*uncontended(n))
    else:
        emit(*contended_incr(n))


if __name__ == "__main__":
    main()
