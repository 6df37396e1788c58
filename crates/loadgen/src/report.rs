//! Results: rows of named cells, printed as markdown tables and as JSON.

use crate::floor::Floor;
use crate::measure::Latency;
use serde_json::{json, Map, Value};

/// One measured value.
#[derive(Debug, Clone)]
pub enum Cell {
    /// A count.
    Int(u64),
    /// A quantity with this many decimals in the table.
    Num(f64, usize),
    /// Words.
    Text(String),
    /// Latency percentiles, in milliseconds.
    Latency(Latency),
}

impl Cell {
    fn markdown(&self) -> String {
        match self {
            Cell::Int(n) => n.to_string(),
            // Not measured (no pid, no floor): a dash, and null in JSON.
            Cell::Num(x, _) if !x.is_finite() => "–".to_owned(),
            Cell::Num(x, decimals) => format!("{x:.decimals$}"),
            Cell::Text(s) => s.clone(),
            Cell::Latency(l) if l.count == 0 => "–".to_owned(),
            Cell::Latency(l) => format!(
                "{:.2} / {:.2} / {:.2} / {:.2} / {:.2}",
                l.p50, l.p90, l.p99, l.p999, l.max
            ),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Int(n) => json!(n),
            Cell::Num(x, _) => json!(x),
            Cell::Text(s) => json!(s),
            Cell::Latency(l) => json!(l),
        }
    }
}

/// A row: column names and values, in order.
#[derive(Debug, Clone, Default)]
pub struct Row(Vec<(String, Cell)>);

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Row::default()
    }

    /// Adds a column.
    pub fn with(mut self, column: &str, cell: Cell) -> Self {
        self.0.push((column.to_owned(), cell));
        self
    }

    /// Adds a count.
    pub fn int(self, column: &str, n: u64) -> Self {
        self.with(column, Cell::Int(n))
    }

    /// Adds a quantity.
    pub fn num(self, column: &str, x: f64, decimals: usize) -> Self {
        self.with(column, Cell::Num(x, decimals))
    }

    /// Adds words.
    pub fn text(self, column: &str, s: impl Into<String>) -> Self {
        self.with(column, Cell::Text(s.into()))
    }

    /// Adds server CPU per delivery in µs and, beside it, that figure as a
    /// multiple of the floor's CPU per frame ("× floor"; empty when the floor
    /// was not measured). One such pair per row: the second column's name is
    /// fixed.
    pub fn us_per_delivery(self, column: &str, us: f64, floor: Option<&Floor>) -> Self {
        let times = floor.map_or(f64::NAN, |f| us / f.writer_cpu_us_per_frame);
        self.num(column, us, 2).num(TIMES_FLOOR, times, 2)
    }

    /// Adds latency percentiles; the column name should say "ms".
    pub fn latency(self, column: &str, l: Latency) -> Self {
        self.with(column, Cell::Latency(l))
    }
}

/// The column beside each µs/delivery: how many floors it is.
pub const TIMES_FLOOR: &str = "× floor";

/// A titled table.
#[derive(Debug, Clone)]
pub struct Table {
    title: String,
    rows: Vec<Row>,
}

impl Table {
    /// An empty table.
    pub fn new(title: impl Into<String>) -> Self {
        Table {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (and prints it at once to stderr, for long runs).
    pub fn push(&mut self, row: Row) {
        let line: Vec<String> = row
            .0
            .iter()
            .map(|(k, v)| format!("{k}={}", v.markdown()))
            .collect();
        eprintln!("  {}", line.join("  "));
        self.rows.push(row);
    }

    fn markdown(&self) -> String {
        let Some(first) = self.rows.first() else {
            return format!("### {}\n\n(no rows)\n", self.title);
        };
        let header: Vec<&str> = first.0.iter().map(|(k, _)| k.as_str()).collect();
        let mut out = format!(
            "### {}\n\n| {} |\n|{}\n",
            self.title,
            header.join(" | "),
            "---|".repeat(header.len())
        );
        for row in &self.rows {
            let cells: Vec<String> = row.0.iter().map(|(_, v)| v.markdown()).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let object: Map<String, Value> =
                    row.0.iter().map(|(k, v)| (k.clone(), v.json())).collect();
                Value::Object(object)
            })
            .collect();
        json!({"title": self.title, "rows": rows})
    }
}

/// What a scenario found.
#[derive(Debug, Clone)]
pub struct Report {
    scenario: &'static str,
    floor: Option<Floor>,
    floor_skipped: bool,
    tables: Vec<Table>,
    notes: Vec<String>,
    problems: Vec<String>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &'static str) -> Self {
        Report {
            scenario,
            floor: None,
            floor_skipped: false,
            tables: Vec::new(),
            notes: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Records `what` as a problem unless `ok`: a loss, a failure or an
    /// unexpected disconnect, which `--strict` turns into a failed run.
    pub fn expect(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.problems.push(what.into());
        }
    }

    /// What went wrong, if anything.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The floor measured for this run; `None` when it was skipped. Reports
    /// that never call this print no floor.
    pub fn floor(&mut self, floor: Option<Floor>) {
        self.floor_skipped = floor.is_none();
        self.floor = floor;
    }

    /// Adds a table.
    pub fn table(&mut self, table: Table) {
        self.tables.push(table);
    }

    /// Adds a line printed under the tables.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The tables as markdown; latencies read `p50 / p90 / p99 / p99.9 / max`.
    pub fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n", self.scenario);
        if let Some(floor) = &self.floor {
            out.push_str(&format!("Floor: {}\n\n", floor.describe()));
        } else if self.floor_skipped {
            out.push_str("Floor: not measured (--floor-secs 0)\n\n");
        }
        for table in &self.tables {
            out.push_str(&table.markdown());
            out.push('\n');
        }
        for note in &self.notes {
            out.push_str(&format!("- {note}\n"));
        }
        for problem in &self.problems {
            out.push_str(&format!("- PROBLEM: {problem}\n"));
        }
        out
    }

    /// Everything as JSON.
    pub fn json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "floor": self.floor,
            "tables": self.tables.iter().map(Table::json).collect::<Vec<_>>(),
            "notes": self.notes,
            "problems": self.problems,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn tables_render_as_markdown_and_json_and_problems_are_kept() {
        let mut table = Table::new("t");
        table.push(Row::new().int("n", 3).num("x", 1.234, 1).text("who", "A"));
        let mut report = Report::new("s");
        report.table(table);
        report.expect(true, "fine");
        report.expect(false, "2 lost");
        let md = report.markdown();
        assert!(
            md.contains("| n | x | who |\n|---|---|---|\n| 3 | 1.2 | A |"),
            "{md}"
        );
        assert!(md.contains("PROBLEM: 2 lost"), "{md}");
        assert_eq!(report.problems(), ["2 lost"]);
        let json = report.json();
        assert_eq!(json["tables"][0]["rows"][0]["x"], 1.234);
        assert_eq!(json["problems"][0], "2 lost");
        assert!(json["floor"].is_null());
        assert!(!md.contains("Floor"), "{md}");
    }

    #[test]
    fn cpu_per_delivery_is_also_given_in_floors() {
        let floor = Floor {
            sockets: 10,
            frame_bytes: 100,
            frames_per_write: 1,
            secs: 1.0,
            frames: 1000,
            frames_per_sec: 1000.0,
            writer_cpu_us_per_frame: 4.0,
            would_block: 0,
            bytes_written: 100_000,
            bytes_read: 90_000,
            cpu_clock: crate::floor::CpuClock::Schedstat,
        };
        let mut table = Table::new("t");
        table.push(Row::new().us_per_delivery("server µs/delivery", 10.0, Some(&floor)));
        table.push(Row::new().us_per_delivery("server µs/delivery", f64::NAN, Some(&floor)));
        let mut report = Report::new("s");
        report.floor(Some(floor));
        report.table(table);
        let md = report.markdown();
        assert!(md.contains("| server µs/delivery | × floor |"), "{md}");
        assert!(md.contains("| 10.00 | 2.50 |"), "{md}");
        assert!(md.contains("| – | – |"), "{md}");
        assert!(md.contains("4.00 µs of writer CPU per frame"), "{md}");
        let json = report.json();
        assert_eq!(json["tables"][0]["rows"][0]["× floor"], 2.5);
        assert!(json["tables"][0]["rows"][1]["× floor"].is_null());
        assert_eq!(json["floor"]["writer_cpu_us_per_frame"], 4.0);
        assert_eq!(json["floor"]["cpu_clock"], "schedstat");

        // Skipped: said so, the ratio left empty.
        let mut table = Table::new("t");
        table.push(Row::new().us_per_delivery("server µs/delivery", 10.0, None));
        let mut report = Report::new("s");
        report.floor(None);
        report.table(table);
        let md = report.markdown();
        assert!(md.contains("Floor: not measured"), "{md}");
        assert!(md.contains("| 10.00 | – |"), "{md}");
        assert!(report.json()["floor"].is_null());
    }
}
