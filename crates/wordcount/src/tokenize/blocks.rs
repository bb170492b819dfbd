//! The tokenizer's main loop: lines and words of ASCII text found 64 bytes
//! at a time, from the bit masks of [`classify`](super::classify).
//!
//! Every rule of the chapter becomes arithmetic on the masks of a block
//! (bit `k` is byte `k`, so carries and borrows run forward in the text):
//!
//! - *Line starts.* `line.lstrip()` skips the whitespace after a line end.
//!   Adding the line ends to the whitespace mask, `space + eol`, sends a
//!   carry from each line end through the whitespace that follows it, to
//!   the first byte that is not whitespace: that bit survives `& !space`.
//!   The carry out of the block says that the next block starts in such
//!   whitespace, and is added to the next block's sum.
//! - *Skipped lines.* A line whose first character is a dot followed by a
//!   dot is skipped up to its end: `eol - start` borrows from the first line
//!   end after each start, setting every bit in between. A borrow out of
//!   the block says that the skipped line goes on.
//! - *Words that are not kept.* A token (a run of non-separators) is dropped
//!   when a byte of it is not a letter or lies in a skipped line. Adding
//!   those bytes to the token mask, `token + poison`, carries from each of
//!   them to the separator that ends their token: the bits of the ends of
//!   dropped tokens.
//!
//! What is left are the ends of the kept words; each is paired with the
//! last token start before it. A block holding a non-ASCII byte is handled
//! up to the token of that byte, and the rest of it is left to the
//! character-by-character path of the [`Tokenizer`](super::Tokenizer).

use super::classify::{BLOCK, Classify, WithClassifier};
use super::{CASE_BIT, Emitter, KEEP, Line, WordSink, is_stop_key};
use crate::short_word::ShortWord;

/// Bytes read past a block: a short word is loaded 16 bytes at a time from
/// its start, and a dot at the end of a block looks at the next byte.
const LOOKAHEAD: usize = ShortWord::MAX_LEN;

/// The fewest bytes worth starting the block loop for.
pub(super) const MIN_RUN: usize = BLOCK + LOOKAHEAD;

/// Where the block loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stop {
    /// Every word that ends before this byte was emitted, and this byte
    /// starts a token, or lies in the leading whitespace of a line or in a
    /// skipped line (as `line` says).
    pub(super) at: usize,
    /// The line state at `at`: never [`Line::StartDot`].
    pub(super) line: Line,
    /// The character-by-character path should go on at least to here
    /// before the block loop is worth trying again.
    pub(super) resume_after: usize,
}

/// The block loop over `text` from byte `at`, as work for a classifier.
pub(super) struct Blocks<'a, S: ?Sized> {
    pub(super) text: &'a str,
    /// Where to start: not inside a token (every token that starts before
    /// `at` has been handled), unless the line is skipped.
    pub(super) at: usize,
    /// The line state at `at`: not [`Line::StartDot`].
    pub(super) line: Line,
    pub(super) out: &'a mut Emitter,
    pub(super) sink: &'a mut S,
}

impl<S: WordSink + ?Sized> WithClassifier for Blocks<'_, S> {
    type Output = Stop;

    #[inline(always)]
    fn run<C: Classify>(self, c: C) -> Stop {
        scan(c, self)
    }
}

#[inline(always)]
fn scan<C: Classify, S: WordSink + ?Sized>(c: C, job: Blocks<'_, S>) -> Stop {
    let Blocks {
        text,
        at: mut i,
        line,
        out,
        sink,
    } = job;
    debug_assert!(line != Line::StartDot);
    let b = text.as_bytes();
    let n = b.len();
    // What one block hands the next: the carries and borrow described above,
    // whether its last byte is in a token, and where that token started.
    let mut in_lead = line == Line::Start;
    let mut in_skip = line == Line::Skip;
    let mut poison_carry = false;
    let mut token_open = false;
    let mut pending = i;
    while i + MIN_RUN <= n {
        let Some(block) = b[i..].first_chunk::<BLOCK>() else {
            break;
        };
        let m = c.classify(block);

        let (sum, c1) = m.space.overflowing_add(m.eol);
        let (lead, c2) = sum.overflowing_add(u64::from(in_lead));
        let line_first = lead & !m.space;
        let dot_after = u64::from(b[i + BLOCK] == b'.');
        let skip_start = line_first & m.dot & ((m.dot >> 1) | (dot_after << 63));
        let (diff, b1) = m.eol.overflowing_sub(skip_start);
        let (skip, b2) = diff.overflowing_sub(u64::from(in_skip));
        let skipped = skip & !m.eol;

        let token = !m.sep;
        let poison = token & (!m.letter | skipped);
        let (sum, c3) = token.overflowing_add(poison);
        let (sum, c4) = sum.overflowing_add(u64::from(poison_carry));
        let dropped_end = sum & !token;
        let before = (token << 1) | u64::from(token_open);
        let starts = token & !before;
        let ends = !token & before;
        let kept = ends & !dropped_end;

        if m.high != 0 {
            // Everything before the first non-ASCII byte is right (a bit of
            // a sum or difference depends on lower bits only); from there on,
            // the character-by-character path takes over.
            let h = m.high.trailing_zeros();
            let below = (1u64 << h) - 1;
            emit(kept & below, starts, pending, i, text, out, sink);
            let at = i + h as usize;
            let resume_after = i + BLOCK;
            let bit = |mask: u64| mask >> h & 1 != 0;
            let (at, line) = if bit(skipped) {
                (at, Line::Skip)
            } else if bit(lead) {
                (at, Line::Start)
            } else if (h > 0 && bit(token << 1)) || (h == 0 && token_open) {
                // Back to the start of the token holding that byte.
                let earlier = starts & below;
                let start = if earlier != 0 {
                    i + 63 - earlier.leading_zeros() as usize
                } else {
                    pending
                };
                (start, Line::Body)
            } else {
                (at, Line::Body)
            };
            return Stop {
                at,
                line,
                resume_after,
            };
        }

        emit(kept, starts, pending, i, text, out, sink);
        in_lead = c1 | c2;
        in_skip = b1 | b2;
        poison_carry = c3 | c4;
        token_open = token >> 63 != 0;
        if token_open && starts != 0 {
            pending = i + 63 - starts.leading_zeros() as usize;
        }
        i += BLOCK;
    }
    let line = if in_skip {
        Line::Skip
    } else if in_lead {
        Line::Start
    } else {
        Line::Body
    };
    Stop {
        at: if token_open && line == Line::Body {
            pending
        } else {
            i
        },
        line,
        resume_after: n,
    }
}

/// Emits the words that end at the bits of `kept` in the block at `i`, each
/// starting at the last bit of `starts` before its end, or at `pending` when
/// there is none (the word began in an earlier block).
#[inline(always)]
fn emit<S: WordSink + ?Sized>(
    mut kept: u64,
    starts: u64,
    pending: usize,
    i: usize,
    text: &str,
    out: &mut Emitter,
    sink: &mut S,
) {
    let b = text.as_bytes();
    while kept != 0 {
        let e = kept.trailing_zeros();
        kept &= kept - 1;
        let earlier = starts & ((1u64 << e) - 1);
        let start = if earlier != 0 {
            i + 63 - earlier.leading_zeros() as usize
        } else {
            pending
        };
        let end = i + e as usize;
        let len = end - start;
        if len <= ShortWord::MAX_LEN {
            // The loop keeps 16 bytes after each block, so this always holds.
            if let Some(bytes) = b[start..].first_chunk::<16>() {
                // A kept token is all letters: setting bit 5 lowercases them.
                let key = (u128::from_le_bytes(*bytes) | CASE_BIT) & KEEP[len];
                out.short(ShortWord::from_ascii_key(key), !is_stop_key(key, len), sink);
                continue;
            }
        }
        out.ascii(&text[start..end], true, sink);
    }
}
