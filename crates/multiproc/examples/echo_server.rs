//! Accepts clients one after another on a Unix path, an abstract name (`@name`) or a TCP
//! address, and echoes every bytes message back until the client closes. It speaks CPython's
//! framing and authkey handshake, so Python's `multiprocessing.connection.Client` can use it:
//!
//! ```text
//! cargo run -p multiproc --example echo_server -- --address 127.0.0.1:6000 --authkey secret
//! python3 -c "from multiprocessing.connection import Client
//! c = Client(('127.0.0.1', 6000), authkey=b'secret'); c.send_bytes(b'hi'); print(c.recv_bytes())"
//! ```
//!
//! Options: `--strict` refuses the legacy HMAC-MD5 handshake (Python 3.11 and older);
//! `--clients N` exits after N clients. It prints `listening on ADDRESS` once it is ready.

use std::io::Write;
use std::process::ExitCode;

use multiproc::connection::{Address, Error, Listener};

struct Options {
    address: Address,
    authkey: Option<String>,
    strict: bool,
    clients: Option<u64>,
}

fn parse() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut address, mut authkey, mut strict, mut clients) = (None, None, false, None);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--address" => {
                address = Some(value("--address")?.parse().map_err(|e| format!("{e}"))?);
            }
            "--authkey" => authkey = Some(value("--authkey")?),
            "--strict" => strict = true,
            "--clients" => {
                clients = Some(
                    value("--clients")?
                        .parse()
                        .map_err(|e| format!("--clients: {e}"))?,
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Options {
        address: address.ok_or("--address HOST:PORT|PATH is required")?,
        authkey,
        strict,
        clients,
    })
}

fn main() -> ExitCode {
    multiproc::init();
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("echo_server: {e}");
            eprintln!(
                "usage: echo_server --address HOST:PORT|PATH [--authkey KEY] [--strict] [--clients N]"
            );
            return ExitCode::from(2);
        }
    };
    let mut builder = Listener::builder(opts.address).strict(opts.strict);
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
    let mut served = 0u64;
    while opts.clients.is_none_or(|n| served < n) {
        served += 1;
        let conn = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                println!("client {served}: {e}");
                continue;
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
            Ok(()) => println!("client {served}: echoed {echoed} messages"),
            Err(e) => println!("client {served}: {e} after {echoed} messages"),
        }
    }
    ExitCode::SUCCESS
}
