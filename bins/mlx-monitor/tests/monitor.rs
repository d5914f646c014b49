//! `mlx-monitor` on a simulated deployment: ten weeks of daily predictions by a model
//! trained on the stable relationship, with the relationship changed from the first day
//! of week 6 (the design documents' story). The monitor must stay quiet on every day of
//! the stable period and fire within one window of the change, diagnosing model aging
//! (the metric rose, the features and the SHAP ranking did not move).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use chrono::{Duration, NaiveDate};
use mlx_contracts::monitor::MonitorReport;
use mlx_contracts::serve::{FeedbackRecord, PredictionRecord};
use mlx_testkit::Sandbox;

const CONFIG: &str = "\
project: { name: demand }
data:
  sources: [{ name: history, uri: train.csv }]
  target: y
pipeline: { problem_type: regression }
split: { strategy: random, train: 0.7, validation: 0.15, test: 0.15 }
models:
  - { name: linear, type: linear }
evaluation: { primary_metric: rmse, threshold: 10 }
approval_gate: { auto_approve: true, require_human_review: false }
registry: { promote_to: production, require_staging: false }
monitoring: { window_days: 7, wape_threshold: 0.08, metric_degradation: 0.5, psi_threshold: 0.25 }
";

const CHANGE_DAY: i64 = 35;
const DAYS: i64 = 70;
const PER_DAY: usize = 100;

fn mlx(dir: &Path, bin: &str) -> Command {
    let mut c = mlx_testkit::std_command(bin);
    c.current_dir(dir).env("MLX_ACTOR", "ci");
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The simulated deployment ([`mlx_testkit::sim::deployment`]) of this file's config.
fn simulate() -> Sandbox {
    mlx_testkit::sim::deployment(CONFIG, DAYS, CHANGE_DAY, PER_DAY)
}

/// How many times `run` ran the monitor (each is a window in the tracking store).
static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn run(d: &Path, day: NaiveDate) -> (i32, MonitorReport) {
    RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out = mlx(d, "mlx-monitor")
        .args(["--as-of", &day.to_string(), "--json", "-q"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn the_monitor_fires_within_a_window_of_the_change_and_never_before() {
    let s = simulate();
    let d = s.path();
    let day0 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    // The stable period: every full window from week 1 to the last day before the change.
    for k in 6..CHANGE_DAY {
        let (code, r) = run(d, day0 + Duration::days(k));
        assert_eq!(code, 0, "fired on stable day {k}: {:?}", r.triggers);
        assert_eq!(r.diagnosis, "healthy", "day {k}");
        let wape = r.window["wape"];
        assert!(wape < 0.06, "day {k}: WAPE {wape}");
    }
    // After the change: the first day the monitor fires is within one window.
    let mut fired = None;
    for k in CHANGE_DAY..DAYS {
        let (code, r) = run(d, day0 + Duration::days(k));
        if code == 1 {
            fired = Some((k, r));
            break;
        }
    }
    let (k, r) = fired.expect("the monitor never fired after the change");
    assert!(
        k < CHANGE_DAY + 7,
        "fired {} days after the change, beyond the 7-day window",
        k - CHANGE_DAY
    );
    // What fires is the error: RMSE against the registered baseline first (it rises
    // faster than the 7-day WAPE), never the inputs.
    let fired_names: Vec<&str> = r
        .triggers
        .iter()
        .filter(|t| t.fired)
        .map(|t| t.name.as_str())
        .collect();
    assert!(
        fired_names
            .iter()
            .all(|n| ["wape", "metric_degradation"].contains(n)),
        "{:?}",
        r.triggers
    );
    // The rolling WAPE crosses its limit within the window too.
    let wape_day = (k..DAYS)
        .find(|&j| {
            let (_, r) = run(d, day0 + Duration::days(j));
            r.triggers.iter().any(|t| t.name == "wape" && t.fired)
        })
        .expect("WAPE never crossed");
    assert!(wape_day < CHANGE_DAY + 7, "WAPE crossed on day {wape_day}");
    // The inputs did not move, the model's reasoning did not move: model aging.
    let psi = r.triggers.iter().find(|t| t.name == "psi").unwrap();
    assert!(!psi.fired, "{psi:?}");
    assert_eq!(r.diagnosis, "model_aging");
    assert!(r.shap_shift.as_ref().is_some_and(|s| !s.flagged));
    assert!(r.baseline.contains_key("rmse"));
    // The report on disk says the same, with the trend chart.
    let md = s.read(".mlx/reports/monitor.md");
    assert!(
        md.contains("model aging") && md.contains("xychart-beta"),
        "{md}"
    );
    // The window's WAPE, RMSE and bias, recomputed here from the log and the actuals.
    let preds: Vec<PredictionRecord> = s
        .read(".mlx/predictions/predictions-20260101T000000-1-0001.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actuals: Vec<FeedbackRecord> = s
        .read(".mlx/predictions/feedback-20260101T000000-1-0001.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let from = r.as_of - Duration::days(6);
    let (mut abs, mut sq, mut err, mut y, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (p, a) in preds.iter().zip(&actuals) {
        let date = p.at.date_naive();
        if date >= from && date <= r.as_of {
            let e = p.output["prediction"].as_f64().unwrap() - a.actual.as_f64().unwrap();
            abs += e.abs();
            sq += e * e;
            err += e;
            y += a.actual.as_f64().unwrap().abs();
            n += 1.0;
        }
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(close(r.window["wape"], abs / y));
    assert!(close(r.window["rmse"], (sq / n).sqrt()));
    assert!(close(r.window["bias"], err / n));
    let day = r.days.iter().find(|x| x.date == r.as_of).unwrap();
    assert_eq!(day.labelled, PER_DAY as u64);
    // Every run of the monitor is a window in the tracking store, the newest first.
    let (_, last) = run(d, r.as_of);
    let listed = ok(mlx(d, "mlx").args([
        "runs", "list", "--kind", "monitor", "--limit", "0", "--json",
    ]));
    let windows: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let windows = windows.as_array().unwrap();
    let runs_in_this_test = RUNS.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        windows.len() <= runs_in_this_test && windows.len() >= k as usize - 6,
        "{}",
        windows.len()
    );
    assert_eq!(
        windows[0]["metrics"]["window.wape"].as_f64(),
        Some(last.window["wape"])
    );
    assert_eq!(
        windows[0]["metrics"]["baseline.rmse"].as_f64(),
        Some(last.baseline["rmse"])
    );
    assert_eq!(windows[0]["tags"]["monitor.as_of"], last.as_of.to_string());
    assert_eq!(windows[0]["tags"]["monitor.fired"], "true");
    assert_eq!(windows[0]["tags"]["monitor.diagnosis"], "model_aging");
    assert_eq!(windows[0]["status"], "failed");
}

#[test]
fn actuals_from_a_file_join_by_request_id() {
    let s = simulate();
    let d = s.path();
    let as_of = NaiveDate::from_ymd_opt(2026, 1, 20).unwrap();
    let (_, from_feedback) = run(d, as_of);
    // The same actuals as a file instead of the feedback log.
    let mut csv = String::from("request_id,actual\n");
    for line in s
        .read(".mlx/predictions/feedback-20260101T000000-1-0001.ndjson")
        .lines()
    {
        let f: FeedbackRecord = serde_json::from_str(line).unwrap();
        let _ = writeln!(csv, "{},{}", f.request_id, f.actual);
    }
    s.write("actuals.csv", &csv);
    std::fs::remove_file(d.join(".mlx/predictions/feedback-20260101T000000-1-0001.ndjson"))
        .unwrap();
    let out = mlx(d, "mlx-monitor")
        .args([
            "--as-of",
            "2026-01-20",
            "--actuals",
            "actuals.csv",
            "--json",
            "-q",
        ])
        .output()
        .unwrap();
    let from_file: MonitorReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_file.window, from_feedback.window);
    // Without actuals, no metric can fire, and the trigger says why.
    let (_, none) = run(d, as_of);
    let w = none.triggers.iter().find(|t| t.name == "wape").unwrap();
    assert!(
        !w.fired && w.message.contains("0 labelled predictions"),
        "{w:?}"
    );
}
