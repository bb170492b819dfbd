//! Remote managers: a manager served by one program and used by others that are not its
//! children, over TCP and Unix sockets, with the right key and a wrong one, and a server that
//! restarts on the address of one that was killed. The `manager_server` and `manager_client`
//! examples are the two programs.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{example, run_bounded};
use multiproc::Manager;
use multiproc::connection::Address;
use multiproc::manager::{DictProxy, ManagerError};

const LONG: Duration = Duration::from_secs(30);

/// A running `manager_server`, and the address it printed.
struct Server {
    child: Child,
    address: String,
    rest: mpsc::Receiver<String>,
}

impl Server {
    fn start(address: &str, authkey: &str) -> Server {
        let mut cmd = example("manager_server");
        cmd.args(["--address", address, "--authkey", authkey, "--jobs", "50"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start manager_server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = match rx.recv_timeout(LONG) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                panic!("manager_server said nothing: {e}");
            }
        };
        let address = first
            .strip_prefix("serving on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Server {
            child,
            address,
            rest: rx,
        }
    }

    /// Waits for the server to exit by itself; its remaining output.
    fn wait(mut self) -> (Option<i32>, Vec<String>) {
        let deadline = std::time::Instant::now() + LONG;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let rest: Vec<String> = self.rest.try_iter().collect();
                let rest = if rest.is_empty() {
                    self.rest
                        .recv_timeout(Duration::from_secs(1))
                        .into_iter()
                        .collect()
                } else {
                    rest
                };
                return (status.code(), rest);
            }
            assert!(std::time::Instant::now() < deadline, "server did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `manager_client`; (stdout, stderr, exit code).
fn client(address: &str, authkey: &str, extra: &[&str]) -> (String, String, Option<i32>) {
    let mut cmd: Command = example("manager_client");
    cmd.args(["--address", address, "--authkey", authkey])
        .args(extra);
    let out = run_bounded(cmd, LONG);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

fn right_and_wrong_key(address: &str) {
    let server = Server::start(address, "secret");
    let (out, err, code) = client(&server.address, "not the key", &[]);
    assert_eq!(code, Some(1), "a wrong key is refused: {out}{err}");
    assert!(
        err.contains("wrong authentication key"),
        "the error says why: {err}"
    );
    let (out, err, code) = client(&server.address, "secret", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "did 50 jobs\n");
    let (out, err, code) = client(&server.address, "secret", &["--shutdown"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "did 0 jobs\nasked the server to stop\n");
    let (code, rest) = server.wait();
    assert_eq!(code, Some(0));
    assert_eq!(
        rest,
        ["results: 50"],
        "the clients' results are in the server"
    );
}

#[test]
fn separate_programs_share_state_over_tcp() {
    right_and_wrong_key("127.0.0.1:0");
}

#[test]
fn separate_programs_share_state_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.sock");
    right_and_wrong_key(path.to_str().unwrap());
    assert!(
        !path.exists(),
        "the socket file is removed when the server stops"
    );
}

#[test]
fn a_restarted_server_rebinds_the_address_of_a_killed_one() {
    // TCP: the port of a killed server is free again at once.
    let first = Server::start("127.0.0.1:0", "k");
    let address = first.address.clone();
    first.kill();
    let second = Server::start(&address, "k");
    assert_eq!(second.address, address);
    let (out, err, code) = client(&address, "k", &["--shutdown"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("did 50 jobs"));
    second.wait();

    // A Unix socket: the killed server leaves its file behind, and the next one removes it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sock");
    let path = path.to_str().unwrap();
    let first = Server::start(path, "k");
    first.kill();
    assert!(
        std::path::Path::new(path).exists(),
        "a killed server leaves its file"
    );
    let second = Server::start(path, "k");
    let (_, err, code) = client(path, "k", &["--shutdown"]);
    assert_eq!(code, Some(0), "{err}");
    second.wait();
}

fn add_from_elsewhere((address, authkey): (Address, Vec<u8>)) -> Result<u64, String> {
    let m = Manager::connect(address, authkey).map_err(|e| e.to_string())?;
    let d: DictProxy<String, u64> = m.root().unwrap().get("totals").unwrap();
    d.set("child".into(), 2).unwrap();
    Ok(d.len().unwrap() as u64)
}

#[multiproc::test]
fn serve_in_process_and_connect_by_address() {
    let m = Manager::serve("127.0.0.1:0".parse::<Address>().unwrap(), b"key").unwrap();
    let d = m.dict::<String, u64>().unwrap();
    d.set("parent".into(), 1).unwrap();
    m.root().unwrap().set("totals", &d).unwrap();
    let address = m.address().clone();
    // A process that learns only the address and the key.
    let child = multiproc::spawn(add_from_elsewhere, (address.clone(), b"key".to_vec()));
    assert!(child.join_timeout(LONG).is_some());
    assert_eq!(child.join().unwrap(), Ok(2));
    assert_eq!(d.get("child").unwrap(), Some(2));
    // A wrong key gets nothing.
    let err = Manager::connect(address.clone(), b"nope").unwrap_err();
    assert!(matches!(err, ManagerError::Authentication { .. }), "{err}");
    // Dropping the serving manager stops the server.
    drop(m);
    let err = Manager::connect(address, b"key").unwrap_err();
    assert!(err.is_disconnect(), "{err}");
    assert!(d.len().unwrap_err().is_disconnect());
}
