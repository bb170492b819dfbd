//! Output formats of the `wordcount` program.

use std::io::{self, Write};

use serde::Serialize;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The chapter's table of the top words.
    #[default]
    Text,
    /// One `word<TAB>count` line per word, all words.
    Tsv,
    /// A JSON array of `{"word": ..., "count": ...}` objects, all words.
    Json,
}

/// Writes `sorted` (as [`sorted`](crate::sorted) orders it) in `format`;
/// `top` limits the [`Format::Text`] table only.
pub fn write_report<W: Write>(
    out: &mut W,
    sorted: &[(String, u64)],
    format: Format,
    top: usize,
) -> io::Result<()> {
    match format {
        Format::Text => write_text(out, sorted, top),
        Format::Tsv => write_tsv(out, sorted),
        Format::Json => write_json(out, sorted),
    }
}

/// The chapter's table:
///
/// ```text
/// TOP 20 WORDS BY FREQUENCY
///
/// process         :    80
/// starting        :    52
/// ```
///
/// as printed by `print('%-*s: %5s' % (longest + 1, word, count))`, widths
/// counted in characters like Python's.
pub fn write_text<W: Write>(out: &mut W, sorted: &[(String, u64)], top: usize) -> io::Result<()> {
    writeln!(out, "TOP {top} WORDS BY FREQUENCY")?;
    writeln!(out)?;
    let rows = &sorted[..top.min(sorted.len())];
    let longest = rows
        .iter()
        .map(|(word, _)| word.chars().count())
        .max()
        .unwrap_or(0);
    for (word, count) in rows {
        writeln!(out, "{word:<width$}: {count:>5}", width = longest + 1)?;
    }
    Ok(())
}

/// `word<TAB>count` lines.
pub fn write_tsv<W: Write>(out: &mut W, sorted: &[(String, u64)]) -> io::Result<()> {
    for (word, count) in sorted {
        writeln!(out, "{word}\t{count}")?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Entry<'a> {
    word: &'a str,
    count: u64,
}

/// A JSON array with one object per line.
pub fn write_json<W: Write>(out: &mut W, sorted: &[(String, u64)]) -> io::Result<()> {
    if sorted.is_empty() {
        return writeln!(out, "[]");
    }
    writeln!(out, "[")?;
    for (i, (word, count)) in sorted.iter().enumerate() {
        out.write_all(b"  ")?;
        serde_json::to_writer(
            &mut *out,
            &Entry {
                word,
                count: *count,
            },
        )?;
        writeln!(out, "{}", if i + 1 < sorted.len() { "," } else { "" })?;
    }
    writeln!(out, "]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: Format, top: usize) -> String {
        let sorted = vec![
            ("process".to_owned(), 80),
            ("multiprocessing".to_owned(), 40),
            ("ünïcode".to_owned(), 123_456),
        ];
        let mut out = Vec::new();
        write_report(&mut out, &sorted, format, top).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn text_matches_the_chapter_layout() {
        assert_eq!(
            render(Format::Text, 2),
            "TOP 2 WORDS BY FREQUENCY\n\nprocess         :    80\nmultiprocessing :    40\n"
        );
        assert_eq!(
            render(Format::Text, 5).lines().last(),
            Some("ünïcode         : 123456")
        );
        assert_eq!(render(Format::Text, 0), "TOP 0 WORDS BY FREQUENCY\n\n");
    }

    #[test]
    fn tsv_and_json_list_everything() {
        assert_eq!(
            render(Format::Tsv, 1),
            "process\t80\nmultiprocessing\t40\nünïcode\t123456\n"
        );
        let json = render(Format::Json, 1);
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(parsed[2]["word"], "ünïcode");
        assert_eq!(parsed[0]["count"], 80);
        assert_eq!(parsed.as_array().map(Vec::len), Some(3));
        let mut empty = Vec::new();
        write_json(&mut empty, &[]).expect("write");
        assert_eq!(empty, b"[]\n");
    }
}
