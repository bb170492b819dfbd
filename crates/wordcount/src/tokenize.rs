//! The chapter's `file_to_words` as a streaming tokenizer.
//!
//! The chapter (`multiprocessing_wordcount.py`) does, for each line of a file
//! opened in text mode:
//!
//! ```python
//! if line.lstrip().startswith('..'):  # Skip rst comment lines
//!     continue
//! line = line.translate(TR)           # string.punctuation -> spaces
//! for word in line.split():
//!     word = word.lower()
//!     if word.isalpha() and word not in STOP_WORDS:
//!         output.append((word, 1))
//! ```
//!
//! [`Tokenizer`] reproduces this with Python 3 semantics over text that
//! arrives in pieces of any size, so that a file never has to be held in
//! memory: lines end at `\n`, `\r\n` or a lone `\r` (universal newlines),
//! whitespace and case follow [`crate::unicode`].
//!
//! ASCII text, the bulk of most input, is classified 64 bytes at a time by
//! the processor's vector unit ([`Simd`]: AVX-512, AVX2, or a portable
//! path), and its lines and words are found from the resulting bit masks;
//! a word of ASCII letters is lowercased 16 bytes at a time and handed over
//! packed in a [`ShortWord`], without allocation. Only blocks with non-ASCII
//! characters, and the last bytes of a piece, go through the character by
//! character path, which decodes words with non-ASCII letters.

mod blocks;
pub(crate) mod classify;

pub use classify::{SIMD_ENV, Simd, SimdError};

use crate::long_word::{Checksum, LongWord};
use crate::short_word::ShortWord;
use crate::unicode;

/// The chapter's 20 stop words, dropped after lowercasing.
pub const STOP_WORDS: [&str; 20] = [
    "a", "an", "and", "are", "as", "be", "by", "for", "if", "in", "is", "it", "of", "or", "py",
    "rst", "that", "the", "to", "with",
];

/// Packs up to 4 ASCII bytes into an integer, the first byte lowest.
const fn pack(word: &str) -> u32 {
    let b = word.as_bytes();
    let mut key = 0;
    let mut i = 0;
    while i < b.len() {
        key |= (b[i] as u32) << (8 * i);
        i += 1;
    }
    key
}

/// Multiplier of a perfect hash of the packed [`STOP_WORDS`] into 32 slots
/// (found by search; `stop_table_is_perfect` checks it).
const STOP_HASH: u32 = 0xdc7a_9283;

#[inline]
const fn stop_slot(key: u32) -> usize {
    (key.wrapping_mul(STOP_HASH) >> 27) as usize
}

/// The packed stop words at their perfect-hash slots, 0 elsewhere.
static STOP_TABLE: [u32; 32] = {
    let mut table = [0; 32];
    let mut i = 0;
    while i < STOP_WORDS.len() {
        let key = pack(STOP_WORDS[i]);
        table[stop_slot(key)] = key;
        i += 1;
    }
    table
};

/// Whether a packed lowercase key of `len` bytes (see [`ShortWord`]) is a
/// stop word: one multiplication and two comparisons, no branch (stop words
/// are so frequent that a branchy test mispredicts often).
#[inline]
fn is_stop_key(key: u128, len: usize) -> bool {
    let low = key as u32;
    (len <= 4) & (STOP_TABLE[stop_slot(low)] == low)
}

/// `KEEP[n]` keeps the first `n` bytes of a packed key.
static KEEP: [u128; ShortWord::MAX_LEN + 1] = {
    let mut masks = [0; ShortWord::MAX_LEN + 1];
    let mut n = 1;
    while n <= ShortWord::MAX_LEN {
        masks[n] = u128::MAX >> (128 - 8 * n);
        n += 1;
    }
    masks
};

/// Whether `word` (already lowercased) is one of the [`STOP_WORDS`].
#[inline]
pub fn is_stop_word(word: &str) -> bool {
    is_stop_bytes(word.as_bytes())
}

#[inline]
fn is_stop_bytes(w: &[u8]) -> bool {
    matches!(
        w,
        b"a" | b"an"
            | b"and"
            | b"are"
            | b"as"
            | b"be"
            | b"by"
            | b"for"
            | b"if"
            | b"in"
            | b"is"
            | b"it"
            | b"of"
            | b"or"
            | b"py"
            | b"rst"
            | b"that"
            | b"the"
            | b"to"
            | b"with"
    )
}

/// Receives the words a [`Tokenizer`] keeps: lowercased, alphabetic, not stop
/// words. Closures taking `&str` are sinks.
pub trait WordSink {
    /// Called once for every occurrence of a kept word.
    fn word(&mut self, word: &str);

    /// Called instead of [`word`](Self::word) for a long word (over 64 KiB)
    /// that the tokenizer built in a string of its own, which the sink may
    /// keep rather than copy (by default, passes the word on to `word`).
    #[inline]
    fn owned_word(&mut self, word: String) {
        self.word(&word);
    }

    /// Called instead of [`word`](Self::word) for words of at most 16 bytes
    /// (by default, passes the word on to `word`).
    #[inline]
    fn short_word(&mut self, word: ShortWord) {
        self.word(word.as_str());
    }

    /// Called with batches of short words, in order (by default, passes
    /// each on to [`short_word`](Self::short_word)). The tokenizer delivers
    /// short words this way so that a counting table can look many words up
    /// in a tight loop, overlapping their memory accesses.
    #[inline]
    fn short_words(&mut self, words: &[ShortWord]) {
        for &word in words {
            self.short_word(word);
        }
    }

    /// Announces short words that [`short_words`](Self::short_words) will
    /// receive next, after about as many more have been tokenized, so that a
    /// table can start loading their slots into the cache (by default, does
    /// nothing).
    #[inline]
    fn prefetch_short_words(&mut self, words: &[ShortWord]) {
        let _ = words;
    }
}

impl<F: FnMut(&str)> WordSink for F {
    #[inline]
    fn word(&mut self, word: &str) {
        self(word);
    }
}

// Byte classes. Letters are >= LOWER; UPPER has the UPPER_BIT set in addition,
// so OR-ing the classes of a word's letters tells whether it has capitals.
/// Python whitespace other than line ends, and `string.punctuation`.
const SEP: u8 = 0;
/// `\n` or `\r`: ends a line (and separates words).
const EOL: u8 = 1;
/// Any other ASCII character (digits, control characters): not a letter.
const BAD: u8 = 2;
/// First or later byte of a multi-byte character.
const HIGH: u8 = 3;
/// `a`..=`z`.
const LOWER: u8 = 4;
/// `A`..=`Z`.
const UPPER: u8 = 6;
const UPPER_BIT: u8 = UPPER & !LOWER;

static CLASS: [u8; 256] = byte_classes();

const fn byte_classes() -> [u8; 256] {
    let mut t = [HIGH; 256];
    let mut b = 0;
    while b < 0x80 {
        t[b] = match b as u8 {
            b'\n' | b'\r' => EOL,
            b'\t' | 0x0b | 0x0c | 0x1c..=0x1f | b' ' => SEP,
            b'a'..=b'z' => LOWER,
            b'A'..=b'Z' => UPPER,
            c if c.is_ascii_punctuation() => SEP,
            _ => BAD,
        };
        b += 1;
    }
    t
}

// Sixteen bytes at a time (SWAR): the run of ASCII letters a word starts
// with, and its lowercase, in a few integer operations.
const fn splat(b: u8) -> u128 {
    u128::from_le_bytes([b; 16])
}
const HIGH_BITS: u128 = splat(0x80);
const LOW_BITS: u128 = splat(0x7f);
const CASE_BIT: u128 = splat(0x20);

/// Bit 7 of each byte of the result is set when that byte of `v` is an ASCII
/// letter.
#[inline]
fn letter_mask(v: u128) -> u128 {
    // Folded to lowercase and to 7 bits, a letter is in 0x61..=0x7a; adding
    // to each byte cannot carry into the next one.
    let y = (v | CASE_BIT) & LOW_BITS;
    let at_least_a = y + splat(0x80 - b'a');
    let above_z = y + splat(0x80 - b'z' - 1);
    at_least_a & !above_z & !v & HIGH_BITS
}

/// Python whitespace in ASCII, line ends included (what `lstrip()` strips).
#[inline]
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' ')
}

/// The character starting at byte `i` of `text` (`i` is a char boundary
/// before the end of `text`).
#[inline]
fn char_at(text: &str, i: usize) -> char {
    text[i..]
        .chars()
        .next()
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Where the tokenizer stands in the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Line {
    /// In the leading whitespace of a line.
    #[default]
    Start,
    /// Just after a `.` that follows the leading whitespace.
    StartDot,
    /// In the rest of a line that is counted.
    Body,
    /// In a line that starts with `..`: skipped up to its end.
    Skip,
}

/// Streaming form of the chapter's `file_to_words`.
///
/// Feed it text in pieces of any size with [`feed`](Self::feed) (a word or a
/// `\r\n` may straddle two pieces), then call [`finish`](Self::finish) at the
/// end of the input. Every kept word goes to a [`WordSink`].
///
/// Memory is bounded by the longest word kept, held once: a run of
/// non-separator characters that cannot be a word is skipped without being
/// stored, and a long word is lowercased in place and handed over as a string
/// ([`WordSink::owned_word`]).
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// How bytes are classified.
    simd: Simd,
    line: Line,
    /// Inside a word cut by the end of the previous piece.
    in_token: bool,
    /// That word has a character that disqualifies it.
    poisoned: bool,
    /// The text of that word so far (empty when poisoned or set aside).
    pending: String,
    /// Where that word starts in the input.
    pending_start: u64,
    /// That word is being set aside: the checksum of its bytes so far.
    aside: Option<Checksum>,
    /// Words longer than this are set aside instead of built (`None`: never).
    set_aside_above: Option<usize>,
    /// The words set aside so far.
    set_aside: Vec<LongWord>,
    /// Where the piece being fed starts in the input.
    base: u64,
    out: Emitter,
}

/// Number of short words handed to a sink at once.
const BATCH: usize = 32;

/// Words longer than this (64 KiB) are handed to the sink as strings of
/// their own ([`WordSink::owned_word`]): rare enough that allocating each
/// costs nothing, long enough that a copy would.
const OWN_ABOVE: usize = 64 << 10;

/// Lowercases, filters and hands words to a sink, short ones in batches.
///
/// Short words are collected in two alternating batches. When one is full,
/// the sink is told which words are coming
/// ([`WordSink::prefetch_short_words`]) but receives the *other*, older
/// batch: a count table gets the time of a whole batch of tokenizing to
/// bring the slots of the new words into the cache.
#[derive(Debug, Clone)]
struct Emitter {
    /// Lowercasing buffer.
    scratch: String,
    /// The two batches, `batch[..BATCH]` and `batch[BATCH..]`.
    batch: [ShortWord; 2 * BATCH],
    /// Where the next word goes, in the batch being filled.
    next: usize,
    /// The end of the batch being filled (`BATCH` or `2 * BATCH`).
    end: usize,
    /// Whether the other batch is full and announced, not yet handed over.
    announced: bool,
}

impl Default for Emitter {
    fn default() -> Self {
        Emitter {
            scratch: String::new(),
            batch: [ShortWord::NONE; 2 * BATCH],
            next: 0,
            end: BATCH,
            announced: false,
        }
    }
}

impl Emitter {
    /// [`word`](Self::word) of the tokenizer's pending word: a long one is
    /// lowercased in place and given away, leaving `pending` empty.
    fn pending_word<S: WordSink + ?Sized>(&mut self, pending: &mut String, sink: &mut S) {
        if pending.len() > OWN_ABOVE {
            self.flush(sink);
            sink.owned_word(unicode::into_lower(std::mem::take(pending)));
        } else {
            self.word(pending, sink);
        }
    }

    /// A short word from the fast path, kept if `keep` (written either way,
    /// to spare a hard-to-predict branch).
    #[inline(always)]
    fn short<S: WordSink + ?Sized>(&mut self, word: ShortWord, keep: bool, sink: &mut S) {
        // The mask spares a bounds check: `next` is below `2 * BATCH`.
        self.batch[self.next & (2 * BATCH - 1)] = word;
        self.next += usize::from(keep);
        if self.next == self.end {
            self.swap_batches(sink);
        }
    }

    /// Announces the full batch, hands over the other one, and starts
    /// filling that one. Not inlined: the loop that calls [`short`](Self::short)
    /// stays small.
    #[inline(never)]
    fn swap_batches<S: WordSink + ?Sized>(&mut self, sink: &mut S) {
        let (full, other) = self.batch.split_at(BATCH);
        let (full, other) = if self.end == BATCH {
            (full, other)
        } else {
            (other, full)
        };
        sink.prefetch_short_words(full);
        if self.announced {
            sink.short_words(other);
        }
        self.announced = true;
        self.next = self.end % (2 * BATCH);
        self.end = self.next + BATCH;
    }

    /// Hands all batched words over, in order.
    #[inline]
    fn flush<S: WordSink + ?Sized>(&mut self, sink: &mut S) {
        let start = self.end - BATCH;
        if self.announced {
            let other = BATCH - start;
            sink.short_words(&self.batch[other..other + BATCH]);
            self.announced = false;
        }
        if self.next > start {
            sink.short_words(&self.batch[start..self.next]);
            self.next = start;
        }
    }

    /// Lowercases and filters a word of ASCII letters.
    fn ascii<S: WordSink + ?Sized>(&mut self, word: &str, has_upper: bool, sink: &mut S) {
        self.flush(sink);
        if word.len() > OWN_ABOVE {
            sink.owned_word(unicode::lower(word));
            return;
        }
        let word = if has_upper {
            self.scratch.clear();
            self.scratch.push_str(word);
            self.scratch.make_ascii_lowercase();
            self.scratch.as_str()
        } else {
            word
        };
        if !is_stop_bytes(word.as_bytes()) {
            sink.word(word);
        }
    }

    /// Lowercases and filters a word whose characters all pass
    /// [`unicode::lower_is_alpha`].
    fn word<S: WordSink + ?Sized>(&mut self, word: &str, sink: &mut S) {
        if word.len() > OWN_ABOVE {
            // Far too long to be a stop word.
            self.flush(sink);
            sink.owned_word(unicode::lower(word));
            return;
        }
        if word.is_ascii() {
            self.ascii(word, true, sink);
            return;
        }
        self.scratch.clear();
        unicode::push_lower(word, &mut self.scratch);
        if is_stop_bytes(self.scratch.as_bytes()) {
            return;
        }
        match ShortWord::new(&self.scratch) {
            Some(short) => self.short(short, true, sink),
            None => {
                self.flush(sink);
                sink.word(&self.scratch);
            }
        }
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer {
            simd: Simd::selected(),
            line: Line::default(),
            in_token: false,
            poisoned: false,
            pending: String::new(),
            pending_start: 0,
            aside: None,
            set_aside_above: None,
            set_aside: Vec::new(),
            base: 0,
            out: Emitter::default(),
        }
    }
}

impl Tokenizer {
    /// A tokenizer at the start of its input, on the path of
    /// [`Simd::selected`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A tokenizer on the given path (all paths give the same words).
    ///
    /// # Errors
    ///
    /// [`SimdError::Unavailable`] when this processor cannot run it.
    pub fn with_simd(simd: Simd) -> Result<Self, SimdError> {
        if !simd.is_available() {
            return Err(SimdError::Unavailable(simd));
        }
        Ok(Tokenizer {
            simd,
            ..Self::default()
        })
    }

    /// The path this tokenizer classifies bytes with.
    pub fn simd(&self) -> Simd {
        self.simd
    }

    /// Tokenizes the next piece of the input.
    pub fn feed<S: WordSink + ?Sized>(&mut self, text: &str, sink: &mut S) {
        self.feed_batched(text, sink);
        self.out.flush(sink);
        self.base += text.len() as u64;
    }

    /// Sets words longer than `limit` bytes aside: rather than build them, the
    /// tokenizer notes where they lie in the input and a checksum of their
    /// bytes ([`take_set_aside`](Self::take_set_aside)); the map step's
    /// workers do this, so that no process but the driver holds a huge word.
    pub(crate) fn set_aside_above(&mut self, limit: usize) {
        self.set_aside_above = Some(limit);
    }

    /// [`feed`](Self::feed) of a piece that starts at `offset` of the input
    /// (the positions of words set aside are offsets of the input, not counts
    /// of the text fed: lossy decoding feeds `U+FFFD` for invalid bytes).
    pub(crate) fn feed_at<S: WordSink + ?Sized>(&mut self, text: &str, offset: u64, sink: &mut S) {
        self.base = offset;
        self.feed(text, sink);
    }

    /// The words set aside since the last call.
    pub(crate) fn take_set_aside(&mut self) -> Vec<LongWord> {
        std::mem::take(&mut self.set_aside)
    }

    /// [`feed`](Self::feed), possibly leaving short words in the batch.
    fn feed_batched<S: WordSink + ?Sized>(&mut self, text: &str, sink: &mut S) {
        let n = text.len();
        let b = text.as_bytes();
        let mut i = 0;
        if self.in_token {
            i = self.resume_token(text, sink);
            if self.in_token {
                return;
            }
        }
        // The block loop runs wherever it can; after it stops at a non-ASCII
        // byte, this path goes on to `scalar_until`.
        let mut scalar_until = 0;
        while i < n {
            if i >= scalar_until && self.line != Line::StartDot {
                if n - i < blocks::MIN_RUN {
                    scalar_until = n;
                    continue;
                }
                let stop = self.simd.dispatch(blocks::Blocks {
                    text,
                    at: i,
                    line: self.line,
                    out: &mut self.out,
                    sink,
                });
                i = stop.at;
                self.line = stop.line;
                scalar_until = stop.resume_after;
                continue;
            }
            match self.line {
                Line::Body => i = self.body(text, i, scalar_until, sink),
                Line::Start => {
                    // `line.lstrip()`: skip Python whitespace.
                    let byte = b[i];
                    if byte < 0x80 {
                        if is_ascii_space(byte) {
                            i += 1;
                        } else if byte == b'.' {
                            self.line = Line::StartDot;
                            i += 1;
                        } else {
                            self.line = Line::Body;
                        }
                    } else {
                        let c = char_at(text, i);
                        if unicode::is_space(c) {
                            i += c.len_utf8();
                        } else {
                            self.line = Line::Body;
                        }
                    }
                }
                Line::StartDot => {
                    if b[i] == b'.' {
                        self.line = Line::Skip;
                        i += 1;
                    } else {
                        // The dot was punctuation, i.e. a space.
                        self.line = Line::Body;
                    }
                }
                Line::Skip => match b[i..].iter().position(|&x| x == b'\n' || x == b'\r') {
                    Some(p) => {
                        i += p + 1;
                        self.line = Line::Start;
                    }
                    None => return,
                },
            }
        }
    }

    /// Ends the input: a word cut by the end of the last piece is complete.
    /// The tokenizer is then ready for a new input.
    pub fn finish<S: WordSink + ?Sized>(&mut self, sink: &mut S) {
        if self.in_token && !self.poisoned {
            self.end_pending(self.base, sink);
        }
        self.out.flush(sink);
        self.in_token = false;
        self.poisoned = false;
        self.aside = None;
        self.line = Line::Start;
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            self.pending = String::new();
        }
    }

    /// Adds `text`, a continuation of the pending word, to it; past the
    /// set-aside limit, keeps only its checksum.
    fn grow_pending(&mut self, text: &str) {
        if let Some(sum) = &mut self.aside {
            sum.update(text.as_bytes());
            return;
        }
        self.pending.push_str(text);
        if self
            .set_aside_above
            .is_some_and(|limit| self.pending.len() > limit)
        {
            let mut sum = Checksum::default();
            sum.update(self.pending.as_bytes());
            self.aside = Some(sum);
            // Give the memory back: the word will not be built.
            self.pending = String::new();
        }
    }

    /// Hands over the pending word, which ends at input offset `end` and
    /// passed its checks.
    fn end_pending<S: WordSink + ?Sized>(&mut self, end: u64, sink: &mut S) {
        match self.aside.take() {
            Some(sum) => self.set_aside.push(LongWord {
                start: self.pending_start,
                end,
                digest: sum.finish(),
            }),
            None => self.out.pending_word(&mut self.pending, sink),
        }
    }

    /// The words of a line body, from byte `i` up to and including the end of
    /// the line (then the line state is [`Line::Start`]) or of the piece, or
    /// up to the first token boundary at or after `limit`. Returns where it
    /// stopped.
    #[inline]
    fn body<S: WordSink + ?Sized>(
        &mut self,
        text: &str,
        mut i: usize,
        limit: usize,
        sink: &mut S,
    ) -> usize {
        let b = text.as_bytes();
        let n = b.len();
        loop {
            if i >= limit {
                return i;
            }
            let mut c;
            loop {
                if i >= n {
                    return n;
                }
                c = CLASS[usize::from(b[i])];
                if c != SEP {
                    break;
                }
                i += 1;
            }
            if c >= LOWER {
                let start = i;
                if let Some(chunk) = b[start..].first_chunk::<16>() {
                    // Fast path: the word's letters are within 16 bytes.
                    let v = u128::from_le_bytes(*chunk);
                    let letters = letter_mask(v);
                    if letters == HIGH_BITS {
                        // 16 letters or more.
                        i = self.token(text, start, start + 16, sink);
                        continue;
                    }
                    let len = ((!letters & HIGH_BITS).trailing_zeros() / 8) as usize;
                    let end = start + len;
                    let next = CLASS[usize::from(b[end])];
                    if next <= EOL {
                        let key = (v | CASE_BIT) & KEEP[len];
                        let keep = !is_stop_key(key, len);
                        self.out.short(ShortWord::from_ascii_key(key), keep, sink);
                        if next == EOL {
                            self.line = Line::Start;
                            return end + 1;
                        }
                        i = end + 1;
                    } else {
                        // A digit or a non-ASCII character follows.
                        i = self.token(text, start, end, sink);
                    }
                    continue;
                }
                // Near the end of the piece: byte by byte.
                let mut acc = c;
                i += 1;
                while i < n {
                    let d = CLASS[usize::from(b[i])];
                    if d < LOWER {
                        break;
                    }
                    acc |= d;
                    i += 1;
                }
                if i < n && CLASS[usize::from(b[i])] <= EOL {
                    self.out.ascii(&text[start..i], acc & UPPER_BIT != 0, sink);
                    continue;
                }
                // A digit, a non-ASCII character, or the end of the piece.
                i = self.token(text, start, i, sink);
            } else if c == EOL {
                self.line = Line::Start;
                return i + 1;
            } else if c == HIGH {
                let ch = char_at(text, i);
                if unicode::is_space(ch) {
                    i += ch.len_utf8();
                } else {
                    i = self.token(text, i, i, sink);
                }
            } else {
                i = self.token(text, i, i, sink);
            }
        }
    }

    /// General path for a word starting at byte `start`, of which the bytes
    /// before `i` are known to be ASCII letters. Returns the end of the word.
    fn token<S: WordSink + ?Sized>(
        &mut self,
        text: &str,
        start: usize,
        i: usize,
        sink: &mut S,
    ) -> usize {
        let (end, poisoned) = scan_token(text, i, false);
        if end == text.len() {
            self.in_token = true;
            self.poisoned = poisoned;
            self.pending.clear();
            self.aside = None;
            self.pending_start = self.base + start as u64;
            if !poisoned {
                self.grow_pending(&text[start..]);
            }
        } else if !poisoned {
            self.out.word(&text[start..end], sink);
        }
        end
    }

    /// Continues a word cut by the end of the previous piece.
    fn resume_token<S: WordSink + ?Sized>(&mut self, text: &str, sink: &mut S) -> usize {
        let (end, poisoned) = scan_token(text, 0, self.poisoned);
        if poisoned {
            self.pending.clear();
            self.aside = None;
        } else {
            self.grow_pending(&text[..end]);
        }
        self.poisoned = poisoned;
        if end == text.len() {
            return end;
        }
        if !poisoned {
            self.end_pending(self.base + end as u64, sink);
        }
        self.in_token = false;
        self.poisoned = false;
        self.pending.clear();
        end
    }
}

/// Finds the end of the word containing byte `i` (the first separator at or
/// after `i`, or the end of `text`), and whether a character of it fails
/// [`unicode::lower_is_alpha`] (or `poisoned` was already set).
fn scan_token(text: &str, mut i: usize, mut poisoned: bool) -> (usize, bool) {
    let b = text.as_bytes();
    while i < b.len() {
        let c = CLASS[usize::from(b[i])];
        if c >= LOWER {
            i += 1;
        } else if c <= EOL {
            break;
        } else if c == BAD {
            poisoned = true;
            i += 1;
        } else {
            let ch = char_at(text, i);
            if unicode::is_space(ch) {
                break;
            }
            poisoned = poisoned || !unicode::lower_is_alpha(ch);
            i += ch.len_utf8();
        }
    }
    (i, poisoned)
}

/// Calls `f` with every word of a complete text, in order.
pub fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    let mut tokenizer = Tokenizer::new();
    tokenizer.feed(text, &mut f);
    tokenizer.finish(&mut f);
}

/// The words of a complete text, in order.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_word(text, |w| out.push(w.to_owned()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_match_the_list() {
        for w in STOP_WORDS {
            assert!(is_stop_word(w), "{w}");
        }
        for w in ["", "b", "ab", "th", "thee", "with ", "The", "pyr"] {
            assert!(!is_stop_word(w), "{w:?}");
        }
    }

    #[test]
    fn stop_table_is_perfect() {
        let mut slots: Vec<usize> = STOP_WORDS.iter().map(|w| stop_slot(pack(w))).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), STOP_WORDS.len());
    }

    #[test]
    fn stop_keys_are_the_stop_words() {
        let key = |w: &str| ShortWord::new(w).expect("short").key();
        for w in STOP_WORDS {
            assert!(is_stop_key(key(w), w.len()), "{w}");
        }
        for w in ["b", "ab", "th", "thee", "withs", "pyr", "aaaa", "the the"] {
            assert!(!is_stop_key(key(w), w.len()), "{w:?}");
        }
        assert_eq!(KEEP[0], 0);
        assert_eq!(KEEP[1], 0xff);
        assert_eq!(KEEP[16], u128::MAX);
    }

    #[test]
    fn letter_mask_agrees_with_byte_classes() {
        for b in 0..=255u8 {
            for pos in 0..16 {
                let mut bytes = [b'x'; 16];
                bytes[pos] = b;
                let mask = letter_mask(u128::from_le_bytes(bytes));
                let is_letter = mask >> (8 * pos + 7) & 1 == 1;
                assert_eq!(is_letter, CLASS[usize::from(b)] >= LOWER, "{b:#x} at {pos}");
                assert_eq!(mask | (0x80 << (8 * pos)), HIGH_BITS);
            }
        }
    }

    #[test]
    fn byte_classes_agree_with_python_rules() {
        for b in 0u8..0x80 {
            let c = char::from(b);
            let class = CLASS[usize::from(b)];
            if b == b'\n' || b == b'\r' {
                assert_eq!(class, EOL);
            } else if unicode::is_space(c) || unicode::is_punctuation(c) {
                assert_eq!(class, SEP, "{b:#x}");
            } else if unicode::is_alpha(c) {
                assert!(class >= LOWER, "{b:#x}");
                assert_eq!(class == UPPER, c.is_ascii_uppercase());
            } else {
                assert_eq!(class, BAD, "{b:#x}");
            }
            assert_eq!(is_ascii_space(b), unicode::is_space(c), "{b:#x}");
        }
        assert!(CLASS[0x80..].iter().all(|&c| c == HIGH));
    }

    #[test]
    fn chapter_rules() {
        assert_eq!(words("The Process, and the pool."), ["process", "pool"]);
        assert_eq!(words("  .. note:: skipped\nkept"), ["kept"]);
        assert_eq!(words(".x .. y"), ["x", "y"]);
        assert_eq!(words("a2b x_y don't"), ["x", "y", "don", "t"]);
        assert_eq!(words("Ⅻ café ΟΔΟΣ İstanbul"), ["café", "οδος"]);
        assert_eq!(
            words("one\rtwo\r\n..three\r..four\nfive"),
            ["one", "two", "five"]
        );
        assert_eq!(words("a\u{a0}b\u{3000}c\x1cd"), ["b", "c", "d"]);
    }

    /// Feeds `text` one character at a time: never the 16-byte fast path.
    fn words_char_by_char(text: &str) -> Vec<String> {
        let mut got = Vec::new();
        let mut sink = |w: &str| got.push(w.to_owned());
        let mut tokenizer = Tokenizer::new();
        let mut buf = [0u8; 4];
        for c in text.chars() {
            tokenizer.feed(c.encode_utf8(&mut buf), &mut sink);
        }
        tokenizer.finish(&mut sink);
        got
    }

    #[test]
    fn fast_path_handles_every_word_length_and_ending() {
        let letters = "AbCdEfGhIjKlMnOpQrStUvWxYz";
        for len in 1..=20 {
            let word = &letters[..len];
            for end in [
                " ", ",", "\n", "\r", "\r\n", "1", "é", "\u{a0}", "Ⅻ", "_x", "..",
            ] {
                let text = format!("{word}{end} then padding beyond sixteen bytes");
                let fast = words(&text);
                assert_eq!(fast, words_char_by_char(&text), "{text:?}");
                let lower = word.to_ascii_lowercase();
                let first = match end {
                    "1" | "Ⅻ" => None,
                    "é" => Some(format!("{lower}é")),
                    _ if STOP_WORDS.contains(&lower.as_str()) => None,
                    _ => Some(lower),
                };
                let x = (end == "_x").then(|| "x".to_owned());
                let rest = ["then", "padding", "beyond", "sixteen", "bytes"].map(String::from);
                let expected: Vec<String> = first.into_iter().chain(x).chain(rest).collect();
                assert_eq!(fast, expected, "{text:?}");
            }
        }
    }

    /// The words of `text` on `simd`, fed whole.
    fn words_on(simd: Simd, text: &str) -> Vec<String> {
        let mut got = Vec::new();
        let mut sink = |w: &str| got.push(w.to_owned());
        let mut tokenizer = Tokenizer::with_simd(simd).expect("available");
        tokenizer.feed(text, &mut sink);
        tokenizer.finish(&mut sink);
        got
    }

    #[test]
    fn block_edges_on_every_path() {
        // Each case is shifted across two block boundaries, and padded so that
        // the block loop sees it.
        let long_blank = format!("\n{}..skipped\nkept", " ".repeat(70));
        let long_skip = format!("..{}\nkept", " skipped".repeat(20));
        let long_poison = format!("x{}1 kept", "a".repeat(70));
        let long_word = format!("{} kept", "Abc".repeat(30));
        let cases = [
            "word kept",
            "\n..skipped\nkept",
            "\n  ..skipped\r\nkept",
            "\r\n.x kept",
            "\n. .kept",
            "\n.\n..skipped\rkept",
            long_blank.as_str(),
            long_skip.as_str(),
            long_poison.as_str(),
            long_word.as_str(),
            "sixteenletterswd seventeenletters kept",
            "ab1 a\u{1}b é kept",
            "\n\u{3000}..skipped\nkept",
            "\n \u{a0}x kept",
            "café kept",
            "x\u{85}..kept",
        ];
        for case in cases {
            for shift in 0..150 {
                let text = format!("{}{case} {}", "a ".repeat(shift / 2), "z".repeat(shift % 2));
                let text = format!("{text}{}", " pad".repeat(40));
                let expected = words_char_by_char(&text);
                for simd in Simd::available() {
                    assert_eq!(words_on(simd, &text), expected, "{simd}: {text:?}");
                }
            }
        }
    }

    #[test]
    fn pieces_of_any_size_give_the_same_words() {
        let text = "Hello, wörld ΟΔΟΣ x1y\r\n  ..skip\r\n\u{85}..skip too\nlast Σ";
        let whole = words(text);
        for size in 1..=text.len() {
            let mut got = Vec::new();
            let mut sink = |w: &str| got.push(w.to_owned());
            let mut tokenizer = Tokenizer::new();
            let mut rest = text;
            while !rest.is_empty() {
                let mut cut = size.min(rest.len());
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                tokenizer.feed(&rest[..cut], &mut sink);
                rest = &rest[cut..];
            }
            tokenizer.finish(&mut sink);
            assert_eq!(got, whole, "piece size {size}");
        }
    }
}
