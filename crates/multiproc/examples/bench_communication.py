"""Python's multiprocessing on the same four measurements as bench_communication.rs.

    python3 crates/multiproc/examples/bench_communication.py [RUNS]

Prints one JSON line per figure (the median of RUNS runs, default 3), named `python.<figure>`.
"""
import multiprocessing as mp, os, sys, time, statistics

SMALL, BIG, BIGN, RTTS = 200_000, 1 << 20, 500, 20_000

def small_producer(q, go):
    go.recv()
    for i in range(SMALL):
        q.put(i)

def queue_small():
    q = mp.Queue(); go, goc = mp.Pipe()
    p = mp.Process(target=small_producer, args=(q, goc)); p.start()
    t = time.perf_counter(); go.send(1)
    s = 0
    for _ in range(SMALL):
        s += q.get()
    dt = time.perf_counter() - t
    p.join()
    return SMALL / dt

def big_producer(q, go):
    payload = b"\x07" * BIG
    go.recv()
    for _ in range(BIGN):
        q.put(payload)

def queue_1mib():
    q = mp.Queue(); go, goc = mp.Pipe()
    p = mp.Process(target=big_producer, args=(q, goc)); p.start()
    t = time.perf_counter(); go.send(1)
    total = 0
    for _ in range(BIGN):
        total += len(q.get())
    dt = time.perf_counter() - t
    p.join()
    return total / dt / 1e9

def echo(c, other):
    other.close()
    while True:
        try:
            m = c.recv_bytes()
        except EOFError:
            break
        c.send_bytes(m)

def rtt():
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b, a)); p.start(); b.close()
    a.send_bytes(b"x" * 8); a.recv_bytes()
    t = time.perf_counter()
    for i in range(RTTS):
        a.send_bytes(b"x" * 8); a.recv_bytes()
    dt = time.perf_counter() - t
    a.close(); p.join()
    return dt / RTTS * 1e6

def sink(c, other):
    other.close()
    n = 0
    while True:
        try:
            n += len(c.recv_bytes())
        except EOFError:
            break

def pipe_1mib():
    a, b = mp.Pipe()
    p = mp.Process(target=sink, args=(b, a)); p.start(); b.close()
    payload = b"\x03" * BIG
    t = time.perf_counter()
    for _ in range(BIGN):
        a.send_bytes(payload)
    a.close(); p.join()
    dt = time.perf_counter() - t
    return BIG * BIGN / dt / 1e6

if __name__ == "__main__":
    mp.set_start_method("fork")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for name, f, unit in [("queue.small", queue_small, "msgs/s"), ("queue.1mib", queue_1mib, "GB/s"),
                          ("pipe.rtt_small", rtt, "us"), ("pipe.1mib", pipe_1mib, "MB/s")]:
        r = [f() for _ in range(runs)]
        print(f'{{"name": "python.{name}", "value": {statistics.median(r):.4f}, "unit": "{unit}", "runs": {[round(x, 4) for x in r]}}}', flush=True)
