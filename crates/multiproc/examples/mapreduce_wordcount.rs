//! Counting words in files with `SimpleMapReduce` (the chapter's
//! `multiprocessing_wordcount.py`). Give it files; with none, it counts `*.rst` in the current
//! directory, as the chapter does.
//!
//! The tokenizer keeps the chapter's short code: exact for ASCII text like the chapter's
//! sources. The `wordcount` program applies Python's Unicode rules exactly, and streams.

use std::io::BufRead;

use multiproc::SimpleMapReduce;

const STOP_WORDS: [&str; 20] = [
    "a", "an", "and", "are", "as", "be", "by", "for", "if", "in", "is", "it", "of", "or", "py",
    "rst", "that", "the", "to", "with",
];

/// Reads a file and returns a sequence of (word, occurrences) values.
fn file_to_words(filename: String) -> Vec<(String, u64)> {
    println!(
        "{} reading {}",
        multiproc::current_process().name(),
        filename
    );
    let file =
        std::fs::File::open(&filename).unwrap_or_else(|e| panic!("cannot open {filename}: {e}"));
    let mut output = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.unwrap_or_else(|e| panic!("cannot read {filename}: {e}"));
        // Skip comment lines.
        if line.trim_start().starts_with("..") {
            continue;
        }
        // Strip punctuation.
        let line: String = line
            .chars()
            .map(|c| if c.is_ascii_punctuation() { ' ' } else { c })
            .collect();
        for word in line.split_whitespace() {
            let word = word.to_lowercase();
            if word.chars().all(char::is_alphabetic) && !STOP_WORDS.contains(&word.as_str()) {
                output.push((word, 1));
            }
        }
    }
    output
}

/// Converts the partitioned data for a word to a tuple holding the word and its count.
fn count_words((word, occurrences): (String, Vec<u64>)) -> (String, u64) {
    (word, occurrences.iter().sum())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    multiproc::init();
    let mut input_files: Vec<String> = std::env::args().skip(1).collect();
    if input_files.is_empty() {
        for entry in std::fs::read_dir(".")? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".rst") {
                input_files.push(name);
            }
        }
        input_files.sort();
    }

    let mapper = SimpleMapReduce::new(file_to_words, count_words, None)?;
    let mut word_counts = mapper.run(input_files, 1)?;
    // As the chapter: a stable sort by count, then reversed.
    word_counts.sort_by_key(|(_, count)| *count);
    word_counts.reverse();

    println!("\nTOP 20 WORDS BY FREQUENCY\n");
    let top20 = &word_counts[..word_counts.len().min(20)];
    let longest = top20
        .iter()
        .map(|(word, _)| word.chars().count())
        .max()
        .unwrap_or(0);
    for (word, count) in top20 {
        println!("{word:<width$}: {count:5}", width = longest + 1);
    }
    Ok(())
}
