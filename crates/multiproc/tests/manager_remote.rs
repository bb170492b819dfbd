//! Remote managers: a manager served by one program and used by others that are not its
//! children, over TCP and Unix sockets, with the right key and a wrong one, and a server that
//! restarts on the address of one that was killed. The `manager_server` and `manager_client`
//! examples are the two programs. Over TCP, the same guarantees as on one machine: a stopped
//! server is an error within the bound, a killed client's get swallows no item, a lock is handed
//! over by a client that exits and taken over from one that dies.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{example, run_bounded};
use multiproc::connection::Address;
use multiproc::manager::{DictProxy, EventProxy, LockError, LockProxy, ManagerError, QueueProxy};
use multiproc::{Connection, Handle, Manager};

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

// ----- the same guarantees over TCP -----

const KEY: &[u8] = b"remote key";

/// A server process serving over TCP: a queue `q`, a lock `lock` and an event `event` in its
/// root namespace. Sends its address, then serves until it is killed.
fn serve_tcp(report: Connection) {
    let m = Manager::serve("127.0.0.1:0".parse::<Address>().unwrap(), KEY).unwrap();
    let root = m.root().unwrap();
    root.set("q", &m.queue::<u32>().unwrap()).unwrap();
    root.set("lock", &m.lock().unwrap()).unwrap();
    root.set("event", &m.event().unwrap()).unwrap();
    report.send(m.address()).unwrap();
    let _ = m.serve_forever();
}

/// A server process over TCP, killed when dropped.
struct TcpServer {
    handle: Handle<()>,
    address: Address,
}

impl TcpServer {
    fn start() -> TcpServer {
        let (here, there) = multiproc::pipe(true);
        let handle = multiproc::spawn(serve_tcp, there);
        let address = here.recv_timeout(LONG).expect("the server's address");
        TcpServer { handle, address }
    }

    fn connect(&self, timeout: Duration) -> Manager {
        Manager::builder()
            .address(self.address.clone())
            .authkey(KEY)
            .timeout(timeout)
            .connect()
            .unwrap()
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.handle.pid().to_string()])
            .status();
        let _ = self.handle.kill();
        self.handle.join_timeout(LONG);
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_forever_remote((address, ready): (Address, bool)) -> String {
    let m = Manager::builder()
        .address(address)
        .authkey(KEY)
        .timeout(Duration::from_secs(2))
        .connect()
        .unwrap();
    let root = m.root().unwrap();
    let q: QueueProxy<u32> = root.get("q").unwrap();
    if ready {
        let e: EventProxy = root.get("event").unwrap();
        e.set().unwrap();
    }
    q.get().unwrap_err().to_string()
}

#[multiproc::test]
fn a_stopped_tcp_server_is_an_error_within_the_bound() {
    let server = TcpServer::start();
    let m = server.connect(Duration::from_secs(2));
    let root = m.root().unwrap();
    let q: QueueProxy<u32> = root.get("q").unwrap();
    let lock: LockProxy = root.get("lock").unwrap();
    // A client in another process, waiting on the server when it stops.
    let waiter = multiproc::spawn(wait_forever_remote, (server.address.clone(), false));
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.handle.pid();
    signal(pid, "STOP");
    let t0 = Instant::now();
    // Each call, one after the other, within its bound: the first on its open connection, the
    // others on new ones, whose handshake the stopped server never answers.
    let errors = [
        q.get().unwrap_err(),
        q.put(1).unwrap_err(),
        ManagerError::from(lock.acquire().unwrap_err()),
        m.ping().unwrap_err(),
        m.dict::<u8, u8>().unwrap_err(),
    ];
    let took = t0.elapsed();
    assert!(
        waiter.join_timeout(LONG).is_some(),
        "the waiting client gave up"
    );
    signal(pid, "CONT");
    for e in &errors {
        assert!(e.is_disconnect(), "{e}");
    }
    assert!(
        took >= Duration::from_secs(5 * 2) - Duration::from_millis(100),
        "{took:?}"
    );
    assert!(took < Duration::from_secs(5 * 2 + 10), "{took:?}");
    assert!(!waiter.join().unwrap().is_empty());
    // Continued, it answers again.
    m.ping().unwrap();
    q.put(5).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), 5);
}

#[multiproc::test]
fn a_client_killed_in_a_get_over_tcp_swallows_no_item() {
    let server = TcpServer::start();
    let m = server.connect(Duration::from_secs(10));
    let root = m.root().unwrap();
    let q: QueueProxy<u32> = root.get("q").unwrap();
    let event: EventProxy = root.get("event").unwrap();
    for round in 0..20u32 {
        event.clear().unwrap();
        let child = multiproc::spawn(wait_forever_remote, (server.address.clone(), true));
        assert!(event.wait_timeout(LONG).unwrap());
        std::thread::sleep(Duration::from_millis(u64::from(round % 4) * 5));
        child.kill().unwrap();
        q.put(round).unwrap();
        assert!(child.join_timeout(LONG).is_some());
        assert_eq!(q.get_timeout(LONG).unwrap(), round, "round {round}");
    }
}

fn lock_remote((address, die): (Address, bool)) {
    let m = Manager::builder()
        .address(address)
        .authkey(KEY)
        .connect()
        .unwrap();
    let root = m.root().unwrap();
    let lock: LockProxy = root.get("lock").unwrap();
    let event: EventProxy = root.get("event").unwrap();
    std::mem::forget(lock.acquire().unwrap());
    event.set().unwrap();
    if die {
        std::thread::sleep(LONG);
    }
}

#[multiproc::test]
fn locks_over_tcp_are_handed_over_by_an_exit_and_taken_over_after_a_death() {
    let server = TcpServer::start();
    let m = server.connect(Duration::from_secs(10));
    let root = m.root().unwrap();
    let lock: LockProxy = root.get("lock").unwrap();
    let event: EventProxy = root.get("event").unwrap();
    // A client that exits holding it hands it over.
    let child = multiproc::spawn(lock_remote, (server.address.clone(), false));
    assert!(child.join_timeout(LONG).is_some());
    child.join().unwrap();
    assert!(lock.locked().unwrap());
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(300)),
        Err(LockError::Manager(ManagerError::Timeout))
    ));
    lock.release().unwrap();
    // A client killed holding it leaves it to the next acquirer.
    event.clear().unwrap();
    let child = multiproc::spawn(lock_remote, (server.address.clone(), true));
    let pid = child.pid();
    assert!(event.wait_timeout(LONG).unwrap());
    child.kill().unwrap();
    assert!(child.join_timeout(LONG).is_some());
    match lock.acquire_timeout(LONG) {
        Err(LockError::HolderDied(d)) => {
            assert_eq!(d.holder(), pid);
            d.into_inner().release().unwrap();
        }
        other => panic!("expected the holder's death, got {other:?}"),
    }
}
