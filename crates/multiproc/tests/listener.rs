//! Listener and Client: the three address families, CPython's authkey handshake (modern,
//! legacy and strict), bad peers, a client in another process, handshakes off the accept path,
//! and CPython's own `Client` and `Listener` (the real `python3`) with messages of every size.
//! The example programs' interoperation with `python3` is tested in
//! `examples_communication.rs`.

mod common;

use common::{JoinWithin, STUCK};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use multiproc::connection::{
    Address, Client, Error, Listener, answer_challenge, deliver_challenge,
};
use multiproc::{Connection, Process};

const LONG: Duration = Duration::from_secs(30);

fn temp_socket_path(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

fn exchange_with_key(address: Address) {
    let listener = Listener::builder(address)
        .authkey(b"right key")
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let client = thread::spawn(move || {
        let conn = Client::new(address)
            .authkey(b"right key")
            .connect_timeout(LONG)
            .unwrap();
        conn.send_bytes(b"ping").unwrap();
        conn.recv_bytes_timeout(LONG).unwrap()
    });
    let conn = listener.accept_timeout(LONG).unwrap();
    assert_eq!(conn.recv_bytes_timeout(LONG).unwrap(), b"ping");
    conn.send_bytes(b"pong").unwrap();
    assert_eq!(client.join().unwrap(), b"pong");
}

#[test]
fn unix_path_with_authkey() {
    let (_dir, path) = temp_socket_path("listener.sock");
    exchange_with_key(Address::Unix(path.clone()));
    assert!(
        !path.exists(),
        "the socket file is removed when the listener is dropped"
    );
}

#[test]
fn linux_abstract_name_with_authkey() {
    let name = format!("multiproc-test-{}", std::process::id());
    exchange_with_key(format!("@{name}").parse().unwrap());
}

#[test]
fn tcp_with_authkey() {
    exchange_with_key("127.0.0.1:0".parse().unwrap());
}

#[test]
fn no_authkey_means_no_handshake() {
    let listener = Listener::bind("127.0.0.1:0".parse::<Address>().unwrap()).unwrap();
    let address = listener.address().clone();
    let client = thread::spawn(move || {
        let conn = Client::new(address).connect().unwrap();
        conn.send(&("typed", 1u8)).unwrap();
    });
    let conn = listener.accept_timeout(LONG).unwrap();
    assert_eq!(
        conn.recv_timeout::<(String, u8)>(LONG).unwrap(),
        ("typed".into(), 1)
    );
    client.join().unwrap();
}

#[test]
fn wrong_key_fails_on_both_sides() {
    let listener = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
        .authkey(b"server key")
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let client = thread::spawn(move || {
        Client::new(address)
            .authkey(b"client key")
            .connect_timeout(LONG)
    });
    let server_side = listener.accept_timeout(LONG);
    assert!(
        matches!(server_side, Err(Error::Authentication(_))),
        "{server_side:?}"
    );
    let client_side = client.join().unwrap();
    assert!(
        matches!(client_side, Err(Error::Authentication(_))),
        "{client_side:?}"
    );
}

type HmacMd5 = Hmac<md5::Md5>;

fn md5_of(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <HmacMd5 as Mac>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Does what Python 3.11's `Client(address, authkey=key)` does, by hand: answer the
/// challenge with the raw HMAC-MD5, then challenge with 20 bytes and expect the same back.
fn legacy_client(address: Address, key: &'static [u8]) -> Result<Connection, String> {
    let conn = Client::new(address).connect().map_err(|e| e.to_string())?;
    let challenge = conn.recv_bytes_timeout(LONG).map_err(|e| e.to_string())?;
    let message = challenge
        .strip_prefix(b"#CHALLENGE#")
        .ok_or("no challenge")?;
    conn.send_bytes(&md5_of(key, message)).unwrap();
    let verdict = conn.recv_bytes_timeout(LONG).map_err(|e| e.to_string())?;
    if verdict != b"#WELCOME#" {
        return Err(String::from_utf8_lossy(&verdict).into_owned());
    }
    let mine = [7u8; 20];
    conn.send_bytes(&[&b"#CHALLENGE#"[..], &mine].concat())
        .unwrap();
    let answer = conn.recv_bytes_timeout(LONG).map_err(|e| e.to_string())?;
    if answer != md5_of(key, &mine) {
        return Err("wrong answer".into());
    }
    conn.send_bytes(b"#WELCOME#").unwrap();
    Ok(conn)
}

#[test]
fn legacy_md5_peer_is_accepted_unless_strict() {
    for strict in [false, true] {
        let listener = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
            .authkey(b"key")
            .strict(strict)
            .bind()
            .unwrap();
        let address = listener.address().clone();
        let client = thread::spawn(move || legacy_client(address, b"key"));
        let accepted = listener.accept_timeout(LONG);
        let client = client.join().unwrap();
        if strict {
            assert!(matches!(accepted, Err(Error::Authentication(_))));
            assert_eq!(client.unwrap_err(), "#FAILURE#");
        } else {
            let conn = accepted.unwrap();
            client.unwrap().send_bytes(b"legacy ok").unwrap();
            assert_eq!(conn.recv_bytes_timeout(LONG).unwrap(), b"legacy ok");
        }
    }
}

#[test]
fn handshake_frames_over_256_bytes_are_refused() {
    let listener = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
        .authkey(b"key")
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let client = thread::spawn(move || {
        let conn = Client::new(address).connect().unwrap();
        let _challenge = conn.recv_bytes_timeout(LONG).unwrap();
        conn.send_bytes(&[b'x'; 257]).unwrap();
        conn.recv_bytes_timeout(LONG)
    });
    match listener.accept_timeout(LONG) {
        Err(Error::Authentication(why)) => assert!(why.contains("256"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(client.join().unwrap().is_err());
}

#[test]
fn a_silent_client_cannot_hold_accept() {
    let listener = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
        .authkey(b"key")
        .handshake_timeout(Duration::from_millis(200))
        .bind()
        .unwrap();
    let silent = std::net::TcpStream::connect(match listener.address() {
        Address::Tcp(a) => *a,
        other => panic!("{other}"),
    })
    .unwrap();
    let t0 = Instant::now();
    assert!(matches!(listener.accept(), Err(Error::Timeout)));
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(5));
    drop(silent);
    // Nobody else: accept_timeout gives up on time.
    let t0 = Instant::now();
    assert!(matches!(
        listener.accept_timeout(Duration::from_millis(100)),
        Err(Error::Timeout)
    ));
    assert!(t0.elapsed() >= Duration::from_millis(100));
}

#[test]
fn client_gives_up_on_a_listener_that_never_answers() {
    // A plain socket that accepts into its backlog and never speaks.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = Address::Tcp(server.local_addr().unwrap());
    let t0 = Instant::now();
    let result = Client::new(address)
        .authkey(b"key")
        .connect_timeout(Duration::from_millis(200));
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
}

fn remote_client(address: Address) -> String {
    let conn = Client::new(address)
        .authkey(b"process key")
        .connect_timeout(LONG)
        .unwrap();
    conn.send(&"from the child").unwrap();
    conn.recv::<String>().unwrap()
}

#[multiproc::test]
fn client_in_another_process() {
    let (_dir, path) = temp_socket_path("process.sock");
    let listener = Listener::builder(path)
        .authkey(b"process key")
        .bind()
        .unwrap();
    let child = Process::new(remote_client, listener.address().clone())
        .start()
        .unwrap();
    let conn = listener.accept_timeout(LONG).unwrap();
    assert_eq!(conn.recv_timeout::<String>(LONG).unwrap(), "from the child");
    conn.send(&"from the parent").unwrap();
    assert_eq!(child.join_within(STUCK).unwrap(), "from the parent");
}

// ----- handshakes off the accept path -----

/// Serves clients the way a server for many should: accept at once, and authenticate and
/// echo on a thread per client. Stops accepting when `stop` is set.
fn serve_concurrently(
    listener: Listener,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<thread::JoinHandle<()>>> {
    thread::spawn(move || {
        let mut clients = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let pending = match listener.accept_unauthenticated_timeout(Duration::from_millis(50)) {
                Ok(p) => p,
                Err(Error::Timeout) => continue,
                Err(e) => panic!("accept: {e}"),
            };
            clients.push(thread::spawn(move || {
                let Ok(conn) = pending.authenticate() else {
                    return;
                };
                while let Ok(m) = conn.recv_bytes() {
                    if conn.send_bytes(&m).is_err() {
                        return;
                    }
                }
            }));
        }
        clients
    })
}

fn tcp_address(listener: &Listener) -> std::net::SocketAddr {
    match listener.address() {
        Address::Tcp(a) => *a,
        other => panic!("{other}"),
    }
}

/// The failure this pins: `accept` ran each handshake inline, so one client that said
/// nothing stalled every other client, and with 200 idle connections a correct client was
/// not served at all.
#[test]
fn silent_clients_and_many_idle_connections_do_not_delay_a_correct_client() {
    let listener = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
        .authkey(b"key")
        .handshake_timeout(Duration::from_secs(60))
        .bind()
        .unwrap();
    let address = listener.address().clone();
    let tcp = tcp_address(&listener);
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve_concurrently(listener, Arc::clone(&stop));

    let silent: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(tcp).unwrap())
        .collect();
    let idle: Vec<Connection> = (0..200)
        .map(|_| {
            Client::new(address.clone())
                .authkey(b"key")
                .connect_timeout(LONG)
                .unwrap()
        })
        .collect();
    // More silent clients, behind the idle ones.
    let more_silent: Vec<_> = (0..5)
        .map(|_| std::net::TcpStream::connect(tcp).unwrap())
        .collect();

    let t0 = Instant::now();
    let conn = Client::new(address)
        .authkey(b"key")
        .connect_timeout(LONG)
        .unwrap();
    conn.send_bytes(b"served at once").unwrap();
    assert_eq!(conn.recv_bytes_timeout(LONG).unwrap(), b"served at once");
    // Well under the 60 s that one silent client may hold its own handshake.
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    // The idle connections are all served too.
    for c in &idle[..3] {
        c.send_bytes(b"still here").unwrap();
        assert_eq!(c.recv_bytes_timeout(LONG).unwrap(), b"still here");
    }

    stop.store(true, Ordering::Relaxed);
    drop((conn, idle, silent, more_silent));
    for client in server.join().unwrap() {
        client.join().unwrap();
    }
}

#[test]
fn a_silent_client_times_out_of_its_own_handshake() {
    let listener = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
        .authkey(b"key")
        .handshake_timeout(Duration::from_millis(300))
        .bind()
        .unwrap();
    let silent = std::net::TcpStream::connect(tcp_address(&listener)).unwrap();
    let t0 = Instant::now();
    // Accepting is immediate; the handshake is bounded.
    let pending = listener.accept_unauthenticated_timeout(LONG).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(pending.deadline() > t0);
    assert!(matches!(pending.authenticate(), Err(Error::Timeout)));
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5));
    drop(silent);

    assert!(matches!(
        listener.try_accept_unauthenticated(),
        Err(Error::Timeout)
    ));

    // An earlier deadline of the caller's own wins (over a handshake timeout far longer than
    // any scheduling delay, so the bound below cannot be missed on a busy machine).
    let patient = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
        .authkey(b"key")
        .handshake_timeout(LONG)
        .bind()
        .unwrap();
    let _silent = std::net::TcpStream::connect(tcp_address(&patient)).unwrap();
    let pending = patient.accept_unauthenticated_timeout(LONG).unwrap();
    let t0 = Instant::now();
    assert!(matches!(
        pending.authenticate_deadline(Instant::now() + Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    assert!(t0.elapsed() < LONG / 2, "{:?}", t0.elapsed());
}

#[test]
fn deliver_and_answer_challenge_by_hand_with_deadlines() {
    let listener = Listener::bind("127.0.0.1:0".parse::<Address>().unwrap()).unwrap();
    let address = listener.address().clone();
    let client = thread::spawn(move || {
        let conn = Client::new(address).connect().unwrap();
        let deadline = Instant::now() + LONG;
        answer_challenge(&conn, b"by hand", deadline)?;
        deliver_challenge(&conn, b"by hand", deadline)?;
        conn.send_bytes(b"authenticated").map(|()| conn)
    });
    // A listener without a key has nothing to check: the caller runs the handshake.
    let conn = listener.accept_unauthenticated().unwrap().into_inner();
    let deadline = Instant::now() + LONG;
    deliver_challenge(&conn, b"by hand", deadline).unwrap();
    answer_challenge(&conn, b"by hand", deadline).unwrap();
    assert_eq!(conn.recv_bytes_timeout(LONG).unwrap(), b"authenticated");
    let _client_conn = client.join().unwrap().unwrap();

    // A peer that never answers is a timeout at the deadline, on either side.
    let (a, _b) = multiproc::pipe(true);
    let t0 = Instant::now();
    let r = answer_challenge(&a, b"k", Instant::now() + Duration::from_millis(100));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    let r = deliver_challenge(&a, b"k", Instant::now() + Duration::from_millis(100));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(5));

    // A wrong key fails both sides.
    let (a, b) = multiproc::pipe(true);
    let peer = thread::spawn(move || answer_challenge(&b, b"other", Instant::now() + LONG));
    let r = deliver_challenge(&a, b"key", Instant::now() + LONG);
    assert!(matches!(r, Err(Error::Authentication(_))), "{r:?}");
    assert!(matches!(
        peer.join().unwrap(),
        Err(Error::Authentication(_))
    ));
}

#[test]
fn an_empty_authkey_is_refused_on_a_server() {
    let err = Listener::builder("127.0.0.1:0".parse::<Address>().unwrap())
        .authkey(b"")
        .bind()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("empty authkey"), "{err}");
}

#[test]
fn windows_pipe_names_are_refused_with_a_clear_error() {
    let name = r"\\.\pipe\multiproc-test";
    let parsed = name.parse::<Address>().unwrap_err();
    assert!(
        parsed.to_string().contains("Windows named pipe"),
        "{parsed}"
    );

    // Built from a path, it is refused where it is used, and no socket file appears (the name
    // is a relative path on Linux).
    let err = Listener::bind(Address::Unix(name.into())).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("Windows named pipe"), "{err}");
    assert!(!std::path::Path::new(name).exists());
    match Client::new(Address::Unix(name.into())).connect() {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput),
        other => panic!("{other:?}"),
    }
}

// ----- CPython's own Client and Listener, both ways -----

/// Message sizes around CPython's own boundaries: it writes the header and body of messages
/// over 16 KiB separately, and anything over a socket's buffer arrives in pieces.
const PY_SIZES: [usize; 8] = [0, 1, 100, 16384, 16385, 70_000, 1 << 20, 3_000_000];

/// What `connection_peer.py` sends as message `seed` of `size` bytes.
fn py_pattern(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| ((seed * 31 + i) % 251) as u8).collect()
}

fn python_peer(args: &[&str]) -> std::process::Command {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/connection_peer.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script).args(args);
    cmd
}

#[test]
fn python_client_against_our_listener_with_messages_of_every_size() {
    let (_dir, path) = temp_socket_path("py-client.sock");
    for address in [
        "127.0.0.1:0".parse::<Address>().unwrap(),
        Address::Unix(path),
    ] {
        let listener = Listener::builder(address).authkey(b"k").bind().unwrap();
        let text = listener.address().to_string();
        let server = thread::spawn(move || {
            let conn = listener
                .accept_unauthenticated_timeout(LONG)
                .unwrap()
                .authenticate()
                .unwrap();
            let mut echoed = 0;
            loop {
                match conn.recv_bytes_timeout(LONG) {
                    Ok(m) => {
                        assert!(
                            m == py_pattern(PY_SIZES[echoed], echoed),
                            "message {echoed}"
                        );
                        conn.send_bytes(&m).unwrap();
                        echoed += 1;
                    }
                    Err(Error::Disconnected) => return echoed,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let sizes: Vec<String> = PY_SIZES.iter().map(|s| s.to_string()).collect();
        let mut args = vec!["client", &text, "k"];
        args.extend(sizes.iter().map(String::as_str));
        let out = common::run_bounded(python_peer(&args), LONG);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok 8\n");
        assert_eq!(server.join().unwrap(), PY_SIZES.len());
    }
}

#[test]
fn our_client_against_python_listener_with_messages_of_every_size() {
    use std::io::BufRead;
    let mut child = python_peer(&["server", "tcp", "k"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let address: Address = lines.recv_timeout(LONG).unwrap().parse().unwrap();
    let conn = Client::new(address)
        .authkey(b"k")
        .connect_timeout(LONG)
        .unwrap();
    for (seed, size) in PY_SIZES.into_iter().enumerate() {
        let m = py_pattern(size, seed);
        conn.send_bytes(&m).unwrap();
        assert!(conn.recv_bytes_timeout(LONG).unwrap() == m, "echo {seed}");
    }
    drop(conn);
    assert_eq!(lines.recv_timeout(LONG).unwrap(), "done 8");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < LONG, "python did not exit");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The failure this pins: connecting to a Unix socket whose listener's backlog was full waited
/// in the kernel without a bound.
#[test]
fn a_full_backlog_is_a_timeout_not_a_hang() {
    // A watchdog: the failure was a hang.
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        full_backlog();
        let _ = done.send(());
    });
    match finished.recv_timeout(LONG) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("connect hung"),
        Err(e) => panic!("the test panicked ({e})"),
    }
}

fn full_backlog() {
    let (_dir, path) = temp_socket_path("full.sock");
    let listener = Listener::builder(path.clone()).backlog(0).bind().unwrap();
    // Nobody accepts: the backlog fills after the first connections.
    let mut queued = Vec::new();
    let t0 = Instant::now();
    let err = loop {
        match Client::new(path.clone()).connect_timeout(Duration::from_millis(200)) {
            Ok(c) => queued.push(c),
            Err(e) => break e,
        }
        assert!(queued.len() < 100, "the backlog never filled");
    };
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    // The handshake timeout bounds a plain connect the same way.
    let t0 = Instant::now();
    let r = Client::new(path)
        .handshake_timeout(Duration::from_millis(200))
        .connect();
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    drop(listener);
}
