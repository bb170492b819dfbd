"""event.pingpong: two processes alternating on two multiprocessing.Events (default start
method).

The main process sets `ping` and waits for `pong`; the child waits for `ping`, clears it,
and sets `pong`; the main process clears `pong`. That is one round trip; 10,000 of them
(2,000 with --quick), after 50 unmeasured ones. Value: round trips per second.
"""

import multiprocessing as mp

from benchlib import emit, now, parse_args

COUNTS = {
    # figure: (full, quick)
    "event.pingpong": (10_000, 2_000),
}

WARMUP = 50
TIMEOUT = 10.0


def responder(ping, pong, n):
    for _ in range(n):
        if not ping.wait(TIMEOUT):
            raise SystemExit("ping never came")
        ping.clear()
        pong.set()


def round_trip(ping, pong):
    ping.set()
    if not pong.wait(TIMEOUT):
        raise SystemExit("pong never came")
    pong.clear()


def main():
    args = parse_args(COUNTS, __doc__)
    full, quick = COUNTS[args.figure]
    n = quick if args.quick else full
    ping, pong = mp.Event(), mp.Event()
    p = mp.Process(target=responder, args=(ping, pong, WARMUP + n))
    p.start()
    for _ in range(WARMUP):
        round_trip(ping, pong)
    t0 = now()
    for _ in range(n):
        round_trip(ping, pong)
    elapsed = now() - t0
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"responder exited with {p.exitcode}")
    emit(n / elapsed, "round trips/s")


if __name__ == "__main__":
    main()
