"""CPython's side of the connection interoperation tests: multiprocessing.connection's own
Client and Listener, against ours.

    connection_peer.py client ADDRESS KEY SIZE...
        Connects with Client(ADDRESS, authkey=KEY), sends one bytes message of each SIZE
        (a pattern a receiver can check), expects each back unchanged, then closes. Prints
        "ok N" after N echoes.

    connection_peer.py server unix|tcp KEY [PATH]
        Listens with Listener(..., authkey=KEY), prints its address ("HOST:PORT" or the path),
        accepts one client, and echoes its bytes messages until it closes; prints "done N"
        after N echoes, or the name of the exception that ended the accept.

An ADDRESS with a slash is a Unix path; otherwise it is HOST:PORT.
"""

import sys
from multiprocessing.connection import Client, Listener


def pattern(size, seed):
    return bytes((seed * 31 + i) % 251 for i in range(size))


def parse_address(text):
    if "/" in text:
        return text
    host, port = text.rsplit(":", 1)
    return (host, int(port))


def client(address, key, sizes):
    with Client(parse_address(address), authkey=key.encode()) as c:
        for seed, size in enumerate(sizes):
            message = pattern(size, seed)
            c.send_bytes(message)
            echo = c.recv_bytes()
            if echo != message:
                sys.exit(f"echo {seed} of {size} bytes came back as {len(echo)} other bytes")
    print(f"ok {len(sizes)}", flush=True)


def server(family, key, path=None):
    address = ("127.0.0.1", 0) if family == "tcp" else path
    with Listener(address, authkey=key.encode()) as listener:
        a = listener.address
        print(f"{a[0]}:{a[1]}" if family == "tcp" else a, flush=True)
        try:
            c = listener.accept()
        except Exception as e:
            print(type(e).__name__, flush=True)
            return
        echoed = 0
        while True:
            try:
                m = c.recv_bytes()
            except EOFError:
                break
            c.send_bytes(m)
            echoed += 1
        print(f"done {echoed}", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "client":
        client(sys.argv[2], sys.argv[3], [int(s) for s in sys.argv[4:]])
    elif mode == "server":
        server(*sys.argv[2:])
    else:
        sys.exit(f"unknown mode {mode}")
