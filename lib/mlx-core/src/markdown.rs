//! Text from outside (data values, comments) made inert inside Markdown.

/// Backslash-escapes the characters Markdown gives meaning to (`|` in tables,
/// backticks, emphasis, links and images, HTML), drops control characters (ANSI
/// escapes) and turns line breaks into spaces, so the text renders as itself on one
/// line.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c if "\\`*_[]()<>|#!~&".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Mermaid's text: quotes and brackets would end a label early.
pub fn mermaid_label(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '"' | '[' | ']' | ',') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_values_cannot_break_the_markdown() {
        let s = super::escape("a|b `c` \u{1b}[31mred\nnext ![i](u)");
        assert_eq!(s, "a\\|b \\`c\\` \\[31mred next \\!\\[i\\]\\(u\\)");
    }
}
