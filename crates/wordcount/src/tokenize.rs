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
//! whitespace and case follow [`crate::unicode`]. ASCII letters, the bulk of
//! most text, are classified byte by byte through a table; a word is only
//! copied when it has to be lowercased, and only decoded character by
//! character when it holds non-ASCII characters.

use crate::unicode;

/// The chapter's 20 stop words, dropped after lowercasing.
pub const STOP_WORDS: [&str; 20] = [
    "a", "an", "and", "are", "as", "be", "by", "for", "if", "in", "is", "it", "of", "or", "py",
    "rst", "that", "the", "to", "with",
];

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
/// Memory is bounded by the longest word kept: a run of non-separator
/// characters that cannot be a word is skipped without being stored.
#[derive(Debug, Clone, Default)]
pub struct Tokenizer {
    line: Line,
    /// Inside a word cut by the end of the previous piece.
    in_token: bool,
    /// That word has a character that disqualifies it.
    poisoned: bool,
    /// The text of that word so far (empty when poisoned).
    pending: String,
    /// Lowercasing buffer.
    scratch: String,
}

impl Tokenizer {
    /// A tokenizer at the start of its input.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokenizes the next piece of the input.
    pub fn feed<S: WordSink + ?Sized>(&mut self, text: &str, sink: &mut S) {
        let n = text.len();
        let b = text.as_bytes();
        let mut i = 0;
        if self.in_token {
            i = self.resume_token(text, sink);
            if self.in_token {
                return;
            }
        }
        while i < n {
            match self.line {
                Line::Body => i = self.body(text, i, sink),
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
            emit_word(&self.pending, &mut self.scratch, sink);
        }
        self.in_token = false;
        self.poisoned = false;
        self.line = Line::Start;
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            self.pending = String::new();
        }
    }

    /// The words of a line body, from byte `i` up to and including the end of
    /// the line (then the line state is [`Line::Start`]) or of the piece.
    /// Returns where it stopped.
    #[inline]
    fn body<S: WordSink + ?Sized>(&mut self, text: &str, mut i: usize, sink: &mut S) -> usize {
        let b = text.as_bytes();
        let n = b.len();
        loop {
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
                // Fast path: a word of ASCII letters.
                let start = i;
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
                    emit_ascii(
                        &text[start..i],
                        acc & UPPER_BIT != 0,
                        &mut self.scratch,
                        sink,
                    );
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
            if !poisoned {
                self.pending.push_str(&text[start..]);
            }
        } else if !poisoned {
            emit_word(&text[start..end], &mut self.scratch, sink);
        }
        end
    }

    /// Continues a word cut by the end of the previous piece.
    fn resume_token<S: WordSink + ?Sized>(&mut self, text: &str, sink: &mut S) -> usize {
        let (end, poisoned) = scan_token(text, 0, self.poisoned);
        if poisoned {
            self.pending.clear();
        } else {
            self.pending.push_str(&text[..end]);
        }
        self.poisoned = poisoned;
        if end == text.len() {
            return end;
        }
        if !poisoned {
            emit_word(&self.pending, &mut self.scratch, sink);
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

/// Lowercases and filters a word of ASCII letters.
#[inline]
fn emit_ascii<S: WordSink + ?Sized>(
    word: &str,
    has_upper: bool,
    scratch: &mut String,
    sink: &mut S,
) {
    let word = if has_upper {
        scratch.clear();
        scratch.push_str(word);
        scratch.make_ascii_lowercase();
        scratch.as_str()
    } else {
        word
    };
    if !is_stop_bytes(word.as_bytes()) {
        sink.word(word);
    }
}

/// Lowercases and filters a word whose characters all pass
/// [`unicode::lower_is_alpha`].
fn emit_word<S: WordSink + ?Sized>(word: &str, scratch: &mut String, sink: &mut S) {
    if word.is_ascii() {
        emit_ascii(word, true, scratch, sink);
        return;
    }
    scratch.clear();
    unicode::push_lower(word, scratch);
    if !is_stop_bytes(scratch.as_bytes()) {
        sink.word(scratch);
    }
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
