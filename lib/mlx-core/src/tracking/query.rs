//! `--filter` and `--sort` of `mlx runs list`, in MLflow's search syntax:
//! `metrics.test.accuracy > 0.9 and params.max_depth <= 8 and tags.git.branch = 'main'`.
//!
//! Grammar: `expr := term (or term)*`, `term := factor (and factor)*`,
//! `factor := not factor | ( expr ) | KEY OP VALUE`; `OP` is `=`, `!=`, `<`, `<=`,
//! `>`, `>=`, `like`, `ilike` (`%` and `_` wildcards); `VALUE` a number or a quoted
//! string. A run without the key matches no comparison, as in SQL.

use std::cmp::Ordering;

use mlx_contracts::config::ParamValue;
use mlx_contracts::tracking::EntryKind;
use rayon::prelude::*;

use super::Run;
use crate::error::{Error, Result};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
    /// Not.
    Not(Box<Filter>),
    /// One comparison.
    Cmp(Key, Op, Value),
}

/// What a key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `metrics.<name>`.
    Metric(String),
    /// `params.<name>`.
    Param(String),
    /// `tags.<name>`.
    Tag(String),
    /// `id`, `name`, `model`, `status`, `training`, `run_id`, `started`.
    Attribute(String),
}

/// The attributes a key may name.
pub const ATTRIBUTES: &[&str] = &[
    "id", "name", "model", "status", "training", "run_id", "started",
];

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Number(f64),
    /// A quoted string.
    Text(String),
}

/// A key's value on one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A number.
    Number(f64),
    /// Text.
    Text(String),
}

impl Field {
    fn cmp_to(&self, other: &Field) -> Option<Ordering> {
        match (self, other) {
            (Field::Number(a), Field::Number(b)) => a.partial_cmp(b),
            (Field::Text(a), Field::Text(b)) => Some(a.cmp(b)),
            // `tags.epochs > 10` on the text "12": compare as numbers when both are.
            (Field::Text(a), Field::Number(b)) => a.parse::<f64>().ok()?.partial_cmp(b),
            (Field::Number(a), Field::Text(b)) => a.partial_cmp(&b.parse::<f64>().ok()?),
        }
    }

    /// As a table cell.
    pub fn display(&self) -> String {
        match self {
            Field::Number(x) => format_number(*x),
            Field::Text(t) => t.clone(),
        }
    }
}

/// A number as the tables show it: integers without a fraction, others to 6
/// significant digits.
pub fn format_number(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.is_finite() && x != 0.0 && (x.abs() >= 1e6 || x.abs() < 1e-4) {
        format!("{x:.4e}")
    } else {
        let digits = (5 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
        let s = format!("{x:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    }
}

impl Key {
    /// Parses `metrics.x`, `params.x`, `tags.x`, `attributes.x` or a bare attribute.
    pub fn parse(text: &str) -> Result<Key> {
        let bad = |why: String| Error::Usage(why);
        let (head, rest) = match text.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (text, None),
        };
        let named = |what: &str| -> Result<String> {
            match rest {
                Some(r) if !r.is_empty() => Ok(r.trim_matches('`').to_owned()),
                _ => Err(bad(format!(
                    "`{text}` names no {what}: write `{head}.<name>`, e.g. `{head}.{}`",
                    match head {
                        "metrics" => "test.accuracy",
                        "params" => "max_depth",
                        _ => "git.branch",
                    }
                ))),
            }
        };
        match head {
            "metrics" | "metric" => Ok(Key::Metric(named("metric")?)),
            "params" | "param" => Ok(Key::Param(named("parameter")?)),
            "tags" | "tag" => Ok(Key::Tag(named("tag")?)),
            "attributes" | "attribute" => {
                let a = named("attribute")?;
                Self::attribute(&a, text)
            }
            _ if rest.is_none() => Self::attribute(head, text),
            _ => Err(bad(format!(
                "`{text}` is not a key: keys are metrics.<name>, params.<name>, tags.<name> \
                 or an attribute ({})",
                ATTRIBUTES.join(", ")
            ))),
        }
    }

    fn attribute(a: &str, text: &str) -> Result<Key> {
        let a = if a == "start_time" { "started" } else { a };
        if ATTRIBUTES.contains(&a) {
            Ok(Key::Attribute(a.to_owned()))
        } else {
            let hint = crate::config::did_you_mean(a, ATTRIBUTES.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            Err(Error::Usage(format!(
                "`{text}` is not a key{hint}: keys are metrics.<name>, params.<name>, \
                 tags.<name> or an attribute ({})",
                ATTRIBUTES.join(", ")
            )))
        }
    }

    /// The key as written canonically.
    pub fn label(&self) -> String {
        match self {
            Key::Metric(m) => format!("metrics.{m}"),
            Key::Param(p) => format!("params.{p}"),
            Key::Tag(t) => format!("tags.{t}"),
            Key::Attribute(a) => a.clone(),
        }
    }

    /// Its value on `run`. `metrics.<m>` without a set (`metrics.accuracy`) is the
    /// held-out score: `test.<m>`, else `validation.<m>`; `params.model` is the model
    /// family unless a hyperparameter is called `model`.
    pub fn of(&self, run: &Run) -> Option<Field> {
        match self {
            Key::Metric(m) => run
                .metrics
                .get(m)
                .or_else(|| {
                    (!m.contains('.')).then(|| {
                        run.metrics
                            .get(&format!("test.{m}"))
                            .or_else(|| run.metrics.get(&format!("validation.{m}")))
                    })?
                })
                .map(|x| Field::Number(*x)),
            Key::Param(p) => match run.entry.params.get(p) {
                Some(v) => Some(param_field(v)),
                None if p == "model" => run.entry.model_type.clone().map(Field::Text),
                None => None,
            },
            Key::Tag(t) => run.tags.get(t).map(|v| Field::Text(v.clone())),
            Key::Attribute(a) => {
                let e = &run.entry;
                let text = match a.as_str() {
                    "id" => e.id.clone(),
                    "name" => e.name.clone(),
                    "model" => e.model_type.clone()?,
                    "status" => e.status.to_string(),
                    "training" => e.training.clone()?,
                    "run_id" => e.run_id.clone()?,
                    _ => e
                        .started_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                };
                Some(Field::Text(text))
            }
        }
    }
}

fn param_field(v: &ParamValue) -> Field {
    match v {
        ParamValue::Int(i) => Field::Number(*i as f64),
        ParamValue::Float(x) => Field::Number(*x),
        ParamValue::String(s) => Field::Text(s.clone()),
        other => Field::Text(other.to_string()),
    }
}

impl Filter {
    /// Parses a filter; errors say where and what was expected.
    pub fn parse(text: &str) -> Result<Filter> {
        let tokens = lex(text)?;
        let mut p = Parser {
            tokens: &tokens,
            at: 0,
            text,
        };
        let f = p.or()?;
        if let Some(t) = p.peek() {
            return Err(p.error(t, "`and`, `or` or the end of the filter"));
        }
        Ok(f)
    }

    /// Whether `run` matches.
    /// The runs that match, in their order: matched on every core, and the rest freed
    /// on a thread of its own, since a listing waits for none of them (at 100,000 runs
    /// that freeing alone took 45 ms).
    pub fn keep(&self, runs: Vec<Run>) -> Vec<Run> {
        let (kept, rest): (Vec<Run>, Vec<Run>) =
            runs.into_par_iter().partition(|r| self.matches(r));
        std::thread::spawn(move || drop(rest));
        kept
    }

    pub fn matches(&self, run: &Run) -> bool {
        match self {
            Filter::And(a, b) => a.matches(run) && b.matches(run),
            Filter::Or(a, b) => a.matches(run) || b.matches(run),
            Filter::Not(a) => !a.matches(run),
            Filter::Cmp(key, op, value) => {
                let Some(field) = key.of(run) else {
                    return false;
                };
                let lit = match value {
                    Value::Number(x) => Field::Number(*x),
                    Value::Text(t) => Field::Text(t.clone()),
                };
                match op {
                    Op::Like | Op::ILike => {
                        let (Field::Text(s), Field::Text(p)) = (&field, &lit) else {
                            return false;
                        };
                        if *op == Op::ILike {
                            like(&s.to_lowercase(), &p.to_lowercase())
                        } else {
                            like(s, p)
                        }
                    }
                    _ => match field.cmp_to(&lit) {
                        None => *op == Op::Ne && matches!(lit, Field::Text(_)),
                        Some(o) => match op {
                            Op::Eq => o == Ordering::Equal,
                            Op::Ne => o != Ordering::Equal,
                            Op::Lt => o == Ordering::Less,
                            Op::Le => o != Ordering::Greater,
                            Op::Gt => o == Ordering::Greater,
                            _ => o != Ordering::Less,
                        },
                    },
                }
            }
        }
    }
}

/// SQL `LIKE`: `%` any run of characters, `_` one.
fn like(s: &str, pattern: &str) -> bool {
    fn go(s: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(&s[i..], rest)),
            Some(('_', rest)) => !s.is_empty() && go(&s[1..], rest),
            Some((c, rest)) => s.first() == Some(c) && go(&s[1..], rest),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&s, &p)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Num(f64),
    Str(String),
    Op(Op),
    Open,
    Close,
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, what: &str| {
        Error::Usage(format!(
            "--filter: {what} at column {}:\n  {text}\n  {}^",
            at + 1,
            " ".repeat(at)
        ))
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push((start, Tok::Open));
                i += 1;
            }
            ')' => {
                out.push((start, Tok::Close));
                i += 1;
            }
            '\'' | '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "an unclosed string")),
                        // SQL's escape: a doubled quote.
                        Some(q) if *q == c && chars.get(i + 1) == Some(&c) => {
                            s.push(c);
                            i += 2;
                        }
                        Some(q) if *q == c => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Str(s)));
            }
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('=', Some('=')) => (Op::Eq, 2),
                    ('=', _) => (Op::Eq, 1),
                    ('!', Some('=')) => (Op::Ne, 2),
                    ('<', Some('>')) => (Op::Ne, 2),
                    ('<', Some('=')) => (Op::Le, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('>', _) => (Op::Gt, 1),
                    _ => return Err(err(start, "`!` without `=`")),
                };
                out.push((start, Tok::Op(op)));
                i += len;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '.')
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| n.is_ascii_digit() || *n == '.')) =>
            {
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | '-' | '+')
                            && (i == start
                                || matches!(chars[i], '.')
                                || matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let x = word
                    .parse::<f64>()
                    .map_err(|_| err(start, &format!("`{word}` is not a number")))?;
                out.push((start, Tok::Num(x)));
            }
            c if c.is_alphanumeric() || c == '_' || c == '`' => {
                while i < chars.len() {
                    match chars[i] {
                        '`' => {
                            // A quoted segment: metrics.`my metric`.
                            i += 1;
                            while i < chars.len() && chars[i] != '`' {
                                i += 1;
                            }
                            if i == chars.len() {
                                return Err(err(start, "an unclosed ` quote"));
                            }
                            i += 1;
                        }
                        ch if ch.is_alphanumeric() || matches!(ch, '_' | '.' | '-' | '/' | ':') => {
                            i += 1
                        }
                        _ => break,
                    }
                }
                let word: String = chars[start..i].iter().collect();
                let tok = match word.to_ascii_lowercase().as_str() {
                    "like" => Tok::Op(Op::Like),
                    "ilike" => Tok::Op(Op::ILike),
                    _ => Tok::Word(word),
                };
                out.push((start, tok));
            }
            _ => return Err(err(start, &format!("unexpected `{c}`"))),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: &'a [(usize, Tok)],
    at: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&(usize, Tok)> {
        self.tokens.get(self.at)
    }

    fn error(&self, (at, tok): &(usize, Tok), expected: &str) -> Error {
        let found = match tok {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Num(x) => format!("the number {x}"),
            Tok::Str(s) => format!("the string '{s}'"),
            Tok::Op(_) => "an operator".into(),
            Tok::Open => "`(`".into(),
            Tok::Close => "`)`".into(),
        };
        self.error_at(*at, &format!("expected {expected}, found {found}"))
    }

    fn error_at(&self, at: usize, what: &str) -> Error {
        Error::Usage(format!(
            "--filter: {what} at column {}:\n  {}\n  {}^",
            at + 1,
            self.text,
            " ".repeat(at)
        ))
    }

    fn end(&self) -> usize {
        self.text.chars().count()
    }

    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Some((_, Tok::Word(w))) if w.eq_ignore_ascii_case(k)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Filter> {
        let mut f = self.and()?;
        while self.keyword("or") {
            f = Filter::Or(Box::new(f), Box::new(self.and()?));
        }
        Ok(f)
    }

    fn and(&mut self) -> Result<Filter> {
        let mut f = self.factor()?;
        while self.keyword("and") {
            f = Filter::And(Box::new(f), Box::new(self.factor()?));
        }
        Ok(f)
    }

    fn factor(&mut self) -> Result<Filter> {
        if self.keyword("not") {
            return Ok(Filter::Not(Box::new(self.factor()?)));
        }
        let Some(tok) = self.peek().cloned() else {
            return Err(self.error_at(self.end(), "expected a comparison (KEY OP VALUE)"));
        };
        match &tok.1 {
            Tok::Open => {
                self.at += 1;
                let f = self.or()?;
                match self.peek() {
                    Some((_, Tok::Close)) => {
                        self.at += 1;
                        Ok(f)
                    }
                    Some(t) => Err(self.error(t, "`)`")),
                    None => Err(self.error_at(self.end(), "expected `)`")),
                }
            }
            Tok::Word(w) => {
                let key = Key::parse(w).map_err(|e| self.error_at(tok.0, &e.to_string()))?;
                self.at += 1;
                let op = match self.peek() {
                    Some((_, Tok::Op(op))) => *op,
                    Some(t) => {
                        return Err(self.error(t, "an operator (=, !=, <, <=, >, >=, like, ilike)"))
                    }
                    None => {
                        return Err(
                            self.error_at(self.end(), &format!("expected an operator after `{w}`"))
                        )
                    }
                };
                self.at += 1;
                let value = match self.peek() {
                    Some((_, Tok::Num(x))) => Value::Number(*x),
                    Some((_, Tok::Str(s))) => Value::Text(s.clone()),
                    Some(t @ (_, Tok::Word(_))) => {
                        return Err(self.error(t, "a number or a quoted string ('text')"))
                    }
                    Some(t) => return Err(self.error(t, "a number or a quoted string")),
                    None => return Err(self.error_at(self.end(), "expected a value")),
                };
                if matches!(op, Op::Like | Op::ILike) && matches!(value, Value::Number(_)) {
                    return Err(self.error_at(
                        self.tokens[self.at].0,
                        "like and ilike compare with a quoted pattern ('rf%')",
                    ));
                }
                self.at += 1;
                Ok(Filter::Cmp(key, op, value))
            }
            _ => Err(self.error(&tok, "a comparison (KEY OP VALUE), `not` or `(`")),
        }
    }
}

/// One `--sort` key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// What to sort by.
    pub key: Key,
    /// Largest first.
    pub descending: bool,
}

/// Parses `--sort`: keys separated by commas, each `KEY`, `KEY asc`, `KEY desc` or
/// `-KEY` (descending).
pub fn parse_sort(text: &str) -> Result<Vec<SortKey>> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let (key, descending) = if let Some(k) = part.strip_prefix('-') {
                (k.trim(), true)
            } else {
                let lower = part.to_ascii_lowercase();
                if lower.ends_with(" desc") {
                    (part[..part.len() - 5].trim(), true)
                } else if lower.ends_with(" asc") {
                    (part[..part.len() - 4].trim(), false)
                } else {
                    (part, false)
                }
            };
            if key.is_empty() || key.contains(' ') {
                return Err(Error::Usage(format!(
                    "--sort `{part}`: write KEY, `KEY desc` or -KEY, e.g. --sort \
                     'metrics.test.accuracy desc'"
                )));
            }
            Ok(SortKey {
                key: Key::parse(key).map_err(|e| Error::Usage(format!("--sort: {e}")))?,
                descending,
            })
        })
        .collect()
}

/// The columns a listing shows beyond id, started, name and model when none are
/// chosen: the primary metric (or what the entry kind is about), then the keys the
/// filter and the sort name. `mlx runs list` and the UI's runs page show the same.
pub fn default_columns(
    kind: EntryKind,
    primary: &str,
    filter: Option<&Filter>,
    sort: &[SortKey],
) -> Vec<Key> {
    fn walk(f: &Filter, out: &mut Vec<Key>) {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Filter::Not(a) => walk(a, out),
            Filter::Cmp(k, _, _) => out.push(k.clone()),
        }
    }
    let mut keys = match kind {
        EntryKind::Train | EntryKind::Eval => vec![
            Key::Metric(format!("validation.{primary}")),
            Key::Metric(format!("test.{primary}")),
        ],
        EntryKind::Gate => vec![Key::Tag("gate.outcome".into())],
        EntryKind::Shap => vec![Key::Tag("shap.top_feature".into())],
        EntryKind::Monitor => vec![
            Key::Tag("monitor.as_of".into()),
            Key::Metric(format!("window.{primary}")),
            Key::Tag("monitor.fired".into()),
            Key::Tag("monitor.diagnosis".into()),
        ],
    };
    if let Some(f) = filter {
        walk(f, &mut keys);
    }
    keys.extend(sort.iter().map(|s| s.key.clone()));
    // Those every table shows already.
    keys.retain(|k| {
        !matches!(k, Key::Attribute(a) if ["id", "name", "model", "started"].contains(&a.as_str()))
    });
    let mut seen = std::collections::BTreeSet::new();
    keys.retain(|k| seen.insert(k.label()));
    keys
}

/// One row of a comparison: the key, each run's value, whether they differ.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CompareRow {
    /// `name`, `params.max_depth`, `metrics.test.f1`, `tags.git.commit`, ...
    pub key: String,
    /// One per run, in the order given; `None` where a run has no value.
    pub values: Vec<Option<String>>,
    /// Whether the values are not all equal.
    pub differs: bool,
}

/// Runs side by side (`mlx runs compare`, the UI's compare page): attributes, then
/// params, metrics and tags, each with the exact keys the runs recorded.
pub fn compare(runs: &[&Run]) -> Vec<CompareRow> {
    let mut keys: Vec<String> = ["name", "model", "status", "started", "training"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rest: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for r in runs {
        rest.extend(r.entry.params.keys().map(|k| format!("params.{k}")));
        rest.extend(r.metrics.keys().map(|k| format!("metrics.{k}")));
        rest.extend(r.tags.keys().map(|k| format!("tags.{k}")));
    }
    // Params, then metrics, then tags.
    let order = |k: &String| match k.split('.').next() {
        Some("params") => 0,
        Some("metrics") => 1,
        _ => 2,
    };
    let mut rest: Vec<String> = rest.into_iter().collect();
    rest.sort_by_key(|k| order(k));
    keys.extend(rest);
    keys.into_iter()
        .map(|k| {
            let key = Key::parse(&k).unwrap_or(Key::Attribute(k.clone()));
            // Exact keys only: compare shows what each run recorded.
            let values: Vec<Option<String>> = runs
                .iter()
                .map(|r| match &key {
                    Key::Metric(m) => r.metrics.get(m).map(|v| format_number(*v)),
                    Key::Param(p) => r.entry.params.get(p).map(|v| v.to_string()),
                    other => other.of(r).map(|f| f.display()),
                })
                .collect();
            let differs = values.windows(2).any(|w| w[0] != w[1]);
            CompareRow {
                key: k,
                values,
                differs,
            }
        })
        .collect()
}

/// Sorts runs by `keys` (a run without a key's value goes last either way), then
/// newest first.
pub fn sort(runs: &mut Vec<Run>, keys: &[SortKey]) {
    let mut cached: Vec<(Vec<Option<Field>>, usize)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (keys.iter().map(|k| k.key.of(r)).collect(), i))
        .collect();
    cached.sort_by(|(a, ia), (b, ib)| {
        for (k, (x, y)) in keys.iter().zip(a.iter().zip(b)) {
            let o = match (x, y) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let o = x.cmp_to(y).unwrap_or(Ordering::Equal);
                    if k.descending {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        let (ra, rb) = (&runs[*ia].entry, &runs[*ib].entry);
        rb.started_at
            .cmp(&ra.started_at)
            .then_with(|| ra.id.cmp(&rb.id))
    });
    let mut slots: Vec<Option<Run>> = std::mem::take(runs).into_iter().map(Some).collect();
    *runs = cached
        .into_iter()
        .map(|(_, i)| slots[i].take().expect("each run once"))
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::tests::run;

    #[test]
    fn filters_compare_as_mlflow_does_and_missing_keys_match_nothing() {
        let a = run(
            "a",
            "random_forest",
            &[("test.accuracy", 0.91), ("validation.accuracy", 0.9)],
            &[("max_depth", ParamValue::Int(8))],
        );
        let b = run(
            "b",
            "sarimax",
            &[("validation.wape", 0.08)],
            &[("order", ParamValue::String("1,1,1".into()))],
        );
        let m = |f: &str, r: &Run| Filter::parse(f).unwrap().matches(r);
        assert!(m("metrics.wape < 0.1 and params.model = 'sarimax'", &b));
        assert!(!m("metrics.wape < 0.1 and params.model = 'sarimax'", &a));
        // A bare metric is the held-out score: test, else validation.
        assert!(m("metrics.accuracy = 0.91", &a));
        assert!(m("metrics.validation.accuracy <= 0.9", &a));
        assert!(m(
            "params.max_depth >= 8 AND NOT (name = 'b' OR name = 'c')",
            &a
        ));
        assert!(
            !m("params.max_depth != 3", &b),
            "a missing key matches nothing"
        );
        assert!(m("model like 'random%' and name ilike 'A'", &a));
        assert!(!m("model like 'forest%'", &a));
        assert!(m("params.order = '1,1,1'", &b));
        assert!(m("metrics.test.accuracy >= 9.1e-1", &a));
        assert!(!m("metrics.test.accuracy > 9.1e-1", &a));
        assert!(m("name = 'it''s' or name = \"a\"", &a));
    }

    #[test]
    fn malformed_filters_say_where_and_what_was_expected() {
        let e = |f: &str| Filter::parse(f).unwrap_err().to_string();
        let x = e("metrics.wape ~ 0.1");
        assert!(x.contains("unexpected `~` at column 14"), "{x}");
        let x = e("metrics.wape < 0.1 and");
        assert!(x.contains("expected a comparison"), "{x}");
        let x = e("params.model = sarimax");
        assert!(x.contains("a number or a quoted string"), "{x}");
        let x = e("metric.wape < 0.1 params.x = 1");
        assert!(x.contains("expected `and`, `or`"), "{x}");
        let x = e("nmae = 'x'");
        assert!(x.contains("did you mean `name`"), "{x}");
        let x = e("(name = 'a'");
        assert!(x.contains("expected `)`"), "{x}");
        let x = e("name = 'a");
        assert!(x.contains("unclosed string"), "{x}");
        let x = e("metrics. < 1");
        assert!(x.contains("names no metric"), "{x}");
        assert!(parse_sort("metrics.x desc desc").is_err());
    }

    /// Every filter of tests/hostile/tracking/filters.txt is refused with its words.
    #[test]
    fn the_hostile_filters_are_refused_with_their_reason() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/hostile/tracking/filters.txt");
        let text = std::fs::read_to_string(corpus).unwrap();
        let mut cases = 0;
        for line in text.lines() {
            let (filter, words) = line.split_once('\t').unwrap();
            let e = Filter::parse(filter).expect_err(filter);
            assert!(matches!(e, Error::Usage(_)), "{filter}: exit 2");
            assert!(e.to_string().contains(words), "{filter}: {e}");
            cases += 1;
        }
        assert!(cases >= 14);
    }

    #[test]
    fn sorting_puts_runs_without_the_key_last_either_way() {
        let mut runs = vec![
            run("a", "linear", &[("test.r2", 0.5)], &[]),
            run("b", "linear", &[], &[]),
            run("c", "linear", &[("test.r2", 0.9)], &[]),
        ];
        sort(&mut runs, &parse_sort("metrics.r2 desc").unwrap());
        let names: Vec<&str> = runs.iter().map(|r| r.entry.name.as_str()).collect();
        assert_eq!(names, ["c", "a", "b"]);
        sort(&mut runs, &parse_sort("metrics.test.r2").unwrap());
        let names: Vec<&str> = runs.iter().map(|r| r.entry.name.as_str()).collect();
        assert_eq!(names, ["a", "c", "b"]);
        assert_eq!(format_number(0.912345678), "0.912346");
        assert_eq!(format_number(12.0), "12");
        assert_eq!(format_number(123.456789), "123.457");
    }
}
