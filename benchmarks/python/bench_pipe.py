"""pipe.rtt_small and pipe.1mib: two processes over a multiprocessing.Pipe (default start
method).

pipe.rtt_small  the main process sends a small int with send() and waits for the child to
                send it back with send(); 20,000 round trips (5,000 with --quick), after
                100 unmeasured ones. Value: microseconds per round trip.
pipe.1mib       the main process sends 1 MiB messages with send_bytes() (500, or 100 with
                --quick) to a child that recv_bytes() them and answers with the byte count
                at the end. Timed from the first send to that answer (the child is started
                and has answered a ready message before). Value: MB/s (10^6 bytes/s).
"""

import multiprocessing as mp

from benchlib import MB, MIB, emit, now, parse_args

COUNTS = {
    # figure: (full, quick)
    "pipe.rtt_small": (20_000, 5_000),
    "pipe.1mib": (500, 100),
}

WARMUP = 100


def echo(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send(msg)


def sink(conn, n):
    conn.send("ready")
    total = 0
    for _ in range(n):
        total += len(conn.recv_bytes())
    conn.send(total)


def rtt_small(n):
    ours, theirs = mp.Pipe()
    p = mp.Process(target=echo, args=(theirs,))
    p.start()
    for i in range(WARMUP):
        ours.send(i)
        ours.recv()
    t0 = now()
    for i in range(n):
        ours.send(i)
        if ours.recv() != i:
            raise SystemExit("echo returned a different message")
    elapsed = now() - t0
    ours.send(None)
    p.join()
    return elapsed * 1e6 / n, "us"


def one_mib(n):
    ours, theirs = mp.Pipe()
    p = mp.Process(target=sink, args=(theirs, n))
    p.start()
    if ours.recv() != "ready":
        raise SystemExit("child did not start")
    payload = bytes(MIB)
    t0 = now()
    for _ in range(n):
        ours.send_bytes(payload)
    total = ours.recv()
    elapsed = now() - t0
    p.join()
    if total != n * MIB:
        raise SystemExit(f"child received {total} bytes, expected {n * MIB}")
    return total / MB / elapsed, "MB/s"


def main():
    args = parse_args(COUNTS, __doc__)
    full, quick = COUNTS[args.figure]
    n = quick if args.quick else full
    if args.figure == "pipe.rtt_small":
        emit(*rtt_small(n))
    else:
        emit(*one_mib(n))


if __name__ == "__main__":
    main()
