//! Listener and Client: the three address families, CPython's authkey handshake (modern,
//! legacy and strict), bad peers, and a client in another process. Interoperation with the
//! real `python3` is tested in `examples_communication.rs`.

use std::thread;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use multiproc::connection::{Address, Client, Error, Listener};
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
    assert_eq!(child.join().unwrap(), "from the parent");
}
