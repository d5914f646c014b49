//! `reports/validation.md` (a PR comment: the checks that did not pass, the most
//! drifted columns and a mermaid chart of their PSI) and `reports/validation.html`
//! (every check, and reference-vs-current histograms as inline SVG), rendered from
//! `templates/reports/`.

use std::path::{Path, PathBuf};

use minijinja::value::Serde;
use minijinja::{context, Environment, Value};
use mlx_contracts::validate::{Check, ValidationReport};
use mlx_contracts::Status;

use crate::error::{Error, Result};
use crate::workdir::Workdir;

const MD: &str = include_str!("../../../../templates/reports/validation.md.j2");
const HTML: &str = include_str!("../../../../templates/reports/validation.html.j2");

/// The markdown and HTML report paths.
pub fn paths(workdir: &Workdir) -> [PathBuf; 2] {
    [
        workdir.join("reports/validation.md"),
        workdir.join("reports/validation.html"),
    ]
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Passed => "✅",
        Status::Warned => "⚠️",
        Status::Failed => "❌",
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        None => String::new(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e12 => format!("{x:.0}"),
        Some(x) => format!("{x:.4}"),
    }
}

fn check_value(c: &Check) -> Value {
    Value::from(Serde(serde_json::json!({
        "kind": c.kind,
        "column": c.column,
        "status": c.status.to_string(),
        "mark": mark(c.status),
        "value_text": num(c.value),
        "threshold_text": num(c.threshold),
        "message": c.message,
    })))
}

/// Renders both reports into the work directory and returns the markdown.
pub fn write(
    workdir: &Workdir,
    report: &ValidationReport,
    dataset: Option<&Path>,
) -> Result<String> {
    let (md, html) = render(report, dataset)?;
    let [md_path, html_path] = paths(workdir);
    super::write_text(&md_path, &md)?;
    super::write_text(&html_path, &html)?;
    Ok(md)
}

/// Renders the markdown and HTML reports.
pub fn render(report: &ValidationReport, dataset: Option<&Path>) -> Result<(String, String)> {
    let status = report.status();
    let checks: Vec<Value> = report.checks.iter().map(check_value).collect();
    let problems: Vec<Value> = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Passed)
        .map(check_value)
        .collect();
    let mut by_psi: Vec<_> = report.drift.iter().flat_map(|d| d.columns.iter()).collect();
    by_psi.sort_by(|a, b| b.statistics["psi"].total_cmp(&a.statistics["psi"]));
    let top: Vec<Value> = by_psi
        .iter()
        .take(10)
        .map(|c| {
            Value::from(Serde(serde_json::json!({
                "column": c.column,
                "method": crate::drift::method_name(c.method),
                "value": c.value,
                "threshold": c.threshold,
                "psi": c.statistics["psi"],
                "drifted": c.drifted,
            })))
        })
        .collect();
    let histograms: Vec<Value> = report
        .drift
        .iter()
        .flat_map(|d| d.columns.iter())
        .map(|c| {
            let h = &c.histogram;
            let max = h
                .reference
                .iter()
                .chain(&h.current)
                .copied()
                .fold(0.0, f64::max)
                .max(1e-12);
            let w = (240.0 / (2.0 * h.labels.len().max(1) as f64)).clamp(2.0, 24.0);
            let bars: Vec<serde_json::Value> = h
                .labels
                .iter()
                .enumerate()
                .map(|(i, label)| {
                    serde_json::json!({
                        "label": label,
                        "x": (i as f64 * (2.0 * w + 2.0)).round(),
                        "w": w.round(),
                        "ref": h.reference[i],
                        "cur": h.current[i],
                        "ref_h": (h.reference[i] / max * 110.0).round(),
                        "cur_h": (h.current[i] / max * 110.0).round(),
                    })
                })
                .collect();
            Value::from(Serde(serde_json::json!({
                "column": c.column,
                "method": crate::drift::method_name(c.method),
                "value": c.value,
                "drifted": c.drifted,
                "psi": c.statistics["psi"],
                "width": (h.labels.len() as f64 * (2.0 * w + 2.0)).round().max(60.0),
                "bars": bars,
            })))
        })
        .collect();
    let ctx = context! {
        status => status.to_string(),
        status_mark => mark(status),
        rows => report.rows,
        columns => report.columns,
        dataset => dataset.map(|p| p.display().to_string()),
        n_checks => report.checks.len(),
        checks => checks,
        problems => problems,
        drift => report.drift.as_ref().map(|d| Value::from(Serde(d))),
        top => top,
        histograms => histograms,
    };
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .build()
        .map_err(|e| Error::Runtime(format!("template syntax: {e}")))?;
    env.set_syntax(syntax);
    // Values come from the data (column names, categories, messages quoting values):
    // in Markdown they are escaped so a `|` or a backtick cannot break a table or a
    // code span, and control characters (ANSI escapes) are dropped; the HTML report is
    // escaped by minijinja's own HTML auto-escaping.
    env.set_formatter(|out, state, value| {
        if state.name().ends_with(".md") {
            if let Some(s) = value.as_str() {
                return out
                    .write_str(&crate::markdown::escape(s))
                    .map_err(minijinja::Error::from);
            }
        }
        minijinja::escape_formatter(out, state, value)
    });
    let tmpl_err = |e: minijinja::Error| Error::Runtime(format!("report template: {e:#}"));
    env.add_template("validation.md", MD).map_err(tmpl_err)?;
    env.add_template("validation.html", HTML)
        .map_err(tmpl_err)?;
    let md = env
        .get_template("validation.md")
        .and_then(|t| t.render(&ctx))
        .map_err(tmpl_err)?;
    let html = env
        .get_template("validation.html")
        .and_then(|t| t.render(&ctx))
        .map_err(tmpl_err)?;
    Ok((md, html))
}
