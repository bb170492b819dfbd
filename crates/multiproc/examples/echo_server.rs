//! Serves clients on a Unix path, an abstract name (`@name`) or a TCP address, and echoes every
//! bytes message back until the client closes. It speaks CPython's framing and authkey
//! handshake, so Python's `multiprocessing.connection.Client` can use it:
//!
//! ```text
//! cargo run -p multiproc --example echo_server -- --address 127.0.0.1:6000 --authkey secret
//! python3 -c "from multiprocessing.connection import Client
//! c = Client(('127.0.0.1', 6000), authkey=b'secret'); c.send_bytes(b'hi'); print(c.recv_bytes())"
//! ```
//!
//! Clients are served at the same time, each on its own thread, which also runs the client's
//! handshake: a client that connects and says nothing holds up nobody, and is dropped after
//! the handshake timeout.
//!
//! Options: `--strict` refuses the legacy HMAC-MD5 handshake (Python 3.11 and older);
//! `--handshake-timeout SECONDS` bounds each handshake (default 10); `--clients N` stops
//! accepting after N clients and exits once they are done. It prints `listening on ADDRESS`
//! once it is ready, and a line per client when that client is done.

use std::io::Write;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use multiproc::connection::{Address, Error, Listener, Unauthenticated};

struct Options {
    address: Address,
    authkey: Option<String>,
    strict: bool,
    handshake_timeout: Duration,
    clients: Option<u64>,
}

fn parse() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut opts = Options {
        address: Address::Tcp(([127, 0, 0, 1], 0).into()),
        authkey: None,
        strict: false,
        handshake_timeout: Duration::from_secs(10),
        clients: None,
    };
    let mut address = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--address" => {
                address = Some(value("--address")?.parse().map_err(|e| format!("{e}"))?);
            }
            "--authkey" => opts.authkey = Some(value("--authkey")?),
            "--strict" => opts.strict = true,
            "--handshake-timeout" => {
                let secs: f64 = value("--handshake-timeout")?
                    .parse()
                    .map_err(|e| format!("--handshake-timeout: {e}"))?;
                opts.handshake_timeout = Duration::try_from_secs_f64(secs)
                    .map_err(|e| format!("--handshake-timeout: {e}"))?;
            }
            "--clients" => {
                opts.clients = Some(
                    value("--clients")?
                        .parse()
                        .map_err(|e| format!("--clients: {e}"))?,
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    opts.address = address.ok_or("--address HOST:PORT|PATH is required")?;
    Ok(opts)
}

/// Authenticates client `n` and echoes its messages until it closes; prints how it went.
fn serve(n: u64, pending: Unauthenticated) {
    let conn = match pending.authenticate() {
        Ok(c) => c,
        Err(e) => {
            println!("client {n}: {e}");
            return;
        }
    };
    let mut echoed = 0u64;
    let outcome = loop {
        match conn.recv_bytes() {
            Ok(msg) => match conn.send_bytes(&msg) {
                Ok(()) => echoed += 1,
                Err(e) => break Err(e),
            },
            Err(Error::Disconnected) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    match outcome {
        Ok(()) => println!("client {n}: echoed {echoed} messages"),
        Err(e) => println!("client {n}: {e} after {echoed} messages"),
    }
}

fn main() -> ExitCode {
    multiproc::init();
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("echo_server: {e}");
            eprintln!(
                "usage: echo_server --address HOST:PORT|PATH [--authkey KEY] [--strict] \
                 [--handshake-timeout SECONDS] [--clients N]"
            );
            return ExitCode::from(2);
        }
    };
    let mut builder = Listener::builder(opts.address)
        .strict(opts.strict)
        .handshake_timeout(opts.handshake_timeout);
    if let Some(key) = &opts.authkey {
        builder = builder.authkey(key);
    }
    let listener = match builder.bind() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", listener.address());
    let _ = std::io::stdout().flush();
    let mut accepted = 0u64;
    let mut serving = Vec::new();
    while opts.clients.is_none_or(|n| accepted < n) {
        match listener.accept_unauthenticated() {
            Ok(pending) => {
                accepted += 1;
                let n = accepted;
                serving.push(thread::spawn(move || serve(n, pending)));
            }
            Err(e) => {
                // Out of descriptors, say: let some clients finish first.
                eprintln!("echo_server: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
        // Forget the threads that are done.
        serving.retain(|t| !t.is_finished());
    }
    for t in serving {
        let _ = t.join();
    }
    ExitCode::SUCCESS
}
