//! How numbers read in tables and reports: one place for the dash of a missing value and
//! the unit after a number.

/// `v` with `digits` decimals and its unit, or a dash when missing or not finite.
pub(crate) fn opt(v: Option<f64>, digits: usize, unit: &str) -> String {
    match v {
        Some(v) if v.is_finite() && unit.is_empty() => format!("{v:.digits$}"),
        Some(v) if v.is_finite() => format!("{v:.digits$} {unit}"),
        _ => "–".into(),
    }
}

/// A proportion in %, or a dash.
pub(crate) fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1} %", 100.0 * x))
        .unwrap_or_else(|| "–".into())
}

/// A count, or a dash.
pub(crate) fn count(v: Option<u64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "–".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_are_a_dash_and_units_follow_numbers() {
        assert_eq!(opt(Some(1.2345), 2, "ms"), "1.23 ms");
        assert_eq!(opt(Some(1.2345), 3, ""), "1.234");
        assert_eq!(opt(Some(f64::NAN), 2, "ms"), "–");
        assert_eq!(opt(None, 2, ""), "–");
        assert_eq!(pct(Some(0.5)), "50.0 %");
        assert_eq!(count(None), "–");
    }
}
