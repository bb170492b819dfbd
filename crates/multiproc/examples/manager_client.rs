//! Connects to the manager that `manager_server` serves, takes jobs from its queue and puts
//! the results in its dict (the client half of Python's "Using a remote manager"). A wrong
//! key is refused. See `manager_server` for the commands.
//!
//! It prints `did N jobs` (and, with `--shutdown`, `asked the server to stop` after stopping
//! the server). With a wrong key it prints the error on stderr and exits with status 1.

use std::error::Error as _;
use std::process::ExitCode;

use multiproc::Manager;
use multiproc::connection::Address;
use multiproc::manager::{DictProxy, ManagerError, QueueProxy};

fn parse() -> Result<(Address, String, bool), String> {
    let mut args = std::env::args().skip(1);
    let (mut address, mut authkey, mut shutdown) = (None, None, false);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--address" => address = Some(value("--address")?.parse().map_err(|e| format!("{e}"))?),
            "--authkey" => authkey = Some(value("--authkey")?),
            "--shutdown" => shutdown = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((
        address.ok_or("--address HOST:PORT|PATH is required")?,
        authkey.ok_or("--authkey KEY is required")?,
        shutdown,
    ))
}

fn work(address: Address, authkey: &str, shutdown: bool) -> Result<(), ManagerError> {
    let manager = Manager::connect(address, authkey)?;
    let root = manager.root()?;
    let jobs: QueueProxy<u64> = root.get("jobs")?;
    let results: DictProxy<u64, u64> = root.get("results")?;
    let mut done = 0;
    loop {
        match jobs.try_get() {
            Ok(n) => {
                results.set(n, n * n)?;
                done += 1;
            }
            Err(ManagerError::Empty) => break,
            Err(e) => return Err(e),
        }
    }
    println!("did {done} jobs");
    if shutdown {
        manager.shutdown()?;
        println!("asked the server to stop");
    }
    Ok(())
}

fn main() -> ExitCode {
    multiproc::init();
    let (address, authkey, shutdown) = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("manager_client: {e}");
            eprintln!("usage: manager_client --address HOST:PORT|PATH --authkey KEY [--shutdown]");
            return ExitCode::from(2);
        }
    };
    match work(address, &authkey, shutdown) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("manager_client: {msg}");
            ExitCode::FAILURE
        }
    }
}
