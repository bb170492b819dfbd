//! Connects to an echo server (ours, or a Python `multiprocessing.connection.Listener` that
//! echoes), sends each MSG as one bytes message, and prints each echo on its own line.
//!
//! ```text
//! cargo run -p multiproc --example echo_client -- --address 127.0.0.1:6000 --authkey secret hello world
//! ```
//!
//! `--strict` refuses the legacy HMAC-MD5 handshake of Python 3.11 and older.

use std::process::ExitCode;
use std::time::Duration;

use multiproc::connection::{Address, Client};

fn main() -> ExitCode {
    multiproc::init();
    let mut args = std::env::args().skip(1);
    let (mut address, mut authkey, mut strict, mut messages) =
        (None::<Address>, None::<String>, false, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--address" => match args.next().map(|a| a.parse()) {
                Some(Ok(a)) => address = Some(a),
                Some(Err(e)) => return usage(&e.to_string()),
                None => return usage("--address needs a value"),
            },
            "--authkey" => match args.next() {
                Some(k) => authkey = Some(k),
                None => return usage("--authkey needs a value"),
            },
            "--strict" => strict = true,
            _ => messages.push(arg),
        }
    }
    let Some(address) = address else {
        return usage("--address HOST:PORT|PATH is required");
    };
    let mut client = Client::new(address).strict(strict);
    if let Some(key) = &authkey {
        client = client.authkey(key);
    }
    let conn = match client.connect_timeout(Duration::from_secs(30)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("echo_client: {e}");
            return ExitCode::FAILURE;
        }
    };
    for msg in &messages {
        let echo = conn
            .send_bytes(msg.as_bytes())
            .and_then(|()| conn.recv_bytes_timeout(Duration::from_secs(30)));
        match echo {
            Ok(echo) => println!("{}", String::from_utf8_lossy(&echo)),
            Err(e) => {
                eprintln!("echo_client: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("echo_client: {problem}");
    eprintln!("usage: echo_client --address HOST:PORT|PATH [--authkey KEY] [--strict] MSG...");
    ExitCode::from(2)
}
