//! Byte classes of 64 bytes at a time, as bit masks, on the widest vector
//! unit the processor has.
//!
//! The [`Tokenizer`](super::Tokenizer) asks one question of every byte of a
//! block — is it ASCII whitespace, a line end, punctuation, a dot, a letter,
//! or not ASCII at all — and gets the answers as six 64-bit masks (bit `k`
//! for byte `k`), from which it finds lines and words with integer
//! arithmetic ([`super::blocks`]). Three classifiers give the same masks:
//! AVX-512BW (one 64-byte vector), AVX2 (two 32-byte vectors), and a
//! portable one that works on 8 bytes per `u64` (SWAR). [`Simd`] names
//! them; the best one the processor has is chosen at run time, and the
//! `WORDCOUNT_SIMD` environment variable can force another (tests run every
//! path this way).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
use crate::x86;

/// Bytes classified at once.
pub(crate) const BLOCK: usize = 64;

/// The classes of the bytes of one block, one bit per byte (bit `k` for
/// byte `k`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Masks {
    /// Separators: ASCII Python whitespace and `string.punctuation`.
    pub(crate) sep: u64,
    /// ASCII Python whitespace (`\t`..=`\r`, `\x1c`..=`\x1f`, space), line
    /// ends included: what `lstrip()` strips.
    pub(crate) space: u64,
    /// `\n` and `\r`: line ends (universal newlines).
    pub(crate) eol: u64,
    /// `.`, which starts a skipped line when doubled.
    pub(crate) dot: u64,
    /// `A`..=`Z` and `a`..=`z`.
    pub(crate) letter: u64,
    /// Bytes of non-ASCII characters (0x80 and above).
    pub(crate) high: u64,
}

impl Masks {
    /// The masks of `block`, a byte at a time: the definition the
    /// classifiers are tested against.
    #[cfg(test)]
    pub(super) fn reference(block: &[u8; BLOCK]) -> Masks {
        let mut m = Masks::default();
        for (k, &b) in block.iter().enumerate() {
            let bit = 1u64 << k;
            let space = matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' ');
            let set = |mask: &mut u64, on: bool| {
                if on {
                    *mask |= bit;
                }
            };
            set(&mut m.sep, space || b.is_ascii_punctuation());
            set(&mut m.space, space);
            set(&mut m.eol, b == b'\n' || b == b'\r');
            set(&mut m.dot, b == b'.');
            set(&mut m.letter, b.is_ascii_alphabetic());
            set(&mut m.high, !b.is_ascii());
        }
        m
    }
}

/// A way of computing [`Masks`]. Implemented by zero-sized types; those of
/// the vector paths can only be made where the processor supports them.
pub(crate) trait Classify: Copy {
    /// The masks of `block`.
    fn classify(self, block: &[u8; BLOCK]) -> Masks;
}

/// Work that runs with a classifier: [`Simd::dispatch`] compiles it once per
/// path, each copy with its own instruction set enabled.
pub(crate) trait WithClassifier {
    /// What the work returns.
    type Output;

    /// Does the work with classifier `c`. Implementations should be
    /// `#[inline(always)]`, so that the whole loop is compiled for `c`'s
    /// instruction set.
    fn run<C: Classify>(self, c: C) -> Self::Output;
}

/// The code paths of the tokenizer: which instructions classify bytes.
///
/// All paths give the same words; they differ in speed only. The fastest one
/// the processor supports is used unless the `WORDCOUNT_SIMD` environment
/// variable names another ([`Simd::from_env`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Simd {
    /// Eight bytes per 64-bit integer operation (SWAR): any processor.
    Portable,
    /// 32-byte AVX2 vectors (x86-64 with AVX2, BMI1, BMI2 and LZCNT).
    Avx2,
    /// 64-byte AVX-512 vectors (x86-64 with AVX-512F and AVX-512BW, and
    /// what AVX2 needs).
    Avx512,
}

/// The environment variable that forces a path: `portable`, `avx2`,
/// `avx512`, or `auto` (the default: the fastest available).
pub const SIMD_ENV: &str = "WORDCOUNT_SIMD";

impl Simd {
    /// Every path, slowest first.
    pub const ALL: [Simd; 3] = [Simd::Portable, Simd::Avx2, Simd::Avx512];

    /// The name used by `WORDCOUNT_SIMD` and [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Simd::Portable => "portable",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }

    /// Whether this processor can run the path.
    pub fn is_available(self) -> bool {
        match self {
            Simd::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => x86::Avx2::detect().is_some(),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => x86::Avx512::detect().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The paths this processor can run, slowest first.
    pub fn available() -> Vec<Simd> {
        Simd::ALL.into_iter().filter(|s| s.is_available()).collect()
    }

    /// The fastest path this processor can run.
    pub fn detect() -> Simd {
        Simd::ALL
            .into_iter()
            .rev()
            .find(|s| s.is_available())
            .unwrap_or(Simd::Portable)
    }

    /// The path `WORDCOUNT_SIMD` asks for: [`detect`](Self::detect) when it
    /// is unset, empty or `auto`.
    ///
    /// # Errors
    ///
    /// When the variable names no path, or one this processor cannot run.
    pub fn from_env() -> Result<Simd, SimdError> {
        match std::env::var(SIMD_ENV) {
            Ok(v) if !v.is_empty() && v != "auto" => {
                let simd: Simd = v.parse()?;
                if simd.is_available() {
                    Ok(simd)
                } else {
                    Err(SimdError::Unavailable(simd))
                }
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Simd::detect()),
            Err(std::env::VarError::NotUnicode(v)) => {
                Err(SimdError::Unknown(v.to_string_lossy().into_owned()))
            }
        }
    }

    /// The path a [`Tokenizer::new`](super::Tokenizer::new) uses, decided
    /// once per process: [`from_env`](Self::from_env), or the fastest
    /// available path when the variable is not valid (the `wordcount`
    /// program reports that as an error before it counts).
    pub fn selected() -> Simd {
        static SELECTED: OnceLock<Simd> = OnceLock::new();
        *SELECTED.get_or_init(|| Simd::from_env().unwrap_or_else(|_| Simd::detect()))
    }

    /// Runs `work` with this path's classifier (the portable one if the
    /// processor lacks this path).
    #[inline]
    pub(crate) fn dispatch<W: WithClassifier>(self, work: W) -> W::Output {
        match self {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => match x86::Avx512::detect() {
                Some(avx512) => avx512.dispatch(work),
                None => work.run(Portable),
            },
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => match x86::Avx2::detect() {
                Some(avx2) => avx2.dispatch(work),
                None => work.run(Portable),
            },
            _ => work.run(Portable),
        }
    }
}

impl fmt::Display for Simd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Simd {
    type Err = SimdError;

    fn from_str(s: &str) -> Result<Simd, SimdError> {
        Simd::ALL
            .into_iter()
            .find(|simd| simd.name() == s)
            .ok_or_else(|| SimdError::Unknown(s.to_owned()))
    }
}

/// A tokenizer path that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimdError {
    /// No path has this name.
    #[error("{SIMD_ENV}: unknown path `{0}` (expected auto, portable, avx2 or avx512)")]
    Unknown(String),
    /// This processor lacks the instructions of the path.
    #[error("{SIMD_ENV}: this processor cannot run the {0} path")]
    Unavailable(Simd),
}

/// The portable classifier: SWAR on eight bytes per `u64`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Portable;

const fn splat(b: u8) -> u64 {
    u64::from_le_bytes([b; 8])
}

const HIGH: u64 = splat(0x80);
const LOW: u64 = splat(0x7f);

/// Bit 7 of each byte set where `y`'s byte (7-bit) is in `lo..=hi`.
#[inline(always)]
fn in_range(y: u64, lo: u8, hi: u8) -> u64 {
    // With 7-bit bytes, neither sum carries into the next byte.
    let at_least_lo = y + splat(0x80 - lo);
    let above_hi = y + splat(0x7f - hi);
    at_least_lo & !above_hi & HIGH
}

/// Bit 7 of each byte set where `y`'s byte (7-bit) equals `c`.
#[inline(always)]
fn equal(y: u64, c: u8) -> u64 {
    let x = y ^ splat(c);
    !(x + LOW) & HIGH
}

/// Gathers bit 7 of each byte into the low 8 bits, byte `k` to bit `k`.
#[inline(always)]
fn gather(wide: u64) -> u64 {
    // Bit 8k moves to bit 56 + k; no two partial products meet.
    ((wide >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

impl Classify for Portable {
    #[inline(always)]
    fn classify(self, block: &[u8; BLOCK]) -> Masks {
        let mut m = Masks::default();
        for (k, word) in block.chunks_exact(8).enumerate() {
            let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
            let ascii = !w & HIGH;
            let y = w & LOW;
            let space = (in_range(y, 0x09, 0x0d) | in_range(y, 0x1c, 0x20)) & ascii;
            let letter = in_range(y | splat(0x20), b'a', b'z') & ascii;
            let graphic = in_range(y, 0x21, 0x7e) & ascii;
            let digit = in_range(y, b'0', b'9');
            let punct = graphic & !letter & !digit;
            let eol = (equal(y, b'\n') | equal(y, b'\r')) & ascii;
            let dot = equal(y, b'.') & ascii;
            let shift = 8 * k;
            m.sep |= gather(space | punct) << shift;
            m.space |= gather(space) << shift;
            m.eol |= gather(eol) << shift;
            m.dot |= gather(dot) << shift;
            m.letter |= gather(letter) << shift;
            m.high |= gather(w & HIGH) << shift;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` with every classifier this processor has.
    fn each_classifier(mut f: impl FnMut(Simd, &dyn Fn(&[u8; BLOCK]) -> Masks)) {
        struct One<'a>(&'a [u8; BLOCK]);
        impl WithClassifier for One<'_> {
            type Output = Masks;
            fn run<C: Classify>(self, c: C) -> Masks {
                c.classify(self.0)
            }
        }
        for simd in Simd::available() {
            f(simd, &|block| simd.dispatch(One(block)));
        }
    }

    #[test]
    fn every_classifier_agrees_with_the_reference_on_every_byte() {
        each_classifier(|simd, classify| {
            for fill in [b'x', b' ', b'.', b'\n', 0, 0xff, 0x80, b'Z', b'7'] {
                for b in 0..=255u8 {
                    for pos in [0, 1, 7, 8, 31, 32, 33, 62, 63] {
                        let mut block = [fill; BLOCK];
                        block[pos] = b;
                        assert_eq!(
                            classify(&block),
                            Masks::reference(&block),
                            "{simd}: byte {b:#x} at {pos} among {fill:#x}"
                        );
                    }
                }
            }
        });
    }

    #[test]
    fn every_classifier_agrees_with_the_reference_on_random_blocks() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        each_classifier(|simd, classify| {
            for _ in 0..2000 {
                let mut block = [0u8; BLOCK];
                for b in &mut block {
                    let r = next();
                    // Mostly ASCII, some high bytes.
                    *b = if r % 5 == 0 {
                        r as u8 | 0x80
                    } else {
                        r as u8 & 0x7f
                    };
                }
                assert_eq!(classify(&block), Masks::reference(&block), "{simd}");
            }
        });
    }

    #[test]
    fn names_round_trip_and_errors_say_what_is_wrong() {
        for simd in Simd::ALL {
            assert_eq!(simd.name().parse::<Simd>(), Ok(simd));
            assert_eq!(simd.to_string(), simd.name());
        }
        let err = "sse9".parse::<Simd>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "WORDCOUNT_SIMD: unknown path `sse9` (expected auto, portable, avx2 or avx512)"
        );
        assert_eq!(
            SimdError::Unavailable(Simd::Avx512).to_string(),
            "WORDCOUNT_SIMD: this processor cannot run the avx512 path"
        );
    }

    #[test]
    fn portable_is_always_available_and_detect_is_the_fastest() {
        let available = Simd::available();
        assert_eq!(available.first(), Some(&Simd::Portable));
        assert_eq!(available.last(), Some(&Simd::detect()));
        if Simd::Avx512.is_available() {
            assert!(
                Simd::Avx2.is_available(),
                "the AVX-512 path needs AVX2's too"
            );
        }
    }
}
