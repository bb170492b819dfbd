"""start_join.{forkserver,spawn,fork}: ms per process for a trivial target, started and
joined one after the other with the given start method.

Timed: N x (Process(target=noop).start(); join()), after a warm-up that also starts the
fork server. Value: elapsed / N in milliseconds.

start_join.async_many: N forkserver children, each waiting on one Event, are awaited by one
asyncio loop (a reader on each process's sentinel). Timed: from Event.set() until every
sentinel has fired and every child is joined. Value: elapsed / N in microseconds.
"""

import multiprocessing as mp

from benchlib import emit, now, parse_args

COUNTS = {
    # figure: (full, quick)
    "start_join.forkserver": (400, 100),
    "start_join.spawn": (60, 15),
    "start_join.fork": (1000, 200),
    "start_join.async_many": (200, 50),
}


def noop():
    pass


def wait_release(go):
    go.wait(30)


async def await_sentinels(procs, go):
    import asyncio

    loop = asyncio.get_running_loop()
    futures = []
    for p in procs:
        fut = loop.create_future()

        def fired(fd=p.sentinel, fut=fut):
            loop.remove_reader(fd)
            fut.set_result(None)

        loop.add_reader(p.sentinel, fired)
        futures.append(fut)
    t0 = now()
    go.set()
    await asyncio.gather(*futures)
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"child exited with {p.exitcode}")
    return now() - t0


def async_many(n):
    # asyncio is imported here, not at the top: every forkserver and spawn child imports this
    # script again, and asyncio's import would be timed in the other figures' children.
    import asyncio

    ctx = mp.get_context("forkserver")
    go = ctx.Event()
    procs = [ctx.Process(target=wait_release, args=(go,)) for _ in range(n)]
    for p in procs:
        p.start()
    elapsed = asyncio.run(await_sentinels(procs, go))
    emit(elapsed * 1e6 / n, "us")


def main():
    args = parse_args(COUNTS, __doc__)
    method = args.figure.split(".", 1)[1]
    full, quick = COUNTS[args.figure]
    n = quick if args.quick else full
    if args.figure == "start_join.async_many":
        async_many(n)
        return
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
