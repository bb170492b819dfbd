//! Results: statistics over rounds, the JSON lines, and the table.

use serde::Serialize;

/// One implementation's result for one figure, printed as one JSON line.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Line {
    pub(crate) figure: String,
    #[serde(rename = "impl")]
    pub(crate) implementation: String,
    /// The median over rounds.
    pub(crate) value: f64,
    pub(crate) unit: String,
    pub(crate) rounds: usize,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Line {
    /// The line for `samples` (not empty), one value per round.
    pub(crate) fn new(figure: &str, implementation: &str, unit: &str, samples: &[f64]) -> Line {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Line {
            figure: figure.to_owned(),
            implementation: implementation.to_owned(),
            value: round_sig(median(&sorted)),
            unit: unit.to_owned(),
            rounds: sorted.len(),
            min: round_sig(sorted[0]),
            max: round_sig(sorted[sorted.len() - 1]),
        }
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Line always serializes")
    }
}

/// The median of sorted, non-empty `v`.
fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `x` rounded to 5 significant digits, so that the lines stay readable.
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 5 - 1 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// `x` with 4 significant digits, and k/M/G beyond ten thousand.
pub(crate) fn human(x: f64) -> String {
    let (v, suffix) = match x.abs() {
        a if a >= 1e10 => (x / 1e9, "G"),
        a if a >= 1e7 => (x / 1e6, "M"),
        a if a >= 1e4 => (x / 1e3, "k"),
        _ => (x, ""),
    };
    let decimals = match v.abs() {
        a if a >= 1000.0 => 0,
        a if a >= 100.0 => 1,
        a if a >= 10.0 => 2,
        a if a >= 1.0 => 3,
        _ => 4,
    };
    format!("{v:.decimals$}{suffix}")
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) figure: String,
    pub(crate) unit: String,
    pub(crate) higher_is_better: bool,
    pub(crate) ours: Option<f64>,
    pub(crate) python: Option<f64>,
    pub(crate) target: Option<f64>,
    pub(crate) others: Vec<(String, f64)>,
    /// The Rust peers that offer the figure; `None` where one could not run here.
    pub(crate) rust: Vec<(String, Option<f64>)>,
}

impl Row {
    /// How many times better ours is than Python's (python/ours for times, ours/python for
    /// rates).
    pub(crate) fn speedup(&self) -> Option<f64> {
        let (ours, python) = (self.ours?, self.python?);
        Some(if self.higher_is_better {
            ours / python
        } else {
            python / ours
        })
    }

    /// How many times better ours is than the best Rust peer, and that peer's name.
    pub(crate) fn vs_best_rust(&self) -> Option<(f64, &str)> {
        let ours = self.ours?;
        let measured = self
            .rust
            .iter()
            .filter_map(|(name, v)| v.map(|v| (v, name.as_str())));
        let (best, name) = if self.higher_is_better {
            measured.max_by(|a, b| a.0.total_cmp(&b.0))?
        } else {
            measured.min_by(|a, b| a.0.total_cmp(&b.0))?
        };
        Some((
            if self.higher_is_better {
                ours / best
            } else {
                best / ours
            },
            name,
        ))
    }

    fn target_text(&self) -> String {
        let Some(target) = self.target else {
            return String::new();
        };
        let (sign, met) = if self.higher_is_better {
            ("≥", self.ours.map(|o| o >= target))
        } else {
            ("≤", self.ours.map(|o| o <= target))
        };
        let verdict = match met {
            Some(true) => " met",
            Some(false) => " missed",
            None => "",
        };
        format!("{sign} {target}{verdict}")
    }
}

/// The table, as text.
pub(crate) fn table(rows: &[Row]) -> String {
    let header = [
        "figure",
        "unit",
        "multiproc",
        "python",
        "speedup",
        "vs best Rust peer",
        "target",
        "others",
    ]
    .map(str::to_owned);
    let mut cells: Vec<[String; 8]> = vec![header];
    for r in rows {
        let opt = |v: Option<f64>| v.map(human).unwrap_or_else(|| "-".to_owned());
        cells.push([
            r.figure.clone(),
            r.unit.clone(),
            opt(r.ours),
            opt(r.python),
            r.speedup()
                .map(|s| format!("{s:.1}x"))
                .unwrap_or_else(|| "-".to_owned()),
            r.vs_best_rust()
                .map(|(s, name)| format!("{s:.1}x {name}"))
                .unwrap_or_else(|| "-".to_owned()),
            r.target_text(),
            r.others
                .iter()
                .map(|(name, v)| format!("{name} {}", human(*v)))
                .chain(r.rust.iter().map(|(name, v)| {
                    format!(
                        "{name} {}",
                        v.map(human).unwrap_or_else(|| "n/a".to_owned())
                    )
                }))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in cells.iter().enumerate() {
        let mut line = String::new();
        for (col, (c, w)) in row.iter().zip(widths).enumerate() {
            let pad = w - c.chars().count();
            // Text columns align left, numbers right.
            if matches!(col, 2..=4) {
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_rounds() {
        assert_eq!(Line::new("f", "i", "ms", &[3.0, 1.0, 2.0]).value, 2.0);
        let l = Line::new("f", "i", "ms", &[4.0, 1.0, 2.0, 3.0]);
        assert_eq!((l.value, l.min, l.max, l.rounds), (2.5, 1.0, 4.0, 4));
    }

    #[test]
    fn json_line_has_the_documented_fields_in_order() {
        let json = Line::new("start_join.spawn", "python", "ms", &[64.0]).to_json();
        assert_eq!(
            json,
            r#"{"figure":"start_join.spawn","impl":"python","value":64.0,"unit":"ms","rounds":1,"min":64.0,"max":64.0}"#
        );
    }

    #[test]
    fn rounding_keeps_five_significant_digits() {
        assert_eq!(round_sig(0.123_456_78), 0.123_46);
        assert_eq!(round_sig(243_669.96), 243_670.0);
    }

    #[test]
    fn speedup_is_in_the_better_direction() {
        let mut row = Row {
            figure: "t".into(),
            unit: "ms".into(),
            higher_is_better: false,
            ours: Some(0.5),
            python: Some(8.0),
            target: Some(0.4),
            others: vec![],
            rust: vec![],
        };
        assert_eq!(row.speedup(), Some(16.0));
        assert_eq!(row.target_text(), "≤ 0.4 missed");
        row.higher_is_better = true;
        assert_eq!(row.speedup(), Some(0.0625));
    }

    #[test]
    fn the_best_rust_peer_is_the_fastest_one_measured() {
        let mut row = Row {
            figure: "t".into(),
            unit: "us".into(),
            higher_is_better: false,
            ours: Some(5.0),
            python: None,
            target: None,
            others: vec![("raw_pipe".into(), 1.0)],
            rust: vec![
                ("slow".into(), Some(40.0)),
                ("fast".into(), Some(10.0)),
                ("broken".into(), None),
            ],
        };
        assert_eq!(row.vs_best_rust(), Some((2.0, "fast")));
        row.higher_is_better = true;
        assert_eq!(row.vs_best_rust(), Some((0.125, "slow")));
        row.rust.retain(|(_, v)| v.is_none());
        assert_eq!(row.vs_best_rust(), None);
        let text = table(&[row]);
        assert!(text.contains("raw_pipe 1.000, broken n/a"), "{text}");
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(0.3125), "0.3125");
        assert_eq!(human(64.0), "64.00");
        assert_eq!(human(243_670.0), "243.7k");
        assert_eq!(human(17_489_865.0), "17.49M");
    }
}
