"""queue.small and queue.1mib: one producer process feeding one consumer process through a
multiprocessing.Queue (default start method).

queue.small  200,000 small ints (50,000 with --quick); value in msg/s.
queue.1mib   1 MiB bytes payloads (400, or 100 with --quick); value in MB/s (10^6 bytes/s).

Timed, in the main process: from starting the consumer and the producer until both are
joined. The producer puts N items then None; the consumer gets until None and reports how
many items (and bytes) it saw, which the main process checks.
"""

import multiprocessing as mp

from benchlib import MB, MIB, emit, now, parse_args

COUNTS = {
    # figure: (full, quick)
    "queue.small": (200_000, 50_000),
    "queue.1mib": (400, 100),
}


def produce(q, figure, n):
    if figure == "queue.small":
        for i in range(n):
            q.put(i)
    else:
        payload = bytes(MIB)
        for _ in range(n):
            q.put(payload)
    q.put(None)


def consume(q, done):
    count = 0
    nbytes = 0
    while True:
        item = q.get()
        if item is None:
            break
        count += 1
        if isinstance(item, bytes):
            nbytes += len(item)
    done.send((count, nbytes))


def main():
    args = parse_args(COUNTS, __doc__)
    full, quick = COUNTS[args.figure]
    n = quick if args.quick else full
    q = mp.Queue()
    done_r, done_w = mp.Pipe(duplex=False)
    t0 = now()
    consumer = mp.Process(target=consume, args=(q, done_w))
    producer = mp.Process(target=produce, args=(q, args.figure, n))
    consumer.start()
    producer.start()
    count, nbytes = done_r.recv()
    producer.join()
    consumer.join()
    elapsed = now() - t0
    if count != n:
        raise SystemExit(f"consumer saw {count} items, expected {n}")
    if args.figure == "queue.small":
        emit(count / elapsed, "msg/s")
    else:
        emit(nbytes / MB / elapsed, "MB/s")


if __name__ == "__main__":
    main()
