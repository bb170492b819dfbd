//! UTF-8 decoding of a byte stream into the tokenizer: strict (an error at
//! the first invalid sequence, with its offset in the input) or lossy (each
//! maximal invalid sequence becomes U+FFFD, as Python's `errors='replace'`).

use crate::counts::Counts;
use crate::long_word::LongWord;
use crate::tokenize::{Tokenizer, WordSink};

/// Why [`count_bytes`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Invalid UTF-8 at this offset.
    #[error("invalid UTF-8 at byte offset {offset}")]
    InvalidUtf8 {
        /// Offset of the first byte of the invalid sequence.
        offset: u64,
    },
}

/// Counts the words of bytes in memory, decoded as the map step decodes a
/// chunk; an invalid sequence's offset is relative to `bytes`.
pub fn count_bytes(bytes: &[u8], lossy: bool) -> Result<Counts, DecodeError> {
    let mut counts = Counts::new();
    let mut decoder = Decoder::new(lossy, 0, Tokenizer::new());
    decoder.decode(bytes, &mut counts)?;
    decoder.finish(&mut counts);
    Ok(counts)
}

/// Decodes bytes that arrive in pieces and feeds the text to a tokenizer.
#[derive(Debug)]
pub(crate) struct Decoder {
    lossy: bool,
    /// Offset in the input of the next byte to decode.
    offset: u64,
    tokenizer: Tokenizer,
}

impl Decoder {
    /// A decoder of an input whose first byte is at `offset` (of its file).
    pub(crate) fn new(lossy: bool, offset: u64, tokenizer: Tokenizer) -> Self {
        Decoder {
            lossy,
            offset,
            tokenizer,
        }
    }

    /// Decodes and tokenizes the next bytes, which end at a character
    /// boundary or at the end of the input (a character cut there is
    /// invalid).
    pub(crate) fn decode<S: WordSink>(
        &mut self,
        bytes: &[u8],
        sink: &mut S,
    ) -> Result<(), DecodeError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.tokenizer.feed_at(text, self.offset, sink),
            Err(e) if !self.lossy => {
                return Err(DecodeError::InvalidUtf8 {
                    offset: self.offset + e.valid_up_to() as u64,
                });
            }
            Err(_) => {
                // Same replacement policy as Python's errors='replace': one
                // U+FFFD per maximal invalid subsequence.
                let mut at = self.offset;
                for piece in bytes.utf8_chunks() {
                    self.tokenizer.feed_at(piece.valid(), at, sink);
                    at += piece.valid().len() as u64;
                    if !piece.invalid().is_empty() {
                        self.tokenizer.feed_at("\u{fffd}", at, sink);
                        at += piece.invalid().len() as u64;
                    }
                }
            }
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Ends the input; returns the words the tokenizer set aside.
    pub(crate) fn finish<S: WordSink>(mut self, sink: &mut S) -> Vec<LongWord> {
        self.tokenizer.finish(sink);
        self.tokenizer.take_set_aside()
    }
}

/// Length of the start of a multi-byte character at the end of `bytes` that
/// needs more bytes to be complete (0 when the last character is complete or
/// the tail is invalid anyway).
pub(crate) fn incomplete_tail(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for k in 1..=n.min(3) {
        let b = bytes[n - k];
        if b & 0xc0 != 0x80 {
            let needed = match b {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => return 0,
            };
            return if needed > k { k } else { 0 };
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_tails() {
        assert_eq!(incomplete_tail(b""), 0);
        assert_eq!(incomplete_tail(b"ab"), 0);
        assert_eq!(incomplete_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_tail(&"中".as_bytes()[..2]), 2);
        assert_eq!(incomplete_tail(&"𝔸".as_bytes()[..3]), 3);
        assert_eq!(incomplete_tail(b"a\xff"), 0);
        assert_eq!(incomplete_tail(b"\x80\x80\x80"), 0);
    }

    #[test]
    fn strict_decoding_reports_the_offset() {
        assert_eq!(
            count_bytes(b"fine words\nbad \xff here", false),
            Err(DecodeError::InvalidUtf8 { offset: 15 })
        );
        let counts = count_bytes(b"fine words\nbad \xff here", true).expect("lossy");
        assert_eq!(counts.get("fine"), 1);
        assert_eq!(counts.get("here"), 1);
        assert_eq!(counts.len(), 4);
        let counts = count_bytes(b"caf\xc3\xa9 caf\xff\xa9 x\xe2\x80", true).expect("lossy");
        assert_eq!(counts.into_sorted(), [("café".to_owned(), 1)]);
    }

    #[test]
    fn words_set_aside_are_located_in_the_input_even_when_lossy() {
        // Invalid bytes before the long word shift the text fed, not the offsets.
        let long = "Abc".repeat(40);
        let input = format!("x \u{fffd}\u{fffd} {long} y");
        let mut bytes = b"x \xff\xfe\xfd ".to_vec();
        let start = bytes.len() as u64;
        bytes.extend_from_slice(long.as_bytes());
        bytes.extend_from_slice(b" y");
        let mut tokenizer = Tokenizer::new();
        tokenizer.set_aside_above(100);
        let mut decoder = Decoder::new(true, 1000, tokenizer);
        let mut counts = Counts::new();
        // In pieces, so that the long word is cut.
        for piece in bytes.chunks(7) {
            decoder.decode(piece, &mut counts).expect("lossy");
        }
        let aside = decoder.finish(&mut counts);
        assert_eq!(aside.len(), 1, "{input}");
        assert_eq!(aside[0].start, 1000 + start);
        assert_eq!(aside[0].end, 1000 + start + long.len() as u64);
        assert_eq!(
            aside[0].digest,
            crate::long_word::Checksum::of(long.as_bytes())
        );
        assert_eq!(counts.get("x"), 1);
        assert_eq!(counts.get("y"), 1);
        assert_eq!(counts.get(&long.to_lowercase()), 0);
    }
}
