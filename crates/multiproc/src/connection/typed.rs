//! Typed messages: a frame whose body is a 4-byte little-endian count of the descriptors that
//! travel with the message, then the serde bytes (see [`crate::codec`]).

use std::ops::Range;
use std::os::fd::OwnedFd;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Error;
use super::frame::{self, Decoder, MAX_HEADER};
use crate::codec;
use crate::sys::fd::MAX_FDS_PER_MSG;

/// Room reserved in front of a typed message for the frame header and the descriptor count.
const PREFIX: usize = MAX_HEADER + 4;

/// Appends one complete typed frame for `value` to `out` (header, descriptor count, serde
/// bytes) and returns the descriptors that must travel with it (tests build streams with it).
#[cfg(test)]
pub(crate) fn frame_typed<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<Vec<OwnedFd>, Error> {
    let base = out.len();
    let (start, fds) = frame_typed_at(value, out)?;
    // Close the gap the header did not use.
    out.drain(base..start);
    Ok(fds)
}

/// Like [`frame_typed`], but leaves up to 12 unused bytes before the frame instead of moving
/// it: the frame starts at the returned offset.
pub(super) fn frame_typed_at<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(usize, Vec<OwnedFd>), Error> {
    let base = out.len();
    out.resize(base + PREFIX, 0);
    let fds = match codec::encode_into(value, out) {
        Ok(fds) => fds,
        Err(e) => {
            out.truncate(base);
            return Err(e.into());
        }
    };
    if fds.len() > MAX_FDS_PER_MSG {
        out.truncate(base);
        return Err(Error::TooManyHandles(fds.len()));
    }
    out[base + PREFIX - 4..base + PREFIX].copy_from_slice(&(fds.len() as u32).to_le_bytes());
    let body_len = (out.len() - base - PREFIX + 4) as u64;
    let start = base + frame::write_header(&mut out[base..base + PREFIX - 4], body_len);
    Ok((start, fds))
}

/// Decodes the typed frame at `body` (descriptor count, then serde bytes) and consumes it.
pub(super) fn decode<T: DeserializeOwned>(
    rx: &mut Decoder,
    body: Range<usize>,
) -> Result<T, Error> {
    let result = match rx.bytes(body.clone()).first_chunk::<4>() {
        None => Err(Error::Corrupt(
            "typed message shorter than its descriptor count".into(),
        )),
        Some(count) => {
            let n = u32::from_le_bytes(*count) as usize;
            rx.take_fds(n)
                .and_then(|fds| Ok(codec::decode(rx.bytes(body.start + 4..body.end), fds)?))
        }
    };
    rx.consume_to(body.end);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_back_and_pack_together() {
        let mut out = Vec::new();
        assert!(frame_typed(&(1u8, "one"), &mut out).unwrap().is_empty());
        assert!(frame_typed(&(2u8, "two"), &mut out).unwrap().is_empty());
        let mut d = Decoder::default();
        d.feed(&out);
        for expected in [(1u8, "one".to_string()), (2, "two".to_string())] {
            let body = d.next_frame(1 << 20).unwrap().unwrap();
            assert_eq!(decode::<(u8, String)>(&mut d, body).unwrap(), expected);
        }
        assert!(!d.has_buffered());
    }

    #[test]
    fn a_body_too_short_for_its_count_is_corrupt() {
        let mut d = Decoder::default();
        d.feed(&[0, 0, 0, 2, 0, 0]);
        let body = d.next_frame(1 << 20).unwrap().unwrap();
        assert!(matches!(decode::<u8>(&mut d, body), Err(Error::Corrupt(_))));
    }
}
