//! Spark SQL text built from names and values that come from users: every identifier
//! is quoted, every string is a literal, every number is printed so that Spark reads
//! back the same double. Nothing a config or a dataset holds is ever pasted raw.

/// A quoted identifier: `` `name` ``, with backticks inside doubled.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string literal. Spark's parser reads backslash escapes in literals, so both the
/// quote and the backslash are escaped.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A double literal Spark reads back bit for bit (`1.5D`, `-2.0E-7D`); infinities and
/// NaN as casts of their names.
pub fn double(x: f64) -> String {
    if x.is_nan() {
        "CAST('NaN' AS DOUBLE)".into()
    } else if x.is_infinite() {
        format!(
            "CAST('{}' AS DOUBLE)",
            if x > 0.0 { "Infinity" } else { "-Infinity" }
        )
    } else {
        // Rust's `{:e}` is the shortest text that round-trips.
        format!("{x:e}D")
    }
}

/// The content fingerprint of a dataset, computed by Spark: the number of rows, and
/// over the rows' 64-bit hashes (`xxhash64` of every column, in schema order) their
/// sum (exact, as a decimal) and their XOR. Both are independent of row order and of
/// partitioning, so the same rows give the same fingerprint however Spark laid them
/// out; a changed, added or dropped row changes it.
pub fn fingerprint(view: &str, columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let h = format!("xxhash64({})", cols.join(", "));
    format!(
        "SELECT count(*), CAST(coalesce(sum(CAST({h} AS DECIMAL(38, 0))), 0) AS STRING), coalesce(bit_xor({h}), 0) FROM {}",
        ident(view)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_strings_cannot_break_out() {
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(ident("x; DROP TABLE t"), "`x; DROP TABLE t`");
        assert_eq!(string("it's"), "'it\\'s'");
        assert_eq!(string("a\\' OR 1=1 --"), "'a\\\\\\' OR 1=1 --'");
    }

    #[test]
    fn doubles_round_trip_through_their_text() {
        for x in [
            0.1,
            -2.5e-300,
            1e300,
            123_456_789.123_456_79,
            1.0 / 3.0,
            0.0,
            -0.0,
        ] {
            let t = double(x);
            let back: f64 = t.trim_end_matches('D').parse().unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{t}");
        }
        assert_eq!(double(f64::INFINITY), "CAST('Infinity' AS DOUBLE)");
    }
}
