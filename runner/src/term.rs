//! What the binary draws on a terminal: tables that fit its width. On a terminal
//! comfy-table measures the width itself; without one (a pipe, a CI log) `COLUMNS` is
//! honoured when set, as `ls` and most tools do, and the table is left whole otherwise.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

/// The width to fit tables to when stdout is not a terminal: `COLUMNS`, if a number
/// (a terminal's own width is comfy-table's to read).
pub fn width_override() -> Option<u16> {
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return None;
    }
    columns(std::env::var("COLUMNS").ok().as_deref())
}

/// `COLUMNS` read as a width: a positive number; anything else is no width.
fn columns(v: Option<&str>) -> Option<u16> {
    v?.trim().parse::<u16>().ok().filter(|w| *w > 0)
}

/// Makes `t` fit the terminal: columns wrap their cells (comfy-table's dynamic
/// arrangement) so the whole table stays within the width.
pub fn fit(t: &mut Table) {
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = width_override() {
        t.set_width(w);
    }
}

/// A table in visreg's style, fitted to the terminal.
pub fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    fit(&mut t);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_is_a_positive_width_or_none() {
        assert_eq!(columns(Some("100")), Some(100));
        assert_eq!(columns(Some(" 80\n")), Some(80));
        for bad in [
            None,
            Some(""),
            Some("0"),
            Some("wide"),
            Some("-3"),
            Some("99999"),
        ] {
            assert_eq!(columns(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_fitted_table_stays_within_its_width() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_width(60);
        t.set_header(["build", "notes"]);
        t.add_row([
            "5.1.0-rc3",
            &"tags beyond 35° lost and 20 % slower ".repeat(4),
        ]);
        let s = t.to_string();
        let widest = s.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= 60, "{widest} columns:\n{s}");
        assert!(s.contains("5.1.0-rc3"));
    }
}
