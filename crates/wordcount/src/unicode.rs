//! Python 3 `str` character semantics, from tables generated out of Python
//! itself (see `tools/gen_tables.py`).
//!
//! Rust's own character predicates differ from Python's in ways that change
//! word counts: [`char::is_whitespace`] is false for U+001C..U+001F, which
//! Python's `str.isspace()` accepts; [`char::is_alphabetic`] is the Unicode
//! `Alphabetic` property, which includes letter numbers such as `Ⅻ` and many
//! combining marks that `str.isalpha()` rejects; and [`char::to_lowercase`]
//! knows nothing of the final-sigma rule of `str.lower()`. The functions here
//! follow Python 3.11 (Unicode 14.0.0) exactly.

mod tables;

/// Unicode version the tables were generated from (that of Python 3.11's
/// `unicodedata`).
pub const UNICODE_VERSION: &str = tables::UNICODE_VERSION;

/// Python's `string.punctuation`: the 32 ASCII punctuation characters that the
/// chapter's code turns into spaces.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// `str.isspace()` of a single character: the characters Python's
/// `str.split()` splits on.
#[inline]
pub fn is_space(c: char) -> bool {
    let cp = u32::from(c);
    if cp < 0x80 {
        matches!(cp, 0x09..=0x0d | 0x1c..=0x20)
    } else {
        bitmap_lookup(&tables::SPACE_INDEX, &tables::SPACE_BLOCKS, c)
    }
}

/// Whether `c` is in Python's `string.punctuation` (ASCII punctuation only).
#[inline]
pub fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// `str.isalpha()` of a single character: its general category is one of
/// Lu, Ll, Lt, Lm or Lo.
#[inline]
pub fn is_alpha(c: char) -> bool {
    bitmap_lookup(&tables::ALPHA_INDEX, &tables::ALPHA_BLOCKS, c)
}

/// `c.lower().isalpha()`: whether a word containing `c` can still pass the
/// chapter's `word.lower().isalpha()` test.
///
/// A word passes that test exactly when every one of its characters has this
/// property (both lowercase forms of `Σ`, `σ` and `ς`, are letters, so the
/// final-sigma rule cannot change the outcome). It differs from [`is_alpha`]
/// for characters such as `İ`, a letter whose lowercase `i̇` ends in a
/// combining mark.
#[inline]
pub fn lower_is_alpha(c: char) -> bool {
    bitmap_lookup(&tables::KEEP_INDEX, &tables::KEEP_BLOCKS, c)
}

#[inline]
fn bitmap_lookup(index: &[u8], blocks: &[u64], c: char) -> bool {
    let cp = u32::from(c) as usize;
    match index.get(cp >> 6) {
        Some(&block) => (blocks[usize::from(block)] >> (cp & 63)) & 1 != 0,
        None => false,
    }
}

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let cp = u32::from(c);
    let i = ranges.partition_point(|&(_, hi)| hi < cp);
    ranges.get(i).is_some_and(|&(lo, _)| lo <= cp)
}

/// GREEK CAPITAL LETTER SIGMA, the one character whose lowercase depends on
/// its context.
const CAPITAL_SIGMA: char = '\u{3a3}';
const SMALL_SIGMA: char = '\u{3c3}';
const FINAL_SIGMA: char = '\u{3c2}';

/// The lowercase of a character taken on its own: one character, or (for a
/// few, such as `İ`) several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LowerOf {
    Char(char),
    Str(&'static str),
}

impl LowerOf {
    fn len_utf8(self) -> usize {
        match self {
            LowerOf::Char(c) => c.len_utf8(),
            LowerOf::Str(s) => s.len(),
        }
    }
}

#[inline]
fn lower_of(c: char) -> LowerOf {
    if c.is_ascii() {
        return LowerOf::Char(c.to_ascii_lowercase());
    }
    let cp = u32::from(c);
    let delta = match tables::LOWER_INDEX.get((cp >> 6) as usize) {
        Some(&block) => tables::LOWER_BLOCKS[usize::from(block)][(cp & 63) as usize],
        None => 0,
    };
    if delta != 0 {
        // The generator only writes deltas to valid scalar values.
        LowerOf::Char(char::from_u32(cp.wrapping_add_signed(delta)).unwrap_or(c))
    } else if let Ok(i) = tables::LOWER_MULTI.binary_search_by_key(&cp, |&(from, _)| from) {
        LowerOf::Str(tables::LOWER_MULTI[i].1)
    } else {
        LowerOf::Char(c)
    }
}

/// Appends the lowercase of `c` taken on its own (as `c.lower()` in Python;
/// `Σ` gives `σ`).
#[inline]
pub fn push_lower_char(c: char, out: &mut String) {
    match lower_of(c) {
        LowerOf::Char(l) => out.push(l),
        LowerOf::Str(l) => out.push_str(l),
    }
}

/// Appends `s.lower()` to `out`, exactly as Python 3's `str.lower()` computes
/// it: full lowercase mappings (`İ` becomes two code points) and the
/// final-sigma rule for `Σ`.
pub fn push_lower(s: &str, out: &mut String) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out[start..].make_ascii_lowercase();
        return;
    }
    for (i, c) in s.char_indices() {
        if c == CAPITAL_SIGMA {
            out.push(if is_final_sigma(s, i) {
                FINAL_SIGMA
            } else {
                SMALL_SIGMA
            });
        } else {
            push_lower_char(c, out);
        }
    }
}

/// Python 3's `str.lower()`.
pub fn lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_lower(s, &mut out);
    out
}

/// Python 3's `str.lower()` of a string given away: the lowercase is written
/// over it, so that a long word is never held twice.
///
/// Lowercase is written left to right behind the reading of the original.
/// A few characters (`Ⱥ`, `Ⱦ`, `İ`) lowercase to more bytes than they take;
/// where some do, the text is first moved right by the most that the
/// lowercase of any of its beginnings outgrows it, so the writing never
/// catches up with the reading. The final-sigma rule looks back at the
/// characters already read (kept as one flag) and ahead at the ones not yet
/// overwritten.
pub fn into_lower(s: String) -> String {
    if s.is_ascii() {
        let mut s = s;
        s.make_ascii_lowercase();
        return s;
    }
    let mut shift = 0usize;
    let mut net = 0isize;
    for c in s.chars() {
        net += lower_of(c).len_utf8() as isize - c.len_utf8() as isize;
        shift = shift.max(net.max(0) as usize);
    }
    let mut bytes = s.into_bytes();
    let len = bytes.len();
    if shift > 0 {
        bytes.resize(len + shift, 0);
        bytes.copy_within(0..len, shift);
    }
    let end = len + shift;
    let (mut read, mut write) = (shift, 0);
    // The context of capital sigmas, followed only where there are some.
    let sigmas = std::str::from_utf8(&bytes[shift..end]).is_ok_and(|t| t.contains(CAPITAL_SIGMA));
    // Whether the last character read that is not case-ignorable is cased.
    let mut after_cased = false;
    while read < end {
        let (c, n) = char_at_bytes(&bytes[..end], read);
        let lowered = if c == CAPITAL_SIGMA {
            let is_final = after_cased && !next_significant_is_cased(&bytes[read + n..end]);
            LowerOf::Char(if is_final { FINAL_SIGMA } else { SMALL_SIGMA })
        } else {
            lower_of(c)
        };
        if sigmas && !in_ranges(&tables::SIGMA_IGNORABLE, c) {
            after_cased = in_ranges(&tables::SIGMA_CASED, c);
        }
        read += n;
        let m = lowered.len_utf8();
        match lowered {
            LowerOf::Char(l) => {
                l.encode_utf8(&mut bytes[write..write + m]);
            }
            LowerOf::Str(l) => bytes[write..write + m].copy_from_slice(l.as_bytes()),
        }
        write += m;
    }
    bytes.truncate(write);
    // Valid by construction: whole characters written one after another.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The character that starts at byte `i` of valid UTF-8 `bytes`, and its length.
fn char_at_bytes(bytes: &[u8], i: usize) -> (char, usize) {
    let n = match bytes[i] {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    let end = (i + n).min(bytes.len());
    let c = std::str::from_utf8(&bytes[i..end])
        .ok()
        .and_then(|s| s.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    (c, n)
}

/// Whether the first character of valid UTF-8 `rest` that is not case-ignorable is cased.
fn next_significant_is_cased(rest: &[u8]) -> bool {
    let mut i = 0;
    while i < rest.len() {
        let (c, n) = char_at_bytes(rest, i);
        if !in_ranges(&tables::SIGMA_IGNORABLE, c) {
            return in_ranges(&tables::SIGMA_CASED, c);
        }
        i += n;
    }
    false
}

/// CPython's `handle_capital_sigma`: the `Σ` at byte `i` of `s` is final when
/// a cased character precedes it and none follows it, skipping
/// case-ignorable characters in both directions.
fn is_final_sigma(s: &str, i: usize) -> bool {
    let before = s[..i]
        .chars()
        .rev()
        .find(|&c| !in_ranges(&tables::SIGMA_IGNORABLE, c));
    if !before.is_some_and(|c| in_ranges(&tables::SIGMA_CASED, c)) {
        return false;
    }
    let after = s[i + CAPITAL_SIGMA.len_utf8()..]
        .chars()
        .find(|&c| !in_ranges(&tables::SIGMA_IGNORABLE, c));
    !after.is_some_and(|c| in_ranges(&tables::SIGMA_CASED, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_follow_python() {
        for c in ['\t', '\n', '\x0b', '\x0c', '\r', '\x1c', '\x1f', ' '] {
            assert!(is_space(c), "{c:?}");
        }
        for c in [
            '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{200a}', '\u{3000}',
        ] {
            assert!(is_space(c), "{c:?}");
        }
        for c in ['\u{200b}', '\u{feff}', '\u{180e}', 'a', '_', '\0'] {
            assert!(!is_space(c), "{c:?}");
        }
    }

    #[test]
    fn alpha_is_letter_categories_only() {
        assert!(is_alpha('a') && is_alpha('É') && is_alpha('ß') && is_alpha('中'));
        assert!(is_alpha('ʰ'), "Lm counts");
        assert!(!is_alpha('Ⅻ'), "Nl does not count");
        assert!(!is_alpha('\u{301}'), "Mn does not count");
        assert!(!is_alpha('1') && !is_alpha('_') && !is_alpha('\u{10ffff}'));
        assert!(is_alpha('İ') && !lower_is_alpha('İ'));
        assert!(lower_is_alpha('Σ') && lower_is_alpha('\u{212a}'));
    }

    #[test]
    fn lower_follows_python() {
        assert_eq!(lower("ΟΔΟΣ"), "οδος");
        assert_eq!(lower("ΣΑΣ"), "σας");
        assert_eq!(lower("Σ"), "σ");
        assert_eq!(lower("AΣ"), "aς");
        assert_eq!(lower("ΑΣʰ"), "αςʰ", "modifier letters are case-ignorable");
        assert_eq!(lower("ʰΣ"), "ʰσ");
        assert_eq!(lower("ΑΣΑ"), "ασα");
        assert_eq!(lower("İ"), "i\u{307}");
        assert_eq!(lower("\u{212a}ELVIN"), "kelvin");
        assert_eq!(lower("Straße"), "straße");
    }

    #[test]
    fn lower_in_place_equals_lower() {
        let cases = [
            "",
            "ascii ONLY",
            "ΟΔΟΣ",
            "ΣΑΣ",
            "Σ",
            "AΣ",
            "ΑΣʰ",
            "ʰΣ",
            "ΑΣΑ",
            "ΑΣʰʰʰΑ",
            "İ",
            "İİİabc",
            "ȺȾȺ",
            "ẞȺΩ\u{212a}Ⱦ",
            "\u{212a}\u{212a}\u{212a}ȺȺȺȺ",
            "ȺΣ",
            "ΣȺ",
            "ΑΣȺ",
            "ĲǅǈǋǲΣ",
            "\u{10400}\u{10428}ΣΣ",
        ];
        for case in cases {
            assert_eq!(into_lower(case.to_owned()), lower(case), "{case:?}");
        }
        // Every character that has a lowercase, around sigmas and growing letters.
        let all: String = (0..0x11000u32)
            .filter_map(char::from_u32)
            .filter(|&c| lower(&c.to_string()) != c.to_string())
            .collect();
        for around in ["", "Σ", "Ⱥ", "ʰΣ"] {
            let text = format!("{around}{all}{around}");
            assert_eq!(into_lower(text.clone()), lower(&text));
        }
    }
}
