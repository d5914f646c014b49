//! Evaluation plots as SVG (plotters' SVG backend): ROC and precision-recall curves,
//! the confusion matrix, the calibration curve, residuals and predicted against actual.
//! Each function returns `(name, svg)` pairs; the caller writes them.

use mlx_contracts::eval::Scores;
use mlx_stats::metrics;
use plotters::prelude::*;

const SIZE: (u32, u32) = (640, 480);
/// Scatter plots show at most this many points (evenly spaced rows).
const MAX_POINTS: usize = 5000;

/// A drawing's result.
pub(crate) type Drawn = Result<(), Box<dyn std::error::Error>>;

/// An SVG document of `size` drawn by `draw` on a white background; `None` (with a
/// warning) when plotters cannot draw it.
pub(crate) fn svg(
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Drawn,
) -> Option<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).ok()?;
        if let Err(e) = draw(root.clone()) {
            tracing::warn!("a plot could not be drawn: {e}");
            return None;
        }
        root.present().ok()?;
    }
    Some(out)
}

/// A line chart's frame: title, axis labels and ranges, where the legend goes.
struct Frame<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    legend: SeriesLabelPosition,
}

/// One line per `(label, points)`, with a legend; `diagonal` adds y = x.
fn lines(frame: Frame, series: &[(String, Vec<(f64, f64)>)], diagonal: bool) -> Option<String> {
    svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(frame.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(frame.x, frame.y)?;
        chart
            .configure_mesh()
            .x_desc(frame.x_label)
            .y_desc(frame.y_label)
            .draw()?;
        if diagonal {
            chart.draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                ShapeStyle::from(&BLACK.mix(0.3)).stroke_width(1),
            ))?;
        }
        for (i, (label, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(frame.legend)
            .draw()?;
        Ok(())
    })
}

/// Lines on (0, 0)-(1, 1) axes: one series per `(label, points)`.
fn curves(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    diagonal: bool,
) -> Option<String> {
    let frame = Frame {
        title,
        x_label,
        y_label,
        x: 0.0..1.0,
        y: 0.0..1.02,
        legend: SeriesLabelPosition::LowerRight,
    };
    lines(frame, series, diagonal)
}

/// sklearn's `calibration_curve(strategy="uniform")`: per non-empty bin of `bins`
/// equal-width bins, the mean predicted probability and the share of positives.
pub fn calibration(y: &[bool], p: &[f64], bins: usize) -> Vec<(f64, f64)> {
    let mut sum = vec![0.0; bins];
    let mut pos = vec![0.0; bins];
    let mut count = vec![0.0; bins];
    // numpy's linspace edges; `searchsorted(inner, p)` (side left): a probability on
    // an edge belongs to the bin below it.
    let edges = mlx_stats::binning::linspace(0.0, 1.0, bins + 1);
    let inner = &edges[1..bins];
    for (&yi, &pi) in y.iter().zip(p) {
        let b = inner.partition_point(|&e| e < pi);
        sum[b] += pi;
        pos[b] += f64::from(u8::from(yi));
        count[b] += 1.0;
    }
    (0..bins)
        .filter(|&b| count[b] > 0.0)
        .map(|b| (sum[b] / count[b], pos[b] / count[b]))
        .collect()
}

fn confusion(title: &str, classes: &[String], counts: &[Vec<u64>]) -> Option<String> {
    let k = classes.len();
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..k as f64, 0f64..k as f64)?;
        let name = |v: &f64| {
            let i = v.floor() as usize;
            if (v - v.floor() - 0.5).abs() < 1e-9 && i < k {
                classes[i].clone()
            } else {
                String::new()
            }
        };
        let flip = |v: &f64| name(&(k as f64 - v));
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("actual")
            .x_labels(2 * k + 1)
            .y_labels(2 * k + 1)
            .x_label_formatter(&name)
            .y_label_formatter(&flip)
            .draw()?;
        for (t, row) in counts.iter().enumerate() {
            for (p, &c) in row.iter().enumerate() {
                let shade = c as f64 / max;
                let y0 = (k - 1 - t) as f64;
                chart.draw_series([Rectangle::new(
                    [(p as f64, y0), (p as f64 + 1.0, y0 + 1.0)],
                    RGBColor(33, 102, 172).mix(0.1 + 0.85 * shade).filled(),
                )])?;
                let color = if shade > 0.5 { WHITE } else { BLACK };
                chart.draw_series([Text::new(
                    c.to_string(),
                    (p as f64 + 0.45, y0 + 0.5),
                    ("sans-serif", 16).into_font().color(&color),
                )])?;
            }
        }
        Ok(())
    })
}

/// Evenly spaced rows, at most [`MAX_POINTS`].
fn sample(n: usize) -> impl Iterator<Item = usize> {
    let step = n.div_ceil(MAX_POINTS).max(1);
    (0..n).step_by(step)
}

fn scatter(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    line: Option<f64>,
) -> Option<String> {
    let bounds = |f: fn(&(f64, f64)) -> f64| {
        let (lo, hi) = points
            .iter()
            .map(f)
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if lo.is_finite() && hi > lo {
            let pad = (hi - lo) * 0.05;
            (lo - pad)..(hi + pad)
        } else {
            (lo - 1.0)..(lo + 1.0)
        }
    };
    let (xr, yr) = (bounds(|p| p.0), bounds(|p| p.1));
    svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xr.clone(), yr.clone())?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()?;
        chart.draw_series(
            points
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 2, BLUE.mix(0.4).filled())),
        )?;
        match line {
            // y = x (predicted against actual).
            None => {
                let lo = xr.start.max(yr.start);
                let hi = xr.end.min(yr.end);
                chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], RED.stroke_width(1)))?;
            }
            // A horizontal reference line (residual 0).
            Some(y) => {
                chart.draw_series(LineSeries::new(
                    [(xr.start, y), (xr.end, y)],
                    RED.stroke_width(1),
                ))?;
            }
        }
        Ok(())
    })
}

/// Lines over any axes, ranged to fit every point (`mlx ui`'s overlaid histories and
/// monitoring windows). `None` without a finite point.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Option<String> {
    let points = || {
        series
            .iter()
            .flat_map(|(_, p)| p)
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let range = |get: fn(&(f64, f64)) -> f64| {
        points().map(get).fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
    };
    let (x_lo, x_hi) = range(|p| p.0)?;
    let (y_lo, y_hi) = range(|p| p.1)?;
    let pad = ((y_hi - y_lo) * 0.05).max(1e-9);
    let frame = Frame {
        title,
        x_label,
        y_label,
        x: x_lo..x_hi.max(x_lo + 1.0),
        y: (y_lo - pad)..(y_hi + pad),
        legend: SeriesLabelPosition::UpperRight,
    };
    lines(frame, series, false)
}

/// The training loss and, where there is one, the validation loss per epoch (or
/// boosting round, solver step): the learning curve of a run with a history. `None`
/// below two points.
pub fn loss_curve(run: &str, history: &[(f64, Option<f64>)]) -> Option<(String, String)> {
    if history.len() < 2 {
        return None;
    }
    let train: Vec<(f64, f64)> = (1..)
        .zip(history)
        .map(|(i, (l, _))| (f64::from(i), *l))
        .filter(|p| p.1.is_finite())
        .collect();
    let val: Vec<(f64, f64)> = (1..)
        .zip(history)
        .filter_map(|(i, (_, v))| v.map(|v| (f64::from(i), v)))
        .filter(|p| p.1.is_finite())
        .collect();
    let (lo, hi) = train
        .iter()
        .chain(&val)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if !lo.is_finite() {
        return None;
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let series: Vec<(String, Vec<(f64, f64)>)> = [("training", train), ("validation", val)]
        .into_iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(l, p)| (l.to_string(), p))
        .collect();
    let title = format!("{run}: loss per epoch");
    let frame = Frame {
        title: &title,
        x_label: "epoch",
        y_label: "loss",
        x: 1.0..(history.len() as f64).max(2.0),
        y: (lo - pad)..(hi + pad),
        legend: SeriesLabelPosition::UpperRight,
    };
    lines(frame, &series, false).map(|s| ("loss".to_string(), s))
}

/// A classifier's plots: the confusion matrix; ROC (one-vs-rest curves for several
/// classes); for two classes also precision-recall and calibration.
pub fn classification(
    run: &str,
    truth: &[usize],
    proba: &[f64],
    classes: &[String],
    scores: &Scores,
) -> Vec<(String, String)> {
    let k = classes.len();
    let mut out = Vec::new();
    if let Some(cm) = &scores.confusion_matrix {
        out.extend(
            confusion(&format!("{run}: confusion matrix"), &cm.classes, &cm.counts)
                .map(|s| ("confusion_matrix".to_string(), s)),
        );
    }
    let column = |c: usize| -> Vec<f64> { (0..truth.len()).map(|i| proba[i * k + c]).collect() };
    let targets: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
    let mut roc = Vec::new();
    for &c in &targets {
        let y: Vec<bool> = truth.iter().map(|&t| t == c).collect();
        if let Some((fpr, tpr, _)) = metrics::roc_curve(&y, &column(c)) {
            let auc = metrics::roc_auc(&y, &column(c)).unwrap_or(f64::NAN);
            let label = if k == 2 {
                format!("AUC {auc:.3}")
            } else {
                format!("{} (AUC {auc:.3})", classes[c])
            };
            roc.push((label, fpr.into_iter().zip(tpr).collect()));
        }
    }
    if !roc.is_empty() {
        out.extend(
            curves(
                &format!("{run}: ROC"),
                "false positive rate",
                "true positive rate",
                &roc,
                true,
            )
            .map(|s| ("roc".to_string(), s)),
        );
    }
    if k == 2 {
        let y: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
        let p1 = column(1);
        let (precision, recall, _) = metrics::pr_curve(&y, &p1);
        let mut points: Vec<(f64, f64)> = vec![(0.0, 1.0)];
        points.extend(recall.into_iter().zip(precision));
        let ap = metrics::average_precision(&y, &p1);
        out.extend(
            curves(
                &format!("{run}: precision-recall"),
                "recall",
                "precision",
                &[(format!("AP {ap:.3}"), points)],
                false,
            )
            .map(|s| ("precision_recall".to_string(), s)),
        );
        out.extend(
            curves(
                &format!("{run}: calibration"),
                "mean predicted probability",
                "fraction of positives",
                &[("model".to_string(), calibration(&y, &p1, 10))],
                true,
            )
            .map(|s| ("calibration".to_string(), s)),
        );
    }
    out
}

/// A regressor's plots: residuals against predictions, and predicted against actual.
pub fn regression(run: &str, truth: &[f64], pred: &[f64]) -> Vec<(String, String)> {
    let rows: Vec<usize> = sample(truth.len()).collect();
    let residuals: Vec<(f64, f64)> = rows
        .iter()
        .map(|&i| (pred[i], truth[i] - pred[i]))
        .collect();
    let fitted: Vec<(f64, f64)> = rows.iter().map(|&i| (truth[i], pred[i])).collect();
    let mut out = Vec::new();
    out.extend(
        scatter(
            &format!("{run}: residuals"),
            "predicted",
            "actual - predicted",
            &residuals,
            Some(0.0),
        )
        .map(|s| ("residuals".to_string(), s)),
    );
    out.extend(
        scatter(
            &format!("{run}: predicted against actual"),
            "actual",
            "predicted",
            &fitted,
            None,
        )
        .map(|s| ("predicted_vs_actual".to_string(), s)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_bins_like_scikit_learn() {
        // Two bins split at 0.5; 0.5 itself falls in the lower one (searchsorted left):
        // [0.1, 0.4, 0.5] with two positives, and [0.9] positive.
        let c = calibration(&[false, true, true, true], &[0.1, 0.4, 0.5, 0.9], 2);
        assert_eq!(c, [(1.0 / 3.0, 2.0 / 3.0), (0.9, 1.0)]);
    }

    #[test]
    fn plots_are_svg_documents_with_their_titles() {
        let classes = vec!["no".to_string(), "yes".to_string()];
        let truth = [0, 1, 1, 0, 1];
        let proba = [0.8, 0.2, 0.3, 0.7, 0.4, 0.6, 0.6, 0.4, 0.1, 0.9];
        let s = crate::model::score::classification(&crate::model::score::Classified {
            truth: &truth,
            proba: &proba,
            classes: &classes,
            threshold: None,
        });
        let plots = classification("m", &truth, &proba, &classes, &s);
        let names: Vec<&str> = plots.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["confusion_matrix", "roc", "precision_recall", "calibration"]
        );
        for (_, svg) in &plots {
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        }
        assert!(plots[1].1.contains("m: ROC"));
        let r = regression("r", &[1.0, 2.0, 3.0], &[1.5, 2.0, 2.5]);
        assert_eq!(r.len(), 2);
    }
}
