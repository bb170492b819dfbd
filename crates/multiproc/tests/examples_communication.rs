//! The Communication examples, run as built programs, and their interoperation with the
//! machine's real `python3` (`multiprocessing.connection.Client` and `Listener`).
//!
//! Examples are run from `target/<profile>/examples/`, where `cargo test` builds them next to
//! the test binaries (`common::example_path` builds one that is missing). Every run is bounded:
//! a program still running after its time limit is killed and the test fails.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn queue_example_calls_a_method_in_the_child() {
    let (out, err, code) = common::run_example("queue", &[]);
    assert_eq!(code, Some(0), "stderr:\n{err}");
    assert_eq!(out, "Doing something fancy in Process-1 for Fancy Dan!\n");
}

#[test]
fn producer_consumer_example_gives_ten_results() {
    let (out, err, code) = common::run_example("producer_consumer", &[]);
    assert_eq!(code, Some(0), "stderr:\n{err}");
    let first = out.lines().next().unwrap_or_default();
    let consumers: usize = first
        .strip_prefix("Creating ")
        .and_then(|s| s.strip_suffix(" consumers"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let results: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Result: "))
        .collect();
    let expected: BTreeSet<String> = (0..10).map(|i| format!("{i} * {i} = {}", i * i)).collect();
    assert_eq!(
        results,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    for i in 0..10 {
        let task = format!(": {i} * {i}");
        assert_eq!(
            out.lines().filter(|l| l.ends_with(&task)).count(),
            1,
            "{out}"
        );
    }
    let exiting: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_suffix(": Exiting"))
        .collect();
    let names: BTreeSet<String> = (1..=consumers).map(|k| format!("Consumer-{k}")).collect();
    assert_eq!(
        exiting,
        names.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    // Every consumer reported its pill done before the results were printed.
    for name in &names {
        common::assert_before(&out, &format!("{name}: Exiting"), "Result: ");
    }
}

/// A running program whose stdout lines arrive on a channel, killed when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(LIMIT)
            .unwrap_or_else(|e| panic!("no line from the program within {LIMIT:?}: {e}"))
    }

    /// Waits for the program to exit (bounded) and returns its exit code and stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (status.code(), err);
            }
            assert!(start.elapsed() < LIMIT, "program ran past {LIMIT:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    cmd
}

/// Python's `Client` sends each argument after the first two and prints each echo.
const PY_CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
host, key = sys.argv[1], sys.argv[3].encode()
address = sys.argv[2] if host == "unix" else (host, int(sys.argv[2]))
c = Client(address, authkey=key)
for m in sys.argv[4:]:
    c.send_bytes(m.encode())
    print(c.recv_bytes().decode(), flush=True)
c.close()
"#;

/// Python's `Listener` prints its address and echoes bytes for one client.
const PY_SERVER: &str = r#"
import sys
from multiprocessing.connection import Listener
family, key = sys.argv[1], sys.argv[2].encode()
address = ("127.0.0.1", 0) if family == "tcp" else sys.argv[3]
with Listener(address, authkey=key) as l:
    a = l.address
    print(f"{a[0]}:{a[1]}" if family == "tcp" else a, flush=True)
    try:
        c = l.accept()
    except Exception as e:
        print(type(e).__name__, flush=True)
        sys.exit(0)
    while True:
        try:
            m = c.recv_bytes()
        except EOFError:
            break
        c.send_bytes(m)
    print("done", flush=True)
"#;

fn echo_server(args: &[&str]) -> (Running, String) {
    let mut cmd = common::example("echo_server");
    cmd.args(args);
    let server = Running::start(cmd);
    let ready = server.line();
    let address = ready
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
        .to_owned();
    (server, address)
}

#[test]
fn python_client_against_echo_server_with_right_and_wrong_keys() {
    let (server, address) = echo_server(&[
        "--address",
        "127.0.0.1:0",
        "--authkey",
        "sesame",
        "--clients",
        "3",
    ]);
    let (host, port) = address.rsplit_once(':').unwrap();

    let out = common::run_bounded(
        python(PY_CLIENT, &[host, port, "sesame", "hello", "wide world"]),
        LIMIT,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nwide world\n");
    assert_eq!(server.line(), "client 1: echoed 2 messages");

    let out = common::run_bounded(python(PY_CLIENT, &[host, port, "wrong", "x"]), LIMIT);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AuthenticationError"));
    let line = server.line();
    assert!(
        line.starts_with("client 2: authentication failed"),
        "{line}"
    );

    // The server goes on to the next client.
    let out = common::run_bounded(python(PY_CLIENT, &[host, port, "sesame", "again"]), LIMIT);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "again\n");
    assert_eq!(server.line(), "client 3: echoed 1 messages");
    let (code, err) = server.finish();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn python_client_over_a_unix_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let path = path.to_str().unwrap();
    let (server, address) = echo_server(&["--address", path, "--authkey", "k", "--clients", "1"]);
    assert_eq!(address, path);
    let out = common::run_bounded(python(PY_CLIENT, &["unix", path, "k", "over unix"]), LIMIT);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "over unix\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.finish().0, Some(0));
}

#[test]
fn echo_client_against_python_listener_with_right_and_wrong_keys() {
    for (key, ok) in [("sesame", true), ("wrong", false)] {
        let server = Running::start(python(PY_SERVER, &["tcp", "sesame"]));
        let address = server.line();
        let out = common::run_bounded(
            {
                let mut c = common::example("echo_client");
                c.args(["--address", &address, "--authkey", key, "one", "two"]);
                c
            },
            LIMIT,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if ok {
            assert!(out.status.success(), "{stderr}");
            assert_eq!(stdout, "one\ntwo\n");
            assert_eq!(server.line(), "done");
        } else {
            assert_eq!(out.status.code(), Some(1));
            assert!(stderr.contains("authentication failed"), "{stderr}");
            assert_eq!(server.line(), "AuthenticationError");
        }
        assert_eq!(server.finish().0, Some(0));
    }
}

#[test]
fn echo_client_over_a_unix_path_and_strict_refuses_python_311() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py.sock");
    let path = path.to_str().unwrap();
    let server = Running::start(python(PY_SERVER, &["unix", "k", path]));
    assert_eq!(server.line(), path);
    let mut c = common::example("echo_client");
    c.args(["--address", path, "--authkey", "k", "via unix"]);
    let out = common::run_bounded(c, LIMIT);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via unix\n");
    assert_eq!(server.line(), "done");
    drop(server);

    // Python before 3.12 only speaks HMAC-MD5, which a strict client refuses.
    let modern = common::run_bounded(
        python("import sys; print(sys.version_info >= (3, 12))", &[]),
        LIMIT,
    );
    if String::from_utf8_lossy(&modern.stdout).trim() == "False" {
        let server = Running::start(python(PY_SERVER, &["tcp", "k"]));
        let address = server.line();
        let mut c = common::example("echo_client");
        c.args(["--address", &address, "--authkey", "k", "--strict", "x"]);
        let out = common::run_bounded(c, LIMIT);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("strict"));
        // The strict side hangs up instead of answering.
        assert_eq!(server.line(), "EOFError");
    }
}

#[test]
fn echo_client_and_server_speak_the_modern_handshake_strictly() {
    let (server, address) = echo_server(&[
        "--address",
        "127.0.0.1:0",
        "--authkey",
        "k",
        "--strict",
        "--clients",
        "1",
    ]);
    let mut c = common::example("echo_client");
    c.args([
        "--address",
        &address,
        "--authkey",
        "k",
        "--strict",
        "sha256 both ways",
    ]);
    let out = common::run_bounded(c, LIMIT);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sha256 both ways\n");
    assert_eq!(server.line(), "client 1: echoed 1 messages");
    assert_eq!(server.finish().0, Some(0));
}

/// The failure this pins: the server ran each handshake inside its accept loop, so a client
/// that connected and said nothing stalled everyone, and with 200 idle connections a correct
/// client was not served at all.
#[test]
fn echo_server_serves_a_python_client_past_silent_clients_and_idle_connections() {
    use multiproc::connection::Client;
    let (server, address) = echo_server(&[
        "--address",
        "127.0.0.1:0",
        "--authkey",
        "k",
        "--handshake-timeout",
        "60",
    ]);
    let tcp: std::net::SocketAddr = address.parse().unwrap();
    let silent: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(tcp).unwrap())
        .collect();
    let idle: Vec<_> = (0..200)
        .map(|_| {
            Client::new(tcp)
                .authkey("k")
                .connect_timeout(LIMIT)
                .unwrap()
        })
        .collect();
    let more_silent: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(tcp).unwrap())
        .collect();
    let t0 = std::time::Instant::now();
    let (host, port) = address.rsplit_once(':').unwrap();
    let out = common::run_bounded(python(PY_CLIENT, &[host, port, "k", "at once"]), LIMIT);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "at once\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Well under the 60 s a silent client may hold its own handshake.
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    // The Python client was the 211th.
    assert_eq!(server.line(), "client 211: echoed 1 messages");
    drop((idle, silent, more_silent));
}

#[test]
fn echo_server_drops_a_silent_client_after_the_handshake_timeout() {
    let (server, address) = echo_server(&[
        "--address",
        "127.0.0.1:0",
        "--authkey",
        "k",
        "--handshake-timeout",
        "0.5",
        "--clients",
        "1",
    ]);
    let t0 = std::time::Instant::now();
    let _silent = std::net::TcpStream::connect(address.as_str()).unwrap();
    assert_eq!(server.line(), "client 1: timed out");
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(20));
    assert_eq!(server.finish().0, Some(0));
}

#[test]
fn echo_server_refuses_an_empty_authkey() {
    let (out, err, code) = common::run_example(
        "echo_server",
        &["--address", "127.0.0.1:0", "--authkey", ""],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(err.contains("empty authkey"), "{err}");
}
