//! Counters whose label values are known at compile time, for the series every call records:
//! one relaxed atomic add per increment (no registry lookup, no label hashing, no handle), and
//! rendered after the recorder's text like [`super::histogram`]'s, as Prometheus `counter`s.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A counter per (row, column) of label values.
pub struct Table<const ROWS: usize, const COLUMNS: usize> {
    name: &'static str,
    help: &'static str,
    /// The label set of a cell as Prometheus writes it (`method="GetMetrics",code="Ok"`).
    labels: fn(usize, usize) -> String,
    cells: [[AtomicU64; COLUMNS]; ROWS],
}

impl<const ROWS: usize, const COLUMNS: usize> Table<ROWS, COLUMNS> {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: fn(usize, usize) -> String,
    ) -> Self {
        Table {
            name,
            help,
            labels,
            cells: [const { [const { AtomicU64::new(0) }; COLUMNS] }; ROWS],
        }
    }

    /// Adds one to the counter of (`row`, `column`); nothing outside the table.
    pub fn increment(&self, row: usize, column: usize) {
        if let Some(cell) = self.cells.get(row).and_then(|cells| cells.get(column)) {
            cell.fetch_add(1, Relaxed);
        }
    }

    /// HELP, TYPE and every counter above zero (nothing when none is).
    pub fn render(&self, out: &mut String) {
        let mut header = Some((self.name, self.help));
        for (row, cells) in self.cells.iter().enumerate() {
            for (column, cell) in cells.iter().enumerate() {
                let value = cell.load(Relaxed);
                if value == 0 {
                    continue;
                }
                if let Some((name, help)) = header.take() {
                    let _ = writeln!(out, "# HELP {name} {help}");
                    let _ = writeln!(out, "# TYPE {name} counter");
                }
                let labels = (self.labels)(row, column);
                let _ = writeln!(out, "{}{{{labels}}} {value}", self.name);
            }
        }
        if header.is_none() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(row: usize, column: usize) -> String {
        format!("row=\"{row}\",column=\"{column}\"")
    }

    #[test]
    fn renders_the_counters_above_zero_and_ignores_cells_outside() {
        let table: Table<2, 3> = Table::new("t_total", "Things.", labels);
        let mut text = String::new();
        table.render(&mut text);
        assert_eq!(text, "", "nothing recorded, nothing rendered");
        table.increment(0, 2);
        table.increment(1, 0);
        table.increment(1, 0);
        table.increment(2, 0);
        table.increment(0, 3);
        table.render(&mut text);
        assert_eq!(
            text,
            "# HELP t_total Things.\n# TYPE t_total counter\n\
             t_total{row=\"0\",column=\"2\"} 1\nt_total{row=\"1\",column=\"0\"} 2\n\n"
        );
    }
}
