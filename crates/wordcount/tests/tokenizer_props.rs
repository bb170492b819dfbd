//! Properties: the streaming tokenizer equals a plain char-by-char reading of
//! the chapter's rules built on the same Unicode tables, on every tokenizer
//! path of this processor, and counting a file in chunks equals counting it
//! whole.

use std::fs;
use std::num::NonZeroUsize;
use std::process::Command;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use wordcount::tokenize::{SIMD_ENV, STOP_WORDS, Simd, Tokenizer};
use wordcount::unicode::{is_alpha, is_punctuation, is_space, lower};
use wordcount::{
    Chunk, Counts, Dispatch, PlanOptions, Source, Threads, count_bytes, count_chunk, count_on,
    merge, plan_with,
};

/// The chapter's `file_to_words`, transcribed literally.
fn reference_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Universal newlines: `\r\n`, `\r` and `\n` end lines.
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        if line.trim_start_matches(is_space).starts_with("..") {
            continue;
        }
        let line: String = line
            .chars()
            .map(|c| if is_punctuation(c) { ' ' } else { c })
            .collect();
        for word in line.split(is_space).filter(|w| !w.is_empty()) {
            let word = lower(word);
            if word.chars().all(is_alpha) && !STOP_WORDS.contains(&word.as_str()) {
                out.push(word);
            }
        }
    }
    out
}

/// Characters worth mixing: ASCII letters and separators, line ends, dots,
/// digits, and the non-ASCII characters whose Python semantics differ from
/// Rust's or are context dependent.
const ALPHABET: &[&str] = &[
    "a", "b", "z", "A", "Q", "Z", "t", "h", "e", "T", "H", "E", "n", "d", "0", "9", " ", " ", "\t",
    "\n", "\r", "\r\n", ".", ".", ",", "'", "_", "-", "\u{b}", "\u{c}", "\u{1c}", "\u{1f}",
    "\u{7f}", "\0", "é", "É", "ß", "ẞ", "Σ", "Σ", "σ", "ς", "Α", "ʰ", "\u{301}", "\u{307}",
    "\u{345}", "\u{ad}", "\u{b7}", "İ", "ı", "\u{212a}", "Ⅻ", "ⅻ", "ǅ", "中", "Д", "😀", "𝔸",
    "\u{85}", "\u{a0}", "\u{1680}", "\u{2000}", "\u{2028}", "\u{3000}", "\u{200b}", "\u{feff}",
    "\u{fffd}",
];

fn mixed_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..200).prop_map(|v| v.concat())
}

/// Invalid UTF-8: stray bytes, cut sequences, a surrogate.
const INVALID: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\xe2\x80",
    b"\xed\xa0\x80",
    b"\xf0\x9f\x98",
    b"\x80",
];

/// Bytes that are mostly text with invalid UTF-8 sprinkled in.
fn mixed_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(ALPHABET).prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::sample::select(INVALID).prop_map(<[u8]>::to_vec),
    ];
    prop::collection::vec(piece, 0..200).prop_map(|v| v.concat())
}

/// Mostly ASCII text, the block loop's diet: letters, separators, line
/// ends, `..` lines, digits and control characters, long words, and now and
/// then a non-ASCII character (which hands a block to the char-by-char path).
const ASCII: &[&str] = &[
    "a",
    "b",
    "z",
    "A",
    "Q",
    "Z",
    "t",
    "h",
    "e",
    "T",
    "H",
    "E",
    "the",
    "and",
    "AN",
    "rst",
    "py",
    "word",
    "Words",
    "abcdefghijklmnop",
    "ABCDEFGHIJKLMNOPQ",
    "abcdefghijklmnopqrstuvwxyzabcdefg",
    " ",
    " ",
    " ",
    " ",
    "  ",
    "\t",
    ",",
    ".",
    ".",
    "..",
    ":",
    "(",
    "`",
    "'",
    "_",
    "-",
    "\n",
    "\n",
    "\r",
    "\r\n",
    "\u{b}",
    "\u{c}",
    "\u{1c}",
    "\u{1f}",
    "0",
    "9",
    "\0",
    "\u{7f}",
    "\u{1}",
];

/// The non-ASCII characters mixed into [`ASCII`] text.
const SPRINKLE: &[&str] = &[
    "é", "Σ", "ς", "\u{a0}", "\u{3000}", "\u{85}", "\u{2028}", "中", "İ",
];

fn ascii_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        40 => prop::sample::select(ASCII),
        1 => prop::sample::select(SPRINKLE),
    ];
    prop::collection::vec(piece, 0..1500).prop_map(|v| v.concat())
}

/// The words of `text`, fed whole, on `simd`.
fn words_on(simd: Simd, text: &str) -> Vec<String> {
    words_in_pieces(simd, text, &[])
}

/// The words of `text` fed in pieces cut at `cuts` (where those are char
/// boundaries), on `simd`.
fn words_in_pieces(simd: Simd, text: &str, cuts: &[usize]) -> Vec<String> {
    let mut got = Vec::new();
    let mut sink = |w: &str| got.push(w.to_owned());
    let mut tokenizer = Tokenizer::with_simd(simd).expect("an available path");
    assert_eq!(tokenizer.simd(), simd);
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|&c| c.min(text.len()))
        .filter(|&c| text.is_char_boundary(c))
        .collect();
    cuts.sort_unstable();
    let mut at = 0;
    for cut in cuts.into_iter().chain([text.len()]) {
        tokenizer.feed(&text[at..cut], &mut sink);
        at = cut;
    }
    tokenizer.finish(&mut sink);
    got
}

fn count_words(words: &[String]) -> Counts {
    words.iter().map(|w| (w.clone(), 1)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tokenizer_equals_reference(text in mixed_text()) {
        let expected = reference_words(&text);
        for simd in Simd::available() {
            prop_assert_eq!(&words_on(simd, &text), &expected, "{}", simd);
        }
    }

    #[test]
    fn pieces_do_not_matter(text in mixed_text(), cuts in prop::collection::vec(0usize..400, 0..8)) {
        let expected = reference_words(&text);
        for simd in Simd::available() {
            prop_assert_eq!(&words_in_pieces(simd, &text, &cuts), &expected, "{}", simd);
        }
    }

    #[test]
    fn ascii_tokenizer_equals_reference(text in ascii_text()) {
        let expected = reference_words(&text);
        for simd in Simd::available() {
            prop_assert_eq!(&words_on(simd, &text), &expected, "{}", simd);
        }
    }

    #[test]
    fn ascii_pieces_do_not_matter(
        text in ascii_text(),
        cuts in prop::collection::vec(0usize..3000, 0..12),
    ) {
        let expected = reference_words(&text);
        for simd in Simd::available() {
            prop_assert_eq!(&words_in_pieces(simd, &text, &cuts), &expected, "{}", simd);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn chunked_counts_equal_whole_counts(text in mixed_text(), chunk_size in 1u64..64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.txt");
        fs::write(&path, &text).expect("write");
        let whole = count_chunk(&Chunk::whole(&path)).expect("count");
        prop_assert_eq!(&whole, &count_words(&reference_words(&text)));
        let options = PlanOptions { chunk_size, lossy: false };
        let chunks = plan_with(&[&path], &options).expect("plan");
        let merged = chunks
            .iter()
            .map(|c| count_chunk(c).expect("count"))
            .fold(Counts::new(), merge);
        prop_assert_eq!(&merged, &whole);
        let threads = Threads::new(NonZeroUsize::new(3).expect("3"));
        for dispatch in [Dispatch::Claim, Dispatch::Groups] {
            let sources = chunks.iter().cloned().map(Source::File).collect();
            let threaded = count_on(&threads, sources, dispatch, None).expect("count");
            prop_assert_eq!(&threaded, &whole);
        }
    }

    #[test]
    fn chunked_lossy_counts_equal_whole_counts(bytes in mixed_bytes(), chunk_size in 1u64..64) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.txt");
        fs::write(&path, &bytes).expect("write");
        let whole = count_bytes(&bytes, true).expect("lossy never fails");
        let expected = count_words(&reference_words(&String::from_utf8_lossy(&bytes)));
        prop_assert_eq!(&whole, &expected);
        let options = PlanOptions { chunk_size, lossy: true };
        let chunks = plan_with(&[&path], &options).expect("plan");
        let merged = chunks
            .iter()
            .map(|c| count_chunk(c).expect("count"))
            .fold(Counts::new(), merge);
        prop_assert_eq!(&merged, &whole);
    }
}

#[test]
fn reference_agrees_on_known_cases() {
    assert_eq!(reference_words("ΟΔΟΣ 'ΣΑΣ.' Σ"), ["οδος", "σας", "σ"]);
    assert_eq!(reference_words(" ..x\nİ Ⅻ ok\u{1c}go"), ["ok", "go"]);
    for simd in Simd::available() {
        assert_eq!(words_on(simd, "ΟΔΟΣ 'ΣΑΣ.' Σ"), ["οδος", "σας", "σ"]);
    }
}

/// When `WORDCOUNT_SIMD` names a path, `Tokenizer::new` (which the chunked
/// properties count with) uses it.
#[test]
fn forced_path_is_used() {
    if let Ok(name) = std::env::var(SIMD_ENV) {
        assert_eq!(Tokenizer::new().simd().name(), name);
    }
}

/// The chunked properties count through `Tokenizer::new`, whose path is
/// chosen once per process: this runs them again, in a fresh process of this
/// test binary, on every other path.
#[test]
fn chunked_properties_hold_on_every_path() {
    const TESTS: [&str; 3] = [
        "chunked_counts_equal_whole_counts",
        "chunked_lossy_counts_equal_whole_counts",
        "forced_path_is_used",
    ];
    let exe = std::env::current_exe().expect("the test binary");
    for simd in Simd::available() {
        if simd == Simd::selected() {
            continue;
        }
        let mut child = Command::new(&exe)
            .args(TESTS)
            .args(["--exact", "--test-threads", "2"])
            .env(SIMD_ENV, simd.name())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("re-run the test binary");
        let deadline = Instant::now() + Duration::from_secs(600);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{simd}: the re-run took more than 600 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{simd}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("{} passed", TESTS.len())),
            "{simd}: not every test ran: {stdout}"
        );
    }
}
