//! The arithmetic of `kind: expr` features: `+ - * /`, unary minus, parentheses,
//! numbers, column names (bare identifiers or `` `quoted names` ``) and the functions
//! `log`, `exp`, `sqrt`, `abs`. Parsed once (the config check reports syntax errors with
//! their position), then turned into a Polars expression over `Float64` columns.

use mlx_data::polars::prelude::{
    col, lit, map_multiple, ChunkApply, Column, DataType, Expr, Field, Float64Chunked, IntoColumn,
    PolarsResult,
};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A number.
    Num(f64),
    /// A column.
    Col(String),
    /// `-x`.
    Neg(Box<Node>),
    /// `a op b`.
    Bin(Op, Box<Node>, Box<Node>),
    /// `f(x)`.
    Call(Func, Box<Node>),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// Functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Func {
    Log,
    Exp,
    Sqrt,
    Abs,
}

const FUNCS: &[(&str, Func)] = &[
    ("log", Func::Log),
    ("exp", Func::Exp),
    ("sqrt", Func::Sqrt),
    ("abs", Func::Abs),
];

/// Parses `text`; the error names the character position (1-based) and what was
/// expected.
pub fn parse(text: &str) -> Result<Node, String> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let node = p.sum()?;
    p.skip_ws();
    if p.pos < p.chars.len() {
        return Err(p.error("an operator (`+ - * /`) or the end"));
    }
    Ok(node)
}

impl Node {
    /// The columns it reads, in order of first use.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<String>) {
        match self {
            Node::Num(_) => {}
            Node::Col(c) => {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
            Node::Neg(x) | Node::Call(_, x) => x.collect(out),
            Node::Bin(_, a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// The value for one row; `values` are the row's values of [`Node::columns`].
    pub fn eval(&self, columns: &[String], values: &[f64]) -> f64 {
        match self {
            Node::Num(v) => *v,
            Node::Col(c) => columns
                .iter()
                .position(|x| x == c)
                .map_or(f64::NAN, |i| values[i]),
            Node::Neg(x) => -x.eval(columns, values),
            Node::Bin(op, a, b) => {
                let (a, b) = (a.eval(columns, values), b.eval(columns, values));
                match op {
                    Op::Add => a + b,
                    Op::Sub => a - b,
                    Op::Mul => a * b,
                    Op::Div => a / b,
                }
            }
            Node::Call(f, x) => {
                let x = x.eval(columns, values);
                match f {
                    Func::Log => x.ln(),
                    Func::Exp => x.exp(),
                    Func::Sqrt => x.sqrt(),
                    Func::Abs => x.abs(),
                }
            }
        }
    }

    /// The Polars expression: every column read as `Float64`, evaluated one row at a
    /// time with [`Node::eval`] (see [`elementwise`] for why); missing inputs give a
    /// missing value.
    pub fn to_polars(&self) -> Expr {
        let columns = self.columns();
        if columns.is_empty() {
            return lit(self.eval(&[], &[]));
        }
        let inputs: Vec<Expr> = columns
            .iter()
            .map(|c| col(c.as_str()).cast(DataType::Float64))
            .collect();
        let node = self.clone();
        map_multiple(
            move |cols: &mut [Column]| {
                let values: Vec<Vec<Option<f64>>> = cols
                    .iter()
                    .map(|c| Ok(c.f64()?.iter().collect()))
                    .collect::<PolarsResult<_>>()?;
                let n = values.iter().map(Vec::len).max().unwrap_or(0);
                let mut row = vec![0.0; values.len()];
                let out: Float64Chunked = (0..n)
                    .map(|i| {
                        for (k, v) in values.iter().enumerate() {
                            // A one-value column is a broadcast scalar.
                            row[k] = v[if v.len() == 1 { 0 } else { i }]?;
                        }
                        Some(node.eval(&columns, &row))
                    })
                    .collect();
                Ok(out.into_column())
            },
            inputs,
            |_, fields| Ok(Field::new(fields[0].name().clone(), DataType::Float64)),
        )
    }
}

/// `f` applied to each value with Rust's own scalar arithmetic. Polars evaluates some
/// operations (`sin`, division by a constant, ...) with vectorised kernels on long
/// columns and scalar code on short ones, which can differ in the last bits; serving
/// computes one row, so features that must be bit-identical between batch and online
/// are computed this way.
pub fn elementwise<F>(e: Expr, f: F) -> Expr
where
    F: Fn(f64) -> f64 + Copy + Send + Sync + 'static,
{
    e.cast(DataType::Float64).map(
        move |c: Column| Ok(c.f64()?.apply_values(f).into_column()),
        |_, field| Ok(Field::new(field.name().clone(), DataType::Float64)),
    )
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn error(&self, expected: &str) -> String {
        match self.chars.get(self.pos) {
            Some(c) => format!(
                "expected {expected} at character {}, found `{c}`",
                self.pos + 1
            ),
            None => format!("expected {expected}, but the expression ended"),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn sum(&mut self) -> Result<Node, String> {
        let mut left = self.product()?;
        while let Some(c @ ('+' | '-')) = self.peek() {
            self.pos += 1;
            let right = self.product()?;
            let op = if c == '+' { Op::Add } else { Op::Sub };
            left = Node::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Node, String> {
        let mut left = self.unary()?;
        while let Some(c @ ('*' | '/')) = self.peek() {
            self.pos += 1;
            let right = self.unary()?;
            let op = if c == '*' { Op::Mul } else { Op::Div };
            left = Node::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.peek() == Some('-') {
            self.pos += 1;
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Node, String> {
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                let inner = self.sum()?;
                if self.peek() != Some(')') {
                    return Err(self.error("`)`"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some('`') => {
                self.pos += 1;
                let start = self.pos;
                while self.chars.get(self.pos).is_some_and(|&c| c != '`') {
                    self.pos += 1;
                }
                if self.pos >= self.chars.len() {
                    return Err("a `quoted column name` is not closed".into());
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                Ok(Node::Col(name))
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.pos;
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.')
                {
                    self.pos += 1;
                }
                // An exponent: 1e-3.
                if self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| *c == 'e' || *c == 'E')
                {
                    self.pos += 1;
                    if self
                        .chars
                        .get(self.pos)
                        .is_some_and(|c| *c == '-' || *c == '+')
                    {
                        self.pos += 1;
                    }
                    while self.chars.get(self.pos).is_some_and(char::is_ascii_digit) {
                        self.pos += 1;
                    }
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                text.parse::<f64>()
                    .map(Node::Num)
                    .map_err(|_| format!("`{text}` at character {} is not a number", start + 1))
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                {
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                if self.peek() == Some('(') {
                    let Some(&(_, f)) = FUNCS.iter().find(|(n, _)| *n == name) else {
                        let known: Vec<&str> = FUNCS.iter().map(|(n, _)| *n).collect();
                        return Err(format!(
                            "unknown function `{name}`; the functions are {}",
                            known.join(", ")
                        ));
                    };
                    self.pos += 1;
                    let arg = self.sum()?;
                    if self.peek() != Some(')') {
                        return Err(self.error("`)`"));
                    }
                    self.pos += 1;
                    return Ok(Node::Call(f, Box::new(arg)));
                }
                Ok(Node::Col(name))
            }
            _ => Err(self.error("a number, a column name or `(`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_columns() {
        let n = parse("a + b * -2 / (c - 1)").unwrap();
        assert_eq!(n.columns(), vec!["a", "b", "c"]);
        let Node::Bin(Op::Add, _, right) = n else {
            panic!("`+` binds loosest: {n:?}")
        };
        assert!(matches!(*right, Node::Bin(Op::Div, _, _)));
    }

    #[test]
    fn quoted_names_functions_and_exponents() {
        let n = parse("log(`unit price`) * 1e-3").unwrap();
        assert_eq!(n.columns(), vec!["unit price"]);
        assert!(matches!(n, Node::Bin(Op::Mul, _, ref b) if **b == Node::Num(0.001)));
    }

    #[test]
    fn errors_say_where_and_what() {
        assert_eq!(
            parse("price /").unwrap_err(),
            "expected a number, a column name or `(`, but the expression ended"
        );
        assert_eq!(
            parse("price competitor").unwrap_err(),
            "expected an operator (`+ - * /`) or the end at character 7, found `c`"
        );
        assert!(parse("sin(x)")
            .unwrap_err()
            .contains("unknown function `sin`"));
        assert!(parse("(a + b").unwrap_err().contains("`)`"));
    }
}
