//! A config problem with its location, rendered like a compiler error.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a config file: where it is, which key, what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key path, e.g. `split.strategy` or `models[1].type`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it ("did you mean ...", "set ...").
    pub hint: Option<String>,
    /// The offending source line, for the caret display.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without a location yet.
    pub fn new(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            column: None,
            key: key.into(),
            message: message.into(),
            hint: None,
            source_line: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the location and captures the source line for display.
    pub fn at(mut self, line: usize, column: usize, source: &str) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self.source_line = source
            .lines()
            .nth(line.saturating_sub(1))
            .map(str::to_owned);
        self
    }

    /// `file:line:column`, as far as known.
    pub fn location(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file.display()),
            (Some(l), None) => format!("{}:{l}", self.file.display()),
            _ => self.file.display().to_string(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location())?;
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        write!(f, "{}", self.message)?;
        if let (Some(src), Some(line), Some(col)) = (&self.source_line, self.line, self.column) {
            let gutter = line.to_string().len();
            write!(f, "\n{:gutter$} |\n{line} | {src}\n{:gutter$} | ", "", "")?;
            write!(f, "{:1$}^", "", col.saturating_sub(1))?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  = help: {h}")?;
        }
        Ok(())
    }
}

/// Every problem found in one config, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() > 1 {
            write!(f, "\n{} problems in the config", self.0.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_l = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&word_l, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let c = ["training", "evaluation", "pipeline"];
        assert_eq!(did_you_mean("trainng", c), Some("training"));
        assert_eq!(did_you_mean("Pipline", c), Some("pipeline"));
        assert_eq!(did_you_mean("banana", c), None);
    }

    #[test]
    fn renders_with_caret() {
        let src = "a: 1\ntraining:\n  epoch: 3\n";
        let d = Diagnostic::new(Path::new("mlx.yaml"), "training.epoch", "unknown key")
            .at(3, 3, src)
            .with_hint("did you mean `epochs`?");
        assert_eq!(
            d.to_string(),
            "mlx.yaml:3:3: `training.epoch`: unknown key\n  |\n3 |   epoch: 3\n  |   ^\n  = help: did you mean `epochs`?"
        );
    }
}
