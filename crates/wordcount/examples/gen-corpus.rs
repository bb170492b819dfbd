//! Writes a large, mostly-English text for measuring `wordcount`.
//!
//! ```text
//! cargo run --release --example gen-corpus -- OUTPUT MEGABYTES [SEED]
//! ```
//!
//! Words are drawn from a Zipf distribution (rank r with probability
//! proportional to 1/r) over a vocabulary of common English words followed
//! by the words of the embedded corpus and a long tail of made-up words, so
//! word lengths, stop-word frequency and vocabulary growth resemble real
//! prose. Sentences are capitalized and punctuated, lines wrapped at about 72
//! columns, paragraphs separated by blank lines; a few numbers, contractions,
//! accented words and reStructuredText directive lines are mixed in. The
//! output is deterministic for a given seed.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// Most frequent English words, most frequent first.
const COMMON: &str = "the of and to a in is it that was for on are with as he be at by \
    this had not but from or have an they which one you were her all she there would their \
    we him been has when who will more no if out so said what up its about into than them can \
    only other new some could time these two may then do first any my now such like our over \
    man me even most made after also did many before must through back years where much your \
    way well down should because each just those people how too little state good very make \
    world still own see men work long get here between both life being under never day same \
    another know while last might us great old year off come since against go came right used \
    take three states himself few house use during without again place american around however \
    home small found thought went say part once general high upon school every does got united \
    left number course war until always away something fact though water less public put think \
    almost hand enough far took head yet government system better set told nothing night end \
    why called didn eyes find going look asked later point knew city next program business give \
    group toward young days let room president side social given present several order national \
    possible rather second face per among form important often things looked early white case \
    john become large big need four within felt along children saw best church ever least power \
    development light thing seemed family interest want members mind country area others done \
    turned although open god service certain kind problem began different door thus help sense \
    means whole matter perhaps itself york times law human line above name example action \
    company hands local show whether five history gave today either act feet across taken past \
    quite anything seen having death week experience body word half really field am car words \
    already themselves information tell together college shall money period held keep sure \
    probably free seems real behind cannot miss political air question making office brought \
    whose special heard major problems ago became federal moment study available known result \
    street economic boy position reason change south board individual job areas society west \
    close turn love community true court force full seem process";

/// Words with non-ASCII letters, used now and then.
const ACCENTED: &[&str] = &[
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "façade",
    "coöperate",
    "déjà",
    "Ångström",
    "São",
    "Straße",
    "über",
    "piñata",
    "Ελλάδα",
    "Москва",
];

const SYLLABLES: &[&str] = &[
    "ka", "to", "ri", "men", "sa", "lo", "ver", "an", "tion", "pro", "de", "ble", "in", "ex",
    "con", "ly", "ment", "ing", "er", "mi", "qua", "sto", "fe", "ral", "pe", "nu", "dis", "ter",
    "ca", "vi", "gra", "pho", "lex", "mo", "tri", "ne", "ous", "al", "ist", "ure",
];

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

fn vocabulary(rng: &mut Rng, size: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut vocab = Vec::with_capacity(size);
    let corpus_words = wordcount::CORPUS
        .iter()
        .flat_map(|f| f.text.split_whitespace());
    let candidates = COMMON.split_whitespace().map(str::to_owned).chain(
        corpus_words
            .map(|w| {
                w.trim_matches(|c: char| !c.is_ascii_alphabetic())
                    .to_ascii_lowercase()
            })
            .filter(|w| w.len() > 1 && w.bytes().all(|b| b.is_ascii_lowercase())),
    );
    for w in candidates {
        if seen.insert(w.clone()) {
            vocab.push(w);
        }
    }
    while vocab.len() < size {
        let n = 1 + rng.below(4) as usize;
        let w: String = (0..n)
            .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
            .collect();
        if seen.insert(w.clone()) {
            vocab.push(w);
        }
    }
    vocab
}

/// Cumulative Zipf weights over ranks 1..=n, scaled to u64.
fn zipf_table(n: usize) -> Vec<u64> {
    let total: f64 = (1..=n).map(|r| 1.0 / r as f64).sum();
    let mut acc = 0.0;
    (1..=n)
        .map(|r| {
            acc += 1.0 / r as f64;
            ((acc / total) * u64::MAX as f64) as u64
        })
        .collect()
}

fn generate(out: &mut impl Write, bytes: u64, seed: u64) -> std::io::Result<()> {
    let mut rng = Rng(seed);
    let vocab = vocabulary(&mut rng, 60_000);
    let cdf = zipf_table(vocab.len());
    let mut written = 0u64;
    let mut line = String::with_capacity(128);
    let mut start_of_sentence = true;
    let mut sentence_left = 0u64;
    while written < bytes {
        if line.is_empty() && rng.chance(5) {
            line.push_str(".. note:: ");
        }
        let word = if rng.chance(2) {
            ACCENTED[rng.below(ACCENTED.len() as u64) as usize].to_owned()
        } else if rng.chance(8) {
            rng.below(3000).to_string()
        } else {
            let u = rng.next();
            let rank = cdf.partition_point(|&c| c < u).min(vocab.len() - 1);
            let w = &vocab[rank];
            match rng.below(1000) {
                0..=2 => format!("{w}'s"),
                3..=4 => format!("({w})"),
                5..=6 => format!("\"{w}\""),
                7 => format!("{w}-{}", vocab[rng.below(500) as usize]),
                _ => w.clone(),
            }
        };
        if sentence_left == 0 {
            sentence_left = 5 + rng.below(20);
            start_of_sentence = true;
        }
        if !line.is_empty() && line.len() + word.len() >= 72 {
            line.push('\n');
            out.write_all(line.as_bytes())?;
            written += line.len() as u64;
            line.clear();
            if rng.chance(60) {
                out.write_all(b"\n")?;
                written += 1;
            }
        }
        if !line.is_empty() {
            line.push(' ');
        }
        if start_of_sentence {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                line.extend(first.to_uppercase());
                line.push_str(chars.as_str());
            }
            start_of_sentence = false;
        } else {
            line.push_str(&word);
        }
        sentence_left -= 1;
        if sentence_left == 0 {
            line.push(if rng.chance(100) { '?' } else { '.' });
        } else if rng.chance(80) {
            line.push(',');
        }
    }
    line.push('\n');
    out.write_all(line.as_bytes())?;
    out.flush()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [out, mb] => mb.parse::<u64>().ok().map(|mb| (out, mb, 1)),
        [out, mb, seed] => mb
            .parse::<u64>()
            .ok()
            .zip(seed.parse::<u64>().ok())
            .map(|(mb, seed)| (out, mb, seed)),
        _ => None,
    };
    let Some((path, mb, seed)) = parsed else {
        eprintln!("usage: gen-corpus OUTPUT MEGABYTES [SEED]");
        return ExitCode::from(2);
    };
    let result = File::create(path).and_then(|f| {
        generate(
            &mut BufWriter::with_capacity(1 << 20, f),
            mb * 1_000_000,
            seed,
        )
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-corpus: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}
