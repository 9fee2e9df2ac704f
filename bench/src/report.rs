//! Figures and the table they are printed in: one row per figure, the
//! median and the spread (min–max) of its runs for our client and for the
//! slixmpp peer, their ratio, and the reference the figure is read against.

use std::fmt::Write as _;

/// How a figure's numbers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    /// Multiples of the injected round-trip time.
    Rtts,
    MessagesPerSecond,
    Bytes,
    /// A count extrapolated to one hour.
    PerHour,
    /// Bytes extrapolated to one hour.
    BytesPerHour,
}

impl Unit {
    fn format(self, v: f64) -> String {
        match self {
            Unit::Seconds if v < 10.0 => format!("{v:.3} s"),
            Unit::Seconds => format!("{v:.1} s"),
            Unit::Rtts => format!("{v:.1} RTT"),
            Unit::MessagesPerSecond => format!("{v:.0} msg/s"),
            Unit::Bytes => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
            Unit::PerHour => format!("{v:.0} /h"),
            Unit::BytesPerHour => format!("{:.1} KiB/h", v / 1024.0),
        }
    }
}

/// The runs of one figure for one client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn median(&self) -> Option<f64> {
        let v = self.sorted();
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }

    fn render(&self, unit: Unit) -> String {
        let v = self.sorted();
        match (v.first(), v.last(), self.median()) {
            (Some(min), Some(max), Some(median)) if v.len() > 1 => format!(
                "{} ({}–{}, n={})",
                unit.format(median),
                unit.format(*min),
                unit.format(*max),
                v.len()
            ),
            (_, _, Some(median)) => format!("{} (n=1)", unit.format(median)),
            _ => "—".to_string(),
        }
    }
}

/// What the peer column says.
#[derive(Debug, Clone, PartialEq)]
pub enum Theirs {
    Measured(Samples),
    /// The scenario is ours only.
    NotApplicable,
    /// The peer could not run (not installed).
    Skipped,
}

/// One figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub scenario: &'static str,
    pub figure: String,
    pub unit: Unit,
    pub ours: Samples,
    pub theirs: Theirs,
    /// What to read it against, short (spec limits), in the table.
    pub reference: String,
    /// How it was measured, as a numbered note under the table (rows with
    /// the same note share it).
    pub note: String,
}

impl Row {
    fn ratio(&self) -> String {
        match (&self.theirs, self.ours.median()) {
            (Theirs::Measured(t), Some(o)) => match t.median() {
                Some(t) if t != 0.0 => format!("{:.2}×", o / t),
                _ => "—".into(),
            },
            _ => "—".into(),
        }
    }
}

/// The whole table as Markdown (readable as plain text too), then the
/// numbered notes on how each figure was measured.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| # | figure | jabberkit: median (min–max) | slixmpp: median (min–max) | ratio jabberkit/slixmpp | reference |\n",
    );
    out.push_str("|---|---|---|---|---|---|\n");
    let mut notes: Vec<&str> = Vec::new();
    for row in rows {
        let mut reference = row.reference.clone();
        if !row.note.is_empty() {
            let n = match notes.iter().position(|n| *n == row.note) {
                Some(i) => i + 1,
                None => {
                    notes.push(&row.note);
                    notes.len()
                }
            };
            if !reference.is_empty() {
                reference.push(' ');
            }
            reference.push_str(&format!("[{n}]"));
        }
        let theirs = match &row.theirs {
            Theirs::Measured(s) => s.render(row.unit),
            Theirs::NotApplicable => "—".into(),
            Theirs::Skipped => "skipped".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.figure,
            row.ours.render(row.unit),
            theirs,
            row.ratio(),
            reference
        );
    }
    if !notes.is_empty() {
        out.push('\n');
        for (i, note) in notes.iter().enumerate() {
            let _ = writeln!(out, "[{}] {note}  ", i + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Samples(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!(s.median(), Some(2.5));
        assert_eq!(s.render(Unit::Seconds), "2.500 s (1.000 s–10.0 s, n=4)");
        assert_eq!(Samples(vec![5.0]).render(Unit::Rtts), "5.0 RTT (n=1)");
        assert_eq!(Samples::default().median(), None);
    }

    #[test]
    fn table_has_a_ratio_only_when_both_ran() {
        let rows = [
            Row {
                scenario: "4",
                figure: "throughput".into(),
                unit: Unit::MessagesPerSecond,
                ours: Samples(vec![2000.0]),
                theirs: Theirs::Measured(Samples(vec![1000.0])),
                reference: "".into(),
                note: "".into(),
            },
            Row {
                scenario: "5",
                figure: "memory".into(),
                unit: Unit::Bytes,
                ours: Samples(vec![10.0 * 1024.0 * 1024.0]),
                theirs: Theirs::NotApplicable,
                reference: "spec ≈ 5".into(),
                note: "ours only".into(),
            },
        ];
        let table = markdown(&rows);
        assert!(
            table.contains("| 4 | throughput | 2000 msg/s (n=1) | 1000 msg/s (n=1) | 2.00× |"),
            "{table}"
        );
        assert!(
            table.contains("| 5 | memory | 10.0 MiB (n=1) | — | — | spec ≈ 5 [1] |"),
            "{table}"
        );
        assert!(table.ends_with("\n[1] ours only  \n"), "{table}");
    }
}
