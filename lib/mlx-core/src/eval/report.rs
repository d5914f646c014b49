//! The evaluation in words: a plain table for terminals, and markdown with mermaid
//! charts (which GitHub renders in PR comments and step summaries).

use mlx_contracts::config::{Config, Metric};
use mlx_contracts::eval::{Leaderboard, RunMetrics, Scores};

/// The metrics shown in tables: `evaluation.metrics`, else the problem's usual ones.
pub fn shown_metrics(cfg: &Config) -> Vec<String> {
    if !cfg.evaluation.metrics.is_empty() {
        return cfg
            .evaluation
            .metrics
            .iter()
            .map(|m| m.as_str().to_string())
            .collect();
    }
    let usual: &[Metric] = if crate::metric::is_classification(cfg) {
        &[
            Metric::Accuracy,
            Metric::F1Score,
            Metric::RocAuc,
            Metric::LogLoss,
        ]
    } else {
        &[Metric::Rmse, Metric::Mae, Metric::R2, Metric::Mape]
    };
    usual.iter().map(|m| m.as_str().to_string()).collect()
}

fn value(v: Option<&f64>) -> String {
    match v {
        Some(v) if v.abs() >= 1e5 || (v.abs() < 1e-3 && *v != 0.0) => format!("{v:.3e}"),
        Some(v) => format!("{v:.4}"),
        None => "–".into(),
    }
}

/// The leaderboard as a plain table for terminals: rank, candidate, model and the shown
/// metrics (with folds, each metric's mean ± standard deviation over them after it).
pub fn leaderboard_table(board: &Leaderboard, cfg: &Config) -> String {
    let shown = shown_metrics(cfg);
    let folded = board.entries.iter().any(|e| !e.folds.is_empty());
    let mut rows: Vec<Vec<String>> = vec![["rank", "candidate", "model"]
        .iter()
        .map(|s| s.to_string())
        .chain(shown.iter().cloned())
        .collect()];
    if folded {
        rows[0].extend(shown.iter().map(|m| format!("{m} (backtest)")));
    }
    for e in &board.entries {
        let mut row = vec![
            e.rank.to_string(),
            e.name.clone(),
            e.model_type.as_str().to_string(),
        ];
        row.extend(shown.iter().map(|m| value(e.metrics.get(m))));
        if folded {
            row.extend(shown.iter().map(|m| match e.folds.get(m) {
                Some(s) => format!("{} ± {}", value(Some(&s.mean)), value(Some(&s.std))),
                None => "–".into(),
            }));
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|j| rows.iter().map(|r| r[j].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .enumerate()
                .map(|(j, (c, w))| {
                    if j == 1 || j == 2 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every metric of a score set, one per line, then the confusion matrix.
pub fn metrics_table(s: &Scores) -> String {
    let width = s
        .metrics
        .keys()
        .chain(s.undefined.keys())
        .map(String::len)
        .max()
        .unwrap_or(6);
    let mut out = format!("{} rows\n", s.rows);
    for (k, v) in &s.metrics {
        out.push_str(&format!("{k:width$}  {}\n", value(Some(v))));
    }
    for (k, why) in &s.undefined {
        out.push_str(&format!("{k:width$}  undefined: {why}\n"));
    }
    if let Some(cm) = &s.confusion_matrix {
        let w = cm
            .classes
            .iter()
            .map(String::len)
            .chain(cm.counts.iter().flatten().map(|c| c.to_string().len()))
            .max()
            .unwrap_or(1)
            .max(6);
        out.push_str(&format!(
            "\nconfusion matrix (rows: actual, columns: predicted)\n{:w$}",
            ""
        ));
        for c in &cm.classes {
            out.push_str(&format!("  {c:>w$}"));
        }
        for (c, row) in cm.classes.iter().zip(&cm.counts) {
            out.push_str(&format!("\n{c:w$}"));
            for n in row {
                out.push_str(&format!("  {n:>w$}"));
            }
        }
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// The PR-comment report: the leaderboard, a bar chart of the primary metric, the best
/// run's confusion matrix, slices and fairness.
pub fn markdown(board: &Leaderboard, runs: &[RunMetrics], cfg: &Config) -> String {
    let metric = board.primary_metric.as_str();
    let shown = shown_metrics(cfg);
    let mut md = format!(
        "## mlx-eval: {} candidate{} on the {} rows\n\nRanked by `{metric}` ({}).\n\n",
        board.entries.len(),
        if board.entries.len() == 1 { "" } else { "s" },
        board.set,
        match board.direction {
            mlx_contracts::config::Direction::Maximize => "higher is better",
            mlx_contracts::config::Direction::Minimize => "lower is better",
        }
    );
    md.push_str("| rank | candidate | model |");
    for m in &shown {
        md.push_str(&format!(" {m} |"));
    }
    md.push_str("\n|---:|---|---|");
    md.push_str(&"---:|".repeat(shown.len()));
    md.push('\n');
    for e in &board.entries {
        md.push_str(&format!(
            "| {} | {} | {} |",
            e.rank,
            e.name,
            e.model_type.as_str()
        ));
        for m in &shown {
            md.push_str(&format!(" {} |", value(e.metrics.get(m))));
        }
        md.push('\n');
    }
    bar_chart(&mut md, board, metric);
    backtest(&mut md, board, runs, cfg, &shown);
    if let Some(c) = &board.champion {
        md.push_str(&format!(
            "\n**Champion to beat** (production): `{}` ({}), {metric} {}; the best candidate {}.\n",
            c.name,
            c.model_type.as_str(),
            value(c.primary.as_ref()),
            match c.beaten {
                Some(true) => "beats it",
                Some(false) => "does not beat it",
                None => "cannot be compared with it",
            }
        ));
    }
    let Some(best) = board
        .entries
        .first()
        .and_then(|b| runs.iter().find(|r| r.run_id == b.run_id))
    else {
        return md;
    };
    best_run(&mut md, best, metric);
    md
}

/// A mermaid bar chart of the primary metric by candidate.
fn bar_chart(md: &mut String, board: &Leaderboard, metric: &str) {
    let defined: Vec<_> = board
        .entries
        .iter()
        .filter_map(|e| e.primary.map(|v| (e, v)))
        .collect();
    if !defined.is_empty() {
        let hi = defined.iter().map(|(_, v)| *v).fold(f64::MIN, f64::max);
        let lo = defined
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::MAX, f64::min)
            .min(0.0);
        md.push_str(&format!(
            "\n```mermaid\nxychart-beta\n    title \"{metric} by candidate\"\n    x-axis [{}]\n    y-axis \"{metric}\" {} --> {}\n    bar [{}]\n```\n",
            defined
                .iter()
                .map(|(e, _)| format!("\"{}\"", crate::markdown::mermaid_label(&e.name)))
                .collect::<Vec<_>>()
                .join(", "),
            lo,
            if hi > lo { hi } else { lo + 1.0 },
            defined
                .iter()
                .map(|(_, v)| format!("{v:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// Each candidate's metrics over the split's folds (mean ± standard deviation).
fn backtest(
    md: &mut String,
    board: &Leaderboard,
    runs: &[RunMetrics],
    cfg: &Config,
    shown: &[String],
) {
    let folded: Vec<&RunMetrics> = board
        .entries
        .iter()
        .filter_map(|e| runs.iter().find(|r| r.run_id == e.run_id))
        .filter(|r| !r.folds.is_empty())
        .collect();
    if !folded.is_empty() {
        md.push_str(&format!(
            "\n### Backtest: {} folds of the training rows (mean ± standard deviation)\n\n\
             | candidate |",
            cfg.split.folds
        ));
        for m in shown {
            md.push_str(&format!(" {m} |"));
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(shown.len()));
        md.push('\n');
        for r in folded {
            md.push_str(&format!("| {} |", r.name));
            for m in shown {
                match r.folds.get(m) {
                    Some(sp) => md.push_str(&format!(
                        " {} ± {} |",
                        value(Some(&sp.mean)),
                        value(Some(&sp.std))
                    )),
                    None => md.push_str(" – |"),
                }
            }
            md.push('\n');
        }
    }
}

/// The best run's confusion matrix, slices and fairness.
fn best_run(md: &mut String, best: &RunMetrics, metric: &str) {
    if let Some(cm) = &best.scores.confusion_matrix {
        md.push_str(&format!(
            "\n### Confusion matrix of `{}` (rows: actual, columns: predicted)\n\n|  |",
            best.name
        ));
        for c in &cm.classes {
            md.push_str(&format!(" {c} |"));
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(cm.classes.len()));
        md.push('\n');
        for (c, row) in cm.classes.iter().zip(&cm.counts) {
            md.push_str(&format!("| **{c}** |"));
            for n in row {
                md.push_str(&format!(" {n} |"));
            }
            md.push('\n');
        }
    }
    if !best.slices.is_empty() {
        md.push_str(&format!(
            "\n### Slices of `{}`\n\n| column | value | rows | {metric} |\n|---|---|---:|---:|\n",
            best.name
        ));
        for s in &best.slices {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                s.column,
                s.value,
                s.scores.rows,
                value(s.scores.metrics.get(metric))
            ));
        }
    }
    if let Some(f) = &best.fairness {
        md.push_str(&format!(
            "\n### Fairness of `{}` across `{}` (favourable: `{}`)\n\nDemographic parity difference {:.4}; equal opportunity difference {:.4}.\n\n| group | rows | selection rate | TPR | FPR | error rate |\n|---|---:|---:|---:|---:|---:|\n",
            best.name,
            f.column,
            f.positive_class,
            f.demographic_parity_difference,
            f.equal_opportunity_difference
        ));
        for g in &f.groups {
            md.push_str(&format!(
                "| {} | {} | {:.4} | {} | {} | {:.4} |\n",
                g.value,
                g.rows,
                g.selection_rate,
                value(g.true_positive_rate.as_ref()),
                value(g.false_positive_rate.as_ref()),
                g.error_rate
            ));
        }
    }
}
