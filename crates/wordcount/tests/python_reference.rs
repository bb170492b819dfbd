//! wordcount against the chapter's own code run by Python 3: the TSV outputs
//! must be equal byte for byte.

mod common;

use std::fs;
use std::path::Path;

use common::{
    Rng, assert_same_tsv, crate_dir, python_unicode_version, reference_tsv, wordcount_tsv_on,
};
use wordcount::tokenize::Simd;

/// Compares wordcount with the reference on `paths`, on every tokenizer path
/// of this processor: with default chunks, with tiny chunks on two workers
/// (which the block loop never sees whole), and with chunks of a few blocks.
fn check(paths: &[&Path], lossy: bool, what: &str) {
    let reference = reference_tsv(paths, lossy);
    let lossy_flag: &[&str] = if lossy { &["--lossy"] } else { &[] };
    for simd in Simd::available() {
        assert_same_tsv(
            &wordcount_tsv_on(simd, paths, lossy_flag),
            &reference,
            &format!("{what} ({simd})"),
        );
        for size in ["61", "997"] {
            let mut small = vec!["--chunk-size", size, "--workers", "2"];
            small.extend_from_slice(lossy_flag);
            assert_same_tsv(
                &wordcount_tsv_on(simd, paths, &small),
                &reference,
                &format!("{what} ({simd}, {size}-byte chunks)"),
            );
        }
    }
}

#[test]
fn chapter_corpus_matches_python() {
    let shared = crate_dir().join("../../../shared/corpora/pymotw-multiprocessing");
    if shared.is_dir() {
        check(&[&shared], false, "shared chapter corpus");
    } else {
        println!(
            "notice: {} is absent; comparing the embedded copy only",
            shared.display()
        );
    }
    // The embedded corpus (no path given) against Python on its source files.
    let embedded = crate_dir().join("corpus");
    let files: Vec<_> = wordcount::CORPUS
        .iter()
        .map(|f| embedded.join(f.name))
        .collect();
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let reference = reference_tsv(&paths, false);
    for simd in Simd::available() {
        let tsv = wordcount_tsv_on(simd, &[], &[]);
        assert_same_tsv(&tsv, &reference, &format!("embedded corpus ({simd})"));
    }
}

/// Hand-picked cases: scripts, casing, separators and directive lines.
const EDGE_CASES: &str = concat!(
    "Héllo WÖRLD, naïve café — Ünïcode façade. ÆTHER œuvre Straße STRASSE\n",
    "ΟΔΟΣ 'ΣΑΣ.' Σ ΑΣ. ΣΑΣ's Σ. σ ς ΑΣʰ ʰΣ ΑΣ\u{301} ΑΣ\u{345}Α ΌΣΟΣ ΑΣΑ Σ\u{345} ΑΣ\u{ad}\n",
    "Москва ПРИВЕТ мир ёЖ ΣΣ ΑΣΣ\n",
    "中文字符 日本語テキスト 한국어 ไทย العربية עברית\n",
    "combining: cafe\u{301} n\u{303} \u{301}alone a\u{20dd}\n",
    "Ⅻ ⅻ XII Ⅻth ①two ²sup\n",
    "İstanbul İ i\u{307} ı KELVIN \u{212a}elvin \u{212b}ngstrom ǅemal ǈ ﬀ ẞ 𝔸𝔹 😀smile ʰʰ\n",
    "CRLF line one\r\nsecond line\r\n.. directive after crlf\r\nthird\r\n",
    "lone\rcarriage\r.. skipped after cr\rreturns\r",
    "tabs\tand\tspaces\u{a0}nbsp\u{3000}ideographic\u{1c}fs\u{1f}us\u{85}nel",
    "\u{2028}ls\u{2029}ps\u{200b}zwsp\u{feff}bom\u{180e}mvs\u{202f}nnbsp\u{205f}mmsp\n",
    "digits 3rd 2nd abc123 a1 x86 and punctuation: don't it's e-mail foo_bar a.b.c\n",
    "(paren) [br] {cur} \"quoted\" <tag> back\\slash ~tilde~ `tick` #hash @at $d %p ^c |p\n",
    "   .. indented directive\n",
    "\t.. tab directive\n",
    "\u{a0}.. nbsp directive\n",
    "\u{3000}.. ideographic directive\n",
    "\u{1c}.. fs directive\n",
    "\u{b}.. vertical tab directive\n",
    "\u{85}.. nel directive\n",
    "\u{200b}.. zero width space is not whitespace\n",
    ". . not a directive\n",
    ".not.a.directive either\n",
    "...three dots skipped\n",
    "..\n",
    "word..word ..\n",
    "The THE the And AND Py PY Rst RST with WITH That ThE a A an AN\n",
    "\n\n   \n\t\r\n",
    "last line without newline",
);

#[test]
fn edge_cases_match_python() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edge = dir.path().join("edge.txt");
    fs::write(&edge, EDGE_CASES).expect("write");
    // A byte-order mark is an ordinary (non-letter) character to Python's
    // 'utf-8' codec.
    let bom = dir.path().join("bom.txt");
    fs::write(&bom, "\u{feff}BOM first\nsecond\n").expect("write");
    let crlf = dir.path().join("crlf.txt");
    fs::write(&crlf, EDGE_CASES.replace('\n', "\r\n")).expect("write");
    let cr = dir.path().join("cr.txt");
    fs::write(&cr, EDGE_CASES.replace('\n', "\r")).expect("write");
    let empty = dir.path().join("empty.txt");
    fs::write(&empty, "").expect("write");
    check(&[&edge, &bom, &crlf, &cr, &empty], false, "edge cases");
}

/// Pieces random text is made of, weighted towards letters.
const PIECES: &[&str] = &[
    "a", "b", "e", "s", "t", "x", "T", "H", "E", "Z", "the", "and", "The", "PY", "rst", "With",
    "é", "É", "ß", "ñ", "Σ", "Σ", "σ", "ς", "Α", "Ο", "Δ", "Д", "ж", "中", "文", "\u{301}",
    "\u{307}", "\u{345}", "ʰ", "ˆ", "Ⅻ", "ⅻ", "İ", "ı", "\u{212a}", "\u{212b}", "ǅ", "ﬀ", "ẞ", "𝔸",
    "😀", "١", "7", "0", "_", "'", ".", "..", "-", "!", "\u{ad}", "\u{b7}", "\u{2019}", " ", " ",
    " ", "  ", "\t", "\n", "\n", "\r", "\r\n", "\u{a0}", "\u{3000}", "\u{1c}", "\u{85}",
    "\u{2028}", "\u{200b}", "\u{feff}", "\u{b}", "\u{c}",
];

fn random_text(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        match rng.below(8) {
            0 => s.push_str(rng.pick(&[" ..", "..", "\t..", "\u{a0}..", ".", " . ."])),
            1 => s.push('\n'),
            _ => {}
        }
        for _ in 0..rng.below(12) {
            s.push_str(rng.pick(PIECES));
        }
    }
    s
}

#[test]
fn random_text_matches_python() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(0x5eed);
    let files: Vec<_> = (0..4)
        .map(|i| {
            let path = dir.path().join(format!("random{i}.txt"));
            fs::write(&path, random_text(&mut rng, 40_000)).expect("write");
            path
        })
        .collect();
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    check(&paths, false, "random text");
}

#[test]
fn lossy_decoding_matches_python_replace() {
    const INVALID: &[&[u8]] = &[
        b"\xff",
        b"\xc3",
        b"\xe2\x80",
        b"\xed\xa0\x80",
        b"\xf0\x80\x80",
        b"\xf4\x90\x80\x80",
        b"\xc0\xaf",
        b"\x80",
        b"\xbf\xbf",
        b"\xe2\xc2\x85",
        b"\xf0\x9f\x98",
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(7);
    let mut bytes = Vec::new();
    while bytes.len() < 60_000 {
        if rng.below(6) == 0 {
            bytes.extend_from_slice(rng.pick(INVALID));
        } else {
            bytes.extend_from_slice(random_text(&mut rng, 8).as_bytes());
        }
    }
    // An incomplete sequence at the very end.
    bytes.extend_from_slice(b"tail\xe2\x82");
    let path = dir.path().join("lossy.txt");
    fs::write(&path, &bytes).expect("write");
    check(&[&path], true, "lossy decoding");
}

#[test]
fn every_code_point_matches_python() {
    let version = python_unicode_version();
    if version != wordcount::unicode::UNICODE_VERSION {
        println!(
            "notice: python3 has Unicode {version}, the tables {}; skipping the \
             code point by code point comparison",
            wordcount::unicode::UNICODE_VERSION
        );
        return;
    }
    // Every code point alone, inside a word, and around capital sigma (whose
    // lowercase depends on the cased and case-ignorable characters around
    // it). Planes 4 to 13 hold no assigned character: a sample of them will do.
    let mut text = String::new();
    for cp in 0..0x11_0000u32 {
        if (0x4_0000..0xe_0000).contains(&cp) && cp % 997 != 0 {
            continue;
        }
        if let Some(c) = char::from_u32(cp) {
            text.push_str(&format!("{c} a{c}b Σ{c} {c}Σ Α{c}Σ ΑΣ{c}\n"));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.txt");
    fs::write(&path, text).expect("write");
    let reference = reference_tsv(&[&path], false);
    for simd in Simd::available() {
        let ours = wordcount_tsv_on(simd, &[&path], &["--workers", "2"]);
        assert_same_tsv(&ours, &reference, &format!("every code point ({simd})"));
    }
}

/// Mostly ASCII text, as most input is: what the block loop handles, with
/// the cases at the edges of its blocks (words, line starts, `..` lines and
/// `\r\n` cut by a block boundary, long words, stray non-ASCII characters).
const ASCII_PIECES: &[&str] = &[
    "a",
    "e",
    "t",
    "x",
    "Q",
    "Z",
    "word",
    "Words",
    "THE",
    "the",
    "and",
    "With",
    "py",
    "rst",
    "sixteenletterswd",
    "SeventeenLetterss",
    "supercalifragilisticexpialidocious",
    " ",
    " ",
    " ",
    "  ",
    "\t",
    ",",
    ".",
    ":",
    "()",
    "``",
    "'",
    "_",
    "-",
    "\n",
    "\n",
    "\r",
    "\r\n",
    "\n..",
    "\n  ..",
    "\n.",
    "\r\n\t..",
    "\u{b}",
    "\u{c}",
    "\u{1c}",
    "\u{1f}",
    "0",
    "42",
    "\0",
    "\u{7f}",
    "\u{1}",
    "é",
    "Σ",
    "\u{a0}",
    "\u{3000}",
    "\u{85}",
    "中",
    "İ",
];

fn ascii_text(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len + 64);
    while s.len() < len {
        let piece = rng.pick(ASCII_PIECES);
        // Non-ASCII pieces (the last eight) are rarer.
        if !piece.is_ascii() && rng.below(8) != 0 {
            continue;
        }
        s.push_str(piece);
        if rng.below(3) == 0 {
            s.push(' ');
        }
    }
    s
}

#[test]
fn ascii_text_matches_python() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(0xa5c11);
    let files: Vec<_> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("ascii{i}.txt"));
            fs::write(&path, ascii_text(&mut rng, 300_000)).expect("write");
            path
        })
        .collect();
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    check(&paths, false, "ASCII text");
}
