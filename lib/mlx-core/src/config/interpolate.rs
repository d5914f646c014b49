//! `${VAR}` / `${VAR:-default}` interpolation of config values, and secret masking.
//!
//! Interpolation runs on parsed scalar *values* (never keys, never raw text), so an
//! environment value can never change the structure of the YAML, and a substituted
//! plain scalar is typed afterwards like any other (`epochs: ${EPOCHS:-50}` is a number).
//!
//! Syntax, as in POSIX shells and docker-compose:
//! - `${NAME}`: the variable's value; an error when it is unset.
//! - `${NAME:-default}`: the default when the variable is unset or empty.
//! - `$$`: a literal `$`. A `$` not followed by `{` or `$` is kept as is.
//!
//! Masking: values of variables whose name looks like a secret (contains `PASSWORD`,
//! `PASSWD`, `SECRET`, `TOKEN`, `KEY`, `CREDENTIAL`, `AUTH` or `PWD`), the password
//! part of any URL (`scheme://user:password@host`, a password with `/` or spaces
//! included) and secret-named query parameters (`?password=…`, `&token=…`) are
//! replaced by `***` wherever mlx shows or records config text; the CLI masks every
//! line it prints with the secrets of the configs it loaded ([`mask_known`]).

/// Looks variables up; `std::env::var` in production, a map in tests.
pub trait Env {
    /// The value, or `None` when unset (or not valid UTF-8).
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> Env for std::collections::HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// An interpolation problem, with the byte offset in the scalar where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    /// Byte offset of the `$` in the scalar.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// The result of interpolating one scalar.
#[derive(Debug, Default)]
pub struct Interpolated {
    /// The new text.
    pub value: String,
    /// Substituted values that must never be shown (see the module docs).
    pub secrets: Vec<String>,
    /// The variables used, in order.
    pub variables: Vec<Variable>,
}

/// A variable a config refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Whether the reference gives a default (`${NAME:-default}`), so the config loads
    /// without it.
    pub optional: bool,
}

/// Whether a variable name looks like it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    const MARKERS: &[&str] = &[
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "KEY",
        "CREDENTIAL",
        "AUTH",
        "PWD",
    ];
    let upper = name.to_ascii_uppercase();
    MARKERS.iter().any(|m| upper.contains(m))
}

/// A URL as messages and records show it: without its query string or user info
/// (either may hold a key).
pub fn url_label(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or("").to_owned(),
    }
}

/// Interpolates one scalar.
pub fn interpolate(text: &str, env: &dyn Env) -> Result<Interpolated, InterpolationError> {
    let mut out = Interpolated::default();
    if !text.contains('$') {
        out.value = text.to_owned();
        return Ok(out);
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut value = String::with_capacity(text.len());
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = text[i..].find('$').map_or(text.len(), |p| i + p);
            value.push_str(&text[i..next]);
            i = next;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => {
                value.push('$');
                i += 2;
            }
            Some(b'{') => {
                let start = i;
                let Some(close) = text[i + 2..].find('}').map(|p| i + 2 + p) else {
                    return Err(InterpolationError {
                        offset: start,
                        message: "unterminated `${`".into(),
                        hint: "close it with `}`, or write `$$` for a literal `$`".into(),
                    });
                };
                let inner = &text[i + 2..close];
                let (name, default) = match inner.find(":-") {
                    Some(p) => (&inner[..p], Some(&inner[p + 2..])),
                    None => (inner, None),
                };
                let valid = !name.is_empty()
                    && !name.as_bytes()[0].is_ascii_digit()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    return Err(InterpolationError {
                        offset: start,
                        message: format!("`${{{inner}}}` is not a valid variable reference"),
                        hint: "use `${NAME}` or `${NAME:-default}`, where NAME is letters, digits and `_`".into(),
                    });
                }
                let found = env.get(name).filter(|v| default.is_none() || !v.is_empty());
                let substituted = match (found, default) {
                    (Some(v), _) => v,
                    (None, Some(d)) => d.to_owned(),
                    (None, None) => {
                        return Err(InterpolationError {
                            offset: start,
                            message: format!("environment variable `{name}` is not set"),
                            hint: format!(
                                "export {name}=..., or give a default with `${{{name}:-value}}`"
                            ),
                        })
                    }
                };
                if is_secret_name(name) && !substituted.is_empty() {
                    out.secrets.push(substituted.clone());
                }
                out.variables.push(Variable {
                    name: name.to_owned(),
                    optional: default.is_some(),
                });
                value.push_str(&substituted);
                i = close + 1;
            }
            _ => {
                value.push('$');
                i += 1;
            }
        }
    }
    out.value = value;
    Ok(out)
}

/// Replaces every secret in `text` by `***`, and the password of any URL.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    // Longest first, so a secret that contains another is masked whole.
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in sorted {
        out = out.replace(s.as_str(), "***");
    }
    mask_query_secrets(&mask_url_passwords(&out))
}

/// Secrets of every config this process loaded ([`remember_secrets`]), so that an
/// error or a line printed far from the config (a runtime error quoting a value) is
/// masked too.
static KNOWN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Adds a loaded config's secrets to the process-wide list [`mask_known`] uses.
pub fn remember_secrets(secrets: &[String]) {
    if let Ok(mut k) = KNOWN.lock() {
        for s in secrets {
            if !s.is_empty() && !k.contains(s) {
                k.push(s.clone());
            }
        }
    }
}

/// [`mask`] with every secret of every config this process loaded.
pub fn mask_known(text: &str) -> String {
    let known = KNOWN.lock().map(|k| k.clone()).unwrap_or_default();
    mask(text, &known)
}

/// Whether a password or parameter value is one `${NAME}` reference: config text as
/// written (the diagnostics' excerpts, `mlx export kubernetes`), not a secret.
fn is_reference(value: &str) -> bool {
    value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `scheme://user:password@host` → `scheme://user:***@host` (a `${NAME}` reference in
/// the password's place is kept: it is not the secret). The password runs from
/// the first `:` of the user part to the first `@` after it on the same line, so a
/// password holding `/` or a space is masked whole.
fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find("://") {
        let (head, tail) = rest.split_at(p + 3);
        out.push_str(head);
        // The user: up to `:`, with no `/`, `@`, space or quote before it.
        let user_end = tail
            .find(|c: char| matches!(c, ':' | '/' | '@' | '"' | '\'' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        let line_end = tail.find(['\n', '"', '\'', '`']).unwrap_or(tail.len());
        let at = tail[..line_end]
            .get(user_end..)
            .filter(|_| tail[user_end..].starts_with(':'))
            .and_then(|pw| {
                let next_url = pw.find("://").unwrap_or(pw.len());
                pw[..next_url].find('@')
            });
        match at.filter(|&at| !is_reference(&tail[user_end + 1..user_end + at])) {
            Some(at) => {
                out.push_str(&tail[..=user_end]);
                out.push_str("***");
                rest = &tail[user_end + at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// `?password=…`, `&token=…` and the like (any parameter whose name looks like a
/// secret, [`is_secret_name`]) → `?password=***`.
fn mask_query_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find(['?', '&']) {
        let (head, tail) = rest.split_at(p + 1);
        out.push_str(head);
        let name_end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(tail.len());
        if name_end > 0 && tail[name_end..].starts_with('=') && is_secret_name(&tail[..name_end]) {
            let value_start = name_end + 1;
            let value_end = tail[value_start..]
                .find(|c: char| matches!(c, '&' | '#' | '"' | '\'' | '`') || c.is_whitespace())
                .map_or(tail.len(), |e| value_start + e);
            out.push_str(&tail[..value_start]);
            if is_reference(&tail[value_start..value_end]) {
                out.push_str(&tail[value_start..value_end]);
            } else if value_end > value_start {
                out.push_str("***");
            }
            rest = &tail[value_end..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn labels_drop_queries_and_credentials() {
        assert_eq!(
            url_label("https://u:p@api.example.com/v1/spend?api_key=abc&from=1#x"),
            "https://api.example.com/v1/spend"
        );
        assert_eq!(url_label("not a url?key=1"), "not a url");
    }

    fn env() -> HashMap<String, String> {
        HashMap::from([
            ("HOST".into(), "db.local".into()),
            ("DB_PASSWORD".into(), "hunter2".into()),
            ("EMPTY".into(), String::new()),
        ])
    }

    #[test]
    fn substitutes_defaults_and_escapes() {
        let e = env();
        let r = interpolate("postgres://u:${DB_PASSWORD}@${HOST}:5432/x", &e).unwrap();
        assert_eq!(r.value, "postgres://u:hunter2@db.local:5432/x");
        assert_eq!(r.secrets, vec!["hunter2".to_string()]);
        let names: Vec<&str> = r.variables.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["DB_PASSWORD", "HOST"]);
        assert!(r.variables.iter().all(|v| !v.optional));
        assert!(interpolate("${NOPE:-50}", &e).unwrap().variables[0].optional);
        assert_eq!(interpolate("${NOPE:-50}", &e).unwrap().value, "50");
        assert_eq!(interpolate("${EMPTY:-d}", &e).unwrap().value, "d");
        assert_eq!(interpolate("${EMPTY}", &e).unwrap().value, "");
        assert_eq!(interpolate("cost $$5 $x", &e).unwrap().value, "cost $5 $x");
        assert_eq!(interpolate("${NOPE:-}", &e).unwrap().value, "");
    }

    #[test]
    fn reports_bad_references() {
        let e = env();
        let err = interpolate("x ${NOPE}", &e).unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(err.message.contains("`NOPE` is not set"));
        assert!(interpolate("${HOST", &e)
            .unwrap_err()
            .message
            .contains("unterminated"));
        assert!(interpolate("${1X}", &e)
            .unwrap_err()
            .message
            .contains("not a valid"));
        assert!(interpolate("${}", &e).is_err());
    }

    #[test]
    fn masks_secrets_and_url_passwords() {
        let s = vec!["hunter2".to_string()];
        assert_eq!(mask("pw is hunter2", &s), "pw is ***");
        assert_eq!(
            mask("mysql://root:literal@h/db and s3://bucket/x", &[]),
            "mysql://root:***@h/db and s3://bucket/x"
        );
        assert_eq!(mask("https://h:8080/p", &[]), "https://h:8080/p");
    }

    #[test]
    fn masks_passwords_with_slashes_spaces_and_in_query_strings() {
        let cases = [
            ("postgres://u:pa/ss@h:5432/db", "postgres://u:***@h:5432/db"),
            ("uri: postgres://u:pa ss@h/db", "uri: postgres://u:***@h/db"),
            (
                "mysql://root:p@h/db and mysql://x:y@z/w",
                "mysql://root:***@h/db and mysql://x:***@z/w",
            ),
            (
                "postgres://h/db?sslmode=require&password=s3cr/et x",
                "postgres://h/db?sslmode=require&password=*** x",
            ),
            (
                "https://api/x?api_key=abc&page=2",
                "https://api/x?api_key=***&page=2",
            ),
            ("https://h/x?page=2&q=token", "https://h/x?page=2&q=token"),
            ("https://h:8080/p", "https://h:8080/p"),
            ("s3://bucket/a:b@c", "s3://bucket/a:b@c"),
            // A reference as written is not the secret; anything more is masked.
            ("postgres://u:${PG_PW}@h/db", "postgres://u:${PG_PW}@h/db"),
            ("postgres://u:x${PG_PW}@h/db", "postgres://u:***@h/db"),
            (
                "https://h/x?token=${API_TOKEN}&p=1",
                "https://h/x?token=${API_TOKEN}&p=1",
            ),
            ("https://h/x?token=${A}${B}", "https://h/x?token=***"),
        ];
        for (text, want) in cases {
            assert_eq!(mask(text, &[]), want, "{text}");
        }
    }
}
