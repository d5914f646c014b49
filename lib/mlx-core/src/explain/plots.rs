//! SHAP plots as SVG (plotters): the global bar chart, the beeswarm summary, and the
//! waterfall and force plots of one row; and the markdown report with a mermaid chart.

use mlx_contracts::shap::{Importance, ShapReport};
use nalgebra::DMatrix;
use plotters::prelude::*;

use super::Explanation;
use crate::plots::{self, Drawn};
use plotters::coord::types::RangedCoordf64;

/// A plot of one labelled row per entry (top to bottom), `n` rows high.
fn svg(
    rows: usize,
    draw: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Drawn,
) -> Option<String> {
    plots::svg((720, 80 + 30 * rows.max(1) as u32), draw)
}

/// Axes with `labels` down the left side (the first at the top), one per unit of y,
/// and `x` across.
fn labelled_rows<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    x_desc: &str,
    labels: &[String],
    x: std::ops::Range<f64>,
) -> Result<
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    Box<dyn std::error::Error>,
> {
    let n = labels.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(200)
        .build_cartesian_2d(x, 0f64..n as f64)?;
    let name = |y: &f64| {
        let i = y.floor() as usize;
        if (y - y.floor() - 0.5).abs() < 1e-9 && i < labels.len() {
            labels[labels.len() - 1 - i].clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x_desc)
        .y_labels(2 * n + 1)
        .y_label_formatter(&name)
        .draw()?;
    Ok(chart)
}

/// Blue (low) to red (high), as shap's colour bar.
fn heat(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(0.0, 255.0), lerp(139.0, 0.0), lerp(251.0, 82.0))
}

const POSITIVE: RGBColor = RGBColor(255, 0, 82);
const NEGATIVE: RGBColor = RGBColor(0, 139, 251);

/// Horizontal bars, one per label (top to bottom), with values from `start` to `end`.
fn bars(title: &str, x_label: &str, rows: &[(String, f64, f64)]) -> Option<String> {
    let n = rows.len().max(1);
    let lo = rows
        .iter()
        .flat_map(|r| [r.1, r.2])
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let hi = rows
        .iter()
        .flat_map(|r| [r.1, r.2])
        .fold(f64::NEG_INFINITY, f64::max)
        .max(0.0);
    let pad = ((hi - lo) * 0.05).max(1e-12);
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    svg(n, |root| {
        let mut chart = labelled_rows(&root, title, x_label, &labels, lo - pad..hi + pad)?;
        for (i, (_, a, b)) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let color = if b >= a { POSITIVE } else { NEGATIVE };
            chart.draw_series([Rectangle::new(
                [(*a, y + 0.15), (*b, y + 0.85)],
                color.filled(),
            )])?;
        }
        Ok(())
    })
}

/// The output a single-row plot shows: the only one, or the row's largest.
fn shown_output(e: &Explanation, row: usize) -> usize {
    if e.outputs == 1 {
        return 0;
    }
    let t = e.total(row);
    (0..e.outputs).fold(0, |b, o| if t[o] > t[b] { o } else { b })
}

/// Every SHAP plot: `bar`, `beeswarm`, `waterfall`, `force`.
pub fn all(
    e: &Explanation,
    x: &DMatrix<f64>,
    features: &[String],
    outputs: &[String],
    ranking: &[Importance],
    top_k: usize,
    row: usize,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if e.rows == 0 {
        return out;
    }
    let top: Vec<usize> = ranking
        .iter()
        .take(top_k)
        .filter_map(|i| features.iter().position(|f| *f == i.feature))
        .collect();
    let bar_rows: Vec<(String, f64, f64)> = ranking
        .iter()
        .take(top_k)
        .map(|i| (i.feature.clone(), 0.0, i.mean_abs))
        .collect();
    out.extend(
        bars(
            "mean |SHAP value| (global importance)",
            "mean |SHAP|",
            &bar_rows,
        )
        .map(|s| ("bar".to_string(), s)),
    );
    let o = shown_output(e, row);
    let label = &outputs[o.min(outputs.len() - 1)];
    out.extend(beeswarm(e, x, features, &top, o, label).map(|s| ("beeswarm".to_string(), s)));
    out.extend(
        waterfall(e, x, features, top_k, row, o, label).map(|s| ("waterfall".to_string(), s)),
    );
    out.extend(force(e, features, row, o, label).map(|s| ("force".to_string(), s)));
    out
}

/// Beeswarm: one line per top feature, each row a dot at its SHAP value, coloured by
/// the feature's value (rank within the column), spread vertically by a hash.
fn beeswarm(
    e: &Explanation,
    x: &DMatrix<f64>,
    features: &[String],
    top: &[usize],
    o: usize,
    label: &str,
) -> Option<String> {
    let n = top.len().max(1);
    let (lo, hi) = top
        .iter()
        .flat_map(|&f| (0..e.rows).map(move |i| e.row(i)[f * e.outputs + o]))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let pad = ((hi - lo) * 0.05).max(1e-12);
    let names: Vec<String> = top.iter().map(|&f| features[f].clone()).collect();
    svg(n, |root| {
        let mut chart = labelled_rows(
            &root,
            &format!("SHAP values ({label})"),
            "SHAP value (red: high feature value, blue: low)",
            &names,
            lo - pad..hi + pad,
        )?;
        for (k, &f) in top.iter().enumerate() {
            let col: Vec<f64> = (0..e.rows).map(|i| x[(i, f)]).collect();
            let mut sorted = col.clone();
            sorted.sort_by(f64::total_cmp);
            let y0 = (n - 1 - k) as f64;
            chart.draw_series((0..e.rows).map(|i| {
                let v = e.row(i)[f * e.outputs + o];
                let rank =
                    sorted.partition_point(|s| *s < col[i]) as f64 / (e.rows.max(2) - 1) as f64;
                let jitter = ((i.wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0 - 0.5) * 0.6;
                Circle::new((v, y0 + 0.5 + jitter), 2, heat(rank).mix(0.8).filled())
            }))?;
        }
        Ok(())
    })
}

/// Waterfall of one row: from the base value, each top feature's step, then the rest.
fn waterfall(
    e: &Explanation,
    x: &DMatrix<f64>,
    features: &[String],
    top_k: usize,
    row: usize,
    o: usize,
    label: &str,
) -> Option<String> {
    let r = e.row(row);
    let mut order: Vec<usize> = (0..e.features).collect();
    order.sort_by(|&a, &b| {
        r[b * e.outputs + o]
            .abs()
            .total_cmp(&r[a * e.outputs + o].abs())
            .then(a.cmp(&b))
    });
    let mut steps = Vec::new();
    let mut at = e.base[o];
    for &f in order.iter().take(top_k) {
        let v = r[f * e.outputs + o];
        steps.push((format!("{} = {:.4}", features[f], x[(row, f)]), at, at + v));
        at += v;
    }
    let rest: f64 = order
        .iter()
        .skip(top_k)
        .map(|&f| r[f * e.outputs + o])
        .sum();
    if order.len() > top_k {
        steps.push((
            format!("{} other features", order.len() - top_k),
            at,
            at + rest,
        ));
    }
    bars(
        &format!(
            "row {row} ({label}): base {:.4} → output {:.4}",
            e.base[o],
            e.total(row)[o]
        ),
        "model output",
        &steps,
    )
}

/// Force plot: the same contributions as one line, pushes up in red from the left of
/// the output, pushes down in blue from its right.
fn force(
    e: &Explanation,
    features: &[String],
    row: usize,
    o: usize,
    label: &str,
) -> Option<String> {
    let r = e.row(row);
    let total = e.total(row)[o];
    let mut pos: Vec<(usize, f64)> = (0..e.features)
        .map(|f| (f, r[f * e.outputs + o]))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    let mut neg: Vec<(usize, f64)> = (0..e.features)
        .map(|f| (f, r[f * e.outputs + o]))
        .filter(|(_, v)| *v < 0.0)
        .collect();
    pos.sort_by(|a, b| b.1.total_cmp(&a.1));
    neg.sort_by(|a, b| a.1.total_cmp(&b.1));
    let up: f64 = pos.iter().map(|p| p.1).sum();
    let down: f64 = neg.iter().map(|p| p.1).sum();
    let (lo, hi) = (total - up, total - down);
    let pad = ((hi - lo) * 0.05).max(1e-12);
    plots::svg((720, 260), |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "row {row} ({label}): base {:.4}, output {total:.4}",
                    e.base[o]
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(36)
            .build_cartesian_2d(lo - pad..hi + pad, 0f64..3f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc("model output")
            .draw()?;
        let mut a = lo;
        for (k, (f, v)) in pos.iter().rev().enumerate() {
            chart.draw_series([Rectangle::new(
                [(a, 1.2), (a + v, 1.8)],
                POSITIVE.mix(0.6 + 0.4 * ((k % 2) as f64)).filled(),
            )])?;
            if k + 3 >= pos.len() {
                chart.draw_series([Text::new(
                    features[*f].clone(),
                    (a, 2.1),
                    ("sans-serif", 12).into_font().color(&POSITIVE),
                )])?;
            }
            a += v;
        }
        for (k, (f, v)) in neg.iter().enumerate() {
            chart.draw_series([Rectangle::new(
                [(a, 1.2), (a - v, 1.8)],
                NEGATIVE.mix(0.6 + 0.4 * ((k % 2) as f64)).filled(),
            )])?;
            if k < 3 {
                chart.draw_series([Text::new(
                    features[*f].clone(),
                    (a, 0.8),
                    ("sans-serif", 12).into_font().color(&NEGATIVE),
                )])?;
            }
            a -= v;
        }
        chart.draw_series(LineSeries::new(
            [(total, 1.0), (total, 2.0)],
            BLACK.stroke_width(2),
        ))?;
        Ok(())
    })
}

/// The PR-comment section: the top features as a table and a mermaid bar chart, and
/// the SHAP shift when there is a baseline.
pub fn markdown(r: &ShapReport, top_k: usize) -> String {
    let top: Vec<&Importance> = r.importance.iter().take(top_k).collect();
    let mut md = format!(
        "## mlx-shap: `{}` ({} SHAP, {} space, {} rows)\n\nBase value{}: {}. Additivity holds within {:.1e}.\n\n| rank | feature | mean \\|SHAP\\| |\n|---:|---|---:|\n",
        r.name,
        r.method,
        r.output_space,
        r.rows,
        if r.base_values.len() == 1 { "" } else { "s" },
        r.base_values
            .iter()
            .zip(&r.outputs)
            .map(|(b, o)| format!("{o} {b:.4}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.additivity_max_error
    );
    for i in &top {
        md.push_str(&format!(
            "| {} | {} | {:.4} |\n",
            i.rank, i.feature, i.mean_abs
        ));
    }
    if !top.is_empty() {
        md.push_str(&format!(
            "\n```mermaid\nxychart-beta horizontal\n    title \"Top features by mean |SHAP|\"\n    x-axis [{}]\n    y-axis \"mean |SHAP|\" 0 --> {}\n    bar [{}]\n```\n",
            top.iter()
                .map(|i| format!("\"{}\"", crate::markdown::mermaid_label(&i.feature)))
                .collect::<Vec<_>>()
                .join(", "),
            top.first().map_or(1.0, |i| i.mean_abs) * 1.05,
            top.iter()
                .map(|i| format!("{:.4}", i.mean_abs))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(s) = &r.shift {
        md.push_str(&format!(
            "\n### SHAP shift against `{}`: {}\n\nSpearman {:.3}, L1 distance {:.3}.\n",
            s.baseline,
            if s.flagged {
                "**flagged**"
            } else {
                "within bounds"
            },
            s.spearman,
            s.l1_distance
        ));
        for reason in &s.reasons {
            md.push_str(&format!("- {reason}\n"));
        }
    }
    md
}
