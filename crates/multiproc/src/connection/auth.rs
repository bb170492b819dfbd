//! The authkey handshake, byte-compatible with CPython's `multiprocessing.connection`.
//!
//! Each side proves that it knows the shared key without sending it. One side *delivers a
//! challenge*: it sends `#CHALLENGE#` followed by a message, the peer *answers* with an HMAC of
//! that message keyed with the authkey, and the challenger replies `#WELCOME#` if the HMAC is
//! right or `#FAILURE#` if not. Then the roles swap, so each side checks the other. A listener
//! challenges first; a client answers first.
//!
//! Since Python 3.12 the message is `{sha256}` and 40 random bytes, and the answer is
//! `{sha256}` and the HMAC-SHA256 of the whole message, prefix included (so a peer cannot
//! strip the prefix to downgrade). Python up to 3.11 sends 20 random bytes with no prefix and
//! expects the raw 16-byte HMAC-MD5; it also answers our prefixed challenge that way. We answer
//! such legacy challenges and accept such legacy answers, unless the handshake is *strict*.
//!
//! Every handshake frame is capped at 256 bytes, digests are compared in constant time, and the
//! random bytes come from the operating system.

use std::time::Instant;

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::{Connection, Error};
use crate::deadline::Deadline;

/// The first bytes of a challenge frame.
pub(crate) const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// The reply to a right answer.
pub(crate) const WELCOME: &[u8] = b"#WELCOME#";
/// The reply to a wrong answer.
pub(crate) const FAILURE: &[u8] = b"#FAILURE#";
/// The largest frame either side accepts during the handshake.
pub(crate) const MAX_HANDSHAKE_FRAME: u64 = 256;

/// Random bytes in a modern challenge.
const NONCE_LEN: usize = 40;
/// The length of a legacy challenge (random bytes only).
const LEGACY_CHALLENGE_LEN: usize = 20;
/// The length of a legacy answer (a raw HMAC-MD5).
const MD5_LEN: usize = 16;
/// The longest digest name CPython allows (`sha3_256`).
const MAX_DIGEST_NAME: usize = 8;

/// The HMAC digests a message may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Digest {
    Md5,
    Sha256,
    Sha384,
}

impl Digest {
    fn from_name(name: &[u8]) -> Result<Digest, String> {
        match name {
            b"md5" => Ok(Digest::Md5),
            b"sha256" => Ok(Digest::Sha256),
            b"sha384" => Ok(Digest::Sha384),
            b"sha3_256" | b"sha3_384" => Err(format!(
                "digest {} is not supported",
                String::from_utf8_lossy(name)
            )),
            _ => Err(format!(
                "unknown digest {:?}",
                String::from_utf8_lossy(name)
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Digest::Md5 => "md5",
            Digest::Sha256 => "sha256",
            Digest::Sha384 => "sha384",
        }
    }

    /// The HMAC of `message` keyed with `key`.
    fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("HMAC takes keys of any length");
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Digest::Md5 => run::<Hmac<md5::Md5>>(key, message),
            Digest::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
            Digest::Sha384 => run::<Hmac<sha2::Sha384>>(key, message),
        }
    }
}

/// Splits a challenge or an answer into its digest and payload. `None` is the legacy scheme:
/// a 20-byte challenge or a 16-byte answer, no prefix, HMAC-MD5.
pub(crate) fn split(message: &[u8]) -> Result<(Option<Digest>, &[u8]), String> {
    if message.len() == LEGACY_CHALLENGE_LEN || message.len() == MD5_LEN {
        return Ok((None, message));
    }
    if message.first() == Some(&b'{') {
        let window = &message[1..message.len().min(MAX_DIGEST_NAME + 2)];
        if let Some(close) = window.iter().position(|b| *b == b'}')
            && close > 0
        {
            let digest = Digest::from_name(&window[..close])?;
            return Ok((Some(digest), &message[close + 2..]));
        }
    }
    Err(format!(
        "a handshake message of {} bytes has no digest prefix",
        message.len()
    ))
}

/// A new challenge message (without the `#CHALLENGE#` marker): `{sha256}` and random bytes.
pub(crate) fn new_challenge() -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "no random bytes from the operating system: {e}"
        )))
    })?;
    let mut message = b"{sha256}".to_vec();
    message.extend_from_slice(&nonce);
    Ok(message)
}

/// The answer to challenge `message`, keyed with `key`.
pub(crate) fn response(key: &[u8], message: &[u8], strict: bool) -> Result<Vec<u8>, String> {
    if message.len() < LEGACY_CHALLENGE_LEN {
        return Err(format!("challenge too short: {} bytes", message.len()));
    }
    match split(message)?.0 {
        None | Some(Digest::Md5) if strict => {
            Err("the peer asks for an HMAC-MD5 answer, refused by the strict handshake".into())
        }
        None => Ok(Digest::Md5.mac(key, message)),
        Some(digest) => {
            let mut out = format!("{{{}}}", digest.name()).into_bytes();
            out.extend_from_slice(&digest.mac(key, message));
            Ok(out)
        }
    }
}

/// Checks `answer` to our challenge `message`.
pub(crate) fn verify(
    key: &[u8],
    message: &[u8],
    answer: &[u8],
    strict: bool,
) -> Result<(), String> {
    let (digest, mac) = split(answer)?;
    let digest = digest.unwrap_or(Digest::Md5);
    if strict && digest == Digest::Md5 {
        return Err("the peer answered with HMAC-MD5, refused by the strict handshake".into());
    }
    let expected = digest.mac(key, message);
    if expected.len() != mac.len() {
        return Err(format!(
            "expected a {} digest of {} bytes, got {}",
            digest.name(),
            expected.len(),
            mac.len()
        ));
    }
    if bool::from(expected.as_slice().ct_eq(mac)) {
        Ok(())
    } else {
        Err("the digest received was wrong (the keys differ)".into())
    }
}

/// Runs the whole handshake on `conn`: as the listener (challenge first) or as the client
/// (answer first), by `deadline`. Frames over [`MAX_HANDSHAKE_FRAME`] are refused while it
/// runs.
pub(crate) fn handshake(
    conn: &Connection,
    key: &[u8],
    strict: bool,
    listener: bool,
    deadline: impl Into<Deadline>,
) -> Result<(), Error> {
    let deadline = deadline.into();
    if listener {
        deliver(conn, key, strict, deadline)?;
        answer(conn, key, strict, deadline)
    } else {
        answer(conn, key, strict, deadline)?;
        deliver(conn, key, strict, deadline)
    }
}

/// Challenges the peer to prove that it knows `authkey`, and checks its answer by `deadline`
/// (CPython's `multiprocessing.connection.deliver_challenge`).
///
/// The challenge is modern (`{sha256}` and 40 random bytes); the answer may be modern or the
/// HMAC-MD5 of Python 3.11 and older. A right answer gets `#WELCOME#`, a wrong one
/// `#FAILURE#` and [`Error::Authentication`]. Messages over 256 bytes are refused, so a peer
/// cannot make the handshake hold more memory than that, and a peer that stops answering is an
/// [`Error::Timeout`] at `deadline`.
///
/// With [`answer_challenge`], this is the handshake of [`Listener`](super::Listener) and
/// [`Client`](super::Client), in pieces, for servers that run it on a thread of their own (see
/// [`Listener::accept_unauthenticated`](super::Listener::accept_unauthenticated)) or on
/// connections made another way. A server challenges first, then answers; a client does the
/// reverse:
///
/// ```
/// use multiproc::connection::{answer_challenge, deliver_challenge, pipe};
/// use std::time::{Duration, Instant};
///
/// let (server, client) = pipe(true);
/// let deadline = Instant::now() + Duration::from_secs(10);
/// let peer = std::thread::spawn(move || {
///     answer_challenge(&client, b"key", deadline)?;
///     deliver_challenge(&client, b"key", deadline)
/// });
/// deliver_challenge(&server, b"key", deadline).unwrap();
/// answer_challenge(&server, b"key", deadline).unwrap();
/// peer.join().unwrap().unwrap();
/// ```
///
/// An empty `authkey` proves nothing: anyone can compute its digests.
pub fn deliver_challenge(
    conn: &Connection,
    authkey: &[u8],
    deadline: Instant,
) -> Result<(), Error> {
    deliver(conn, authkey, false, Deadline::at(deadline))
}

/// Answers the peer's challenge with the digest of `authkey`, and reads its verdict by
/// `deadline` (CPython's `multiprocessing.connection.answer_challenge`).
///
/// Both the modern challenge and the legacy one of Python 3.11 and older are answered. A
/// verdict of `#FAILURE#` is an [`Error::Authentication`]. See [`deliver_challenge`] for the
/// whole handshake.
pub fn answer_challenge(conn: &Connection, authkey: &[u8], deadline: Instant) -> Result<(), Error> {
    answer(conn, authkey, false, Deadline::at(deadline))
}

/// Challenges the peer and checks its answer.
fn deliver(conn: &Connection, key: &[u8], strict: bool, deadline: Deadline) -> Result<(), Error> {
    let message = new_challenge()?;
    send(conn, &[CHALLENGE, &message].concat(), deadline)?;
    let answer = recv(conn, deadline)?;
    match verify(key, &message, &answer, strict) {
        Ok(()) => send(conn, WELCOME, deadline),
        Err(why) => {
            let _ = send(conn, FAILURE, deadline);
            Err(Error::Authentication(why))
        }
    }
}

/// Answers the peer's challenge and reads its verdict.
fn answer(conn: &Connection, key: &[u8], strict: bool, deadline: Deadline) -> Result<(), Error> {
    let frame = recv(conn, deadline)?;
    let Some(message) = frame.strip_prefix(CHALLENGE) else {
        return Err(Error::Authentication(format!(
            "expected a challenge, got {} other bytes",
            frame.len()
        )));
    };
    let answer = response(key, message, strict).map_err(Error::Authentication)?;
    send(conn, &answer, deadline)?;
    let verdict = recv(conn, deadline)?;
    if verdict == WELCOME {
        Ok(())
    } else if verdict == FAILURE {
        Err(Error::Authentication(
            "the peer rejected our digest (the keys differ)".into(),
        ))
    } else {
        Err(Error::Authentication(format!(
            "expected a welcome, got {} other bytes",
            verdict.len()
        )))
    }
}

fn send(conn: &Connection, frame: &[u8], deadline: Deadline) -> Result<(), Error> {
    conn.send_bytes_inner(frame, deadline)
}

fn recv(conn: &Connection, deadline: Deadline) -> Result<Vec<u8>, Error> {
    conn.recv_bytes_inner(deadline, MAX_HANDSHAKE_FRAME)
        .map_err(|e| match e {
            Error::FrameTooLarge { size, max } => Error::Authentication(format!(
                "handshake message of {size} bytes exceeds the limit of {max}"
            )),
            Error::Corrupt(why) => Error::Authentication(why),
            e => e,
        })
}

/// Feeds arbitrary peer input to the handshake's parsers, which must reject it or accept it
/// without panicking (the fuzz target and the property tests).
pub(crate) fn exercise(data: &[u8]) {
    let key = b"fuzz key";
    for strict in [false, true] {
        let _ = split(data);
        let _ = response(key, data, strict);
        if let Ok(message) = new_challenge() {
            let _ = verify(key, &message, data, strict);
        }
        if let Some(rest) = data.strip_prefix(CHALLENGE) {
            let _ = response(key, rest, strict);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_answer_verifies_and_names_its_digest() {
        let m = new_challenge().unwrap();
        assert!(m.starts_with(b"{sha256}"));
        assert_eq!(m.len(), 8 + NONCE_LEN);
        let a = response(b"key", &m, true).unwrap();
        assert!(a.starts_with(b"{sha256}"));
        assert_eq!(a.len(), 8 + 32);
        verify(b"key", &m, &a, true).unwrap();
        assert!(verify(b"other", &m, &a, false).is_err());
    }

    #[test]
    fn legacy_md5_accepted_unless_strict() {
        let m = new_challenge().unwrap();
        // What Python 3.11 answers to our challenge: the raw HMAC-MD5 of the whole message.
        let legacy = Digest::Md5.mac(b"key", &m);
        assert_eq!(legacy.len(), MD5_LEN);
        verify(b"key", &m, &legacy, false).unwrap();
        assert!(verify(b"key", &m, &legacy, true).is_err());
        // What Python 3.11 challenges with: 20 random bytes.
        let challenge = [7u8; LEGACY_CHALLENGE_LEN];
        assert_eq!(
            response(b"key", &challenge, false).unwrap(),
            Digest::Md5.mac(b"key", &challenge)
        );
        assert!(response(b"key", &challenge, true).is_err());
    }

    #[test]
    fn known_vector_matches_cpython() {
        // hmac.new(b"key", b"{sha256}" + bytes(range(40)), "sha256").hexdigest()
        let mut m = b"{sha256}".to_vec();
        m.extend(0u8..40);
        let a = response(b"key", &m, false).unwrap();
        let hex: String = a[8..].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "05b37335205f51ff483146e965fdf576943e0e64675a64ceccba80b6704d76b8"
        );
    }

    #[test]
    fn malformed_messages_are_refused() {
        assert!(split(b"{sha256").is_err());
        assert!(split(b"{}abcdefghijklmnopqrstuvwxyz").is_err());
        assert!(split(b"{sha3_256}abcdefghijklmnopqrstuvwxyz").is_err());
        assert!(response(b"k", b"short", false).is_err());
        let m = new_challenge().unwrap();
        assert!(verify(b"k", &m, b"{sha256}short", false).is_err());
        exercise(b"#CHALLENGE#{md5}0123456789012345678901234567890");
    }

    use proptest::collection::vec;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_peer_messages_never_panic(data in vec(any::<u8>(), 0..300)) {
            exercise(&data);
            let mut framed = CHALLENGE.to_vec();
            framed.extend_from_slice(&data);
            exercise(&framed);
        }

        #[test]
        fn the_right_key_verifies_and_any_other_fails(
            key in vec(any::<u8>(), 0..80),
            other in vec(any::<u8>(), 0..80),
            strict in any::<bool>(),
        ) {
            let m = new_challenge().unwrap();
            let answer = response(&key, &m, strict).unwrap();
            prop_assert!(verify(&key, &m, &answer, strict).is_ok());
            if other != key {
                prop_assert!(verify(&other, &m, &answer, strict).is_err());
            }
        }

        #[test]
        fn legacy_challenges_get_md5_answers(
            key in vec(any::<u8>(), 0..80),
            challenge in vec(any::<u8>(), 20),
        ) {
            let answer = response(&key, &challenge, false).unwrap();
            prop_assert_eq!(answer.len(), MD5_LEN);
            prop_assert!(verify(&key, &challenge, &answer, false).is_ok());
            prop_assert!(verify(&key, &challenge, &answer, true).is_err());
        }

        #[test]
        fn tampered_answers_fail(key in vec(any::<u8>(), 1..40), flip in 8usize..40) {
            let m = new_challenge().unwrap();
            let mut answer = response(&key, &m, false).unwrap();
            answer[flip] ^= 1;
            prop_assert!(verify(&key, &m, &answer, false).is_err());
        }
    }
}
