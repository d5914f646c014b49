//! `mlx-monitor`: reads the prediction log and the actuals, computes the daily and
//! rolling metrics, data drift per feature and prediction drift against the training
//! rows, and the SHAP shift on the recent window; diagnoses with the drift matrix of
//! the design documents and exits 1 when a retraining trigger fires.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};
use mlx_contracts::config::{Config, DriftMethod};
use mlx_contracts::monitor::{
    DayStats, FeatureDrift, MonitorReport, Trigger, MONITOR_REPORT_VERSION,
};
use mlx_contracts::serve::{FeedbackRecord, PredictionRecord, PREDICTION_LOG_VERSION};
use mlx_contracts::shap::ShapShift;
use mlx_contracts::Status;
use mlx_data::polars::prelude::*;
use serde_json::{Map, Value};

use crate::config::LoadedConfig;
use crate::drift::{column_drift, ColumnValues};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{write_creating, write_json};
use crate::predlog::{files, Kind};
use crate::stage::{Context, Outcome, Stage, Standalone};
use crate::workdir::paths;
use crate::workdir::Workdir;

/// The command.
pub struct Monitor;

const LONG_ABOUT: &str = "\
Reads the prediction log of mlx-serve (`deploy.prediction_log`: predictions and
feedback) and, optionally, a file of actuals (--actuals: `request_id` and `actual`
columns, or the entity and time columns and the target, joined on them). Computes per
day and over the last `monitoring.window_days` days: WAPE, MAE, RMSE and bias (mean
error) and its persistence for regressors and forecasters, accuracy for classifiers;
the metric against the model's held-out metric at registration; PSI and KL of every
input feature and of the predictions against the training rows; and, when the model
was registered with a SHAP report, the SHAP shift of the recent window.

The drift matrix: metric stable and SHAP stable: healthy; metric worse and SHAP
stable: model aging (retrain on recent data); metric worse and SHAP changed: concept
drift (investigate, reconsider the model); metric stable and SHAP changed: early
warning. Writes monitor/monitor.json and reports/monitor.md, and exits 1 when a
trigger fires (`wape_threshold`, `accuracy_threshold`, `metric_degradation`,
`psi_threshold`, `kl_threshold`), with the reason.

Examples:
  mlx-monitor                                  the latest window of the log
  mlx-monitor --as-of 2026-03-08               as it stood on a day
  mlx-monitor --actuals sales-actuals.csv      actuals from a file
  mlx-monitor --json | jq .triggers

Exit codes: 0 no trigger fired, 1 a trigger fired, 2 a config or input problem, 3 I/O.";

impl Stage for Monitor {
    fn name(&self) -> &'static str {
        "monitor"
    }
    fn about(&self) -> &'static str {
        "Watch the served model: metrics, drift, SHAP shift, retraining triggers"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        &["monitoring", "deploy", "registry", "validation", "explain"]
    }
    fn in_pipeline(&self) -> bool {
        false
    }
    fn inputs(&self, _ctx: &Context) -> Vec<PathBuf> {
        Vec::new()
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join(paths::MONITOR_JSON)]
    }
    fn run(&self, _ctx: &Context) -> Result<Outcome> {
        Err(Error::Usage(
            "`monitor` is not a pipeline stage; run `mlx-monitor`".into(),
        ))
    }
}

/// `mlx-monitor`: the report over the prediction log `log` [default:
/// `deploy.prediction_log`] as of the day `as_of` (`YYYY-MM-DD`) [default: the log's
/// last day], with the actual outcomes of `actuals`; failed when a trigger fired.
pub fn run(
    config: &dyn Fn() -> Result<Option<LoadedConfig>>,
    workdir: &Workdir,
    log: Option<&Path>,
    actuals: Option<&Path>,
    as_of: Option<&str>,
) -> Result<Standalone> {
    let cfg = config()?.map(|c| c.config).ok_or_else(|| {
        Error::Usage("mlx-monitor needs the project's config (mlx.yaml or --config)".into())
    })?;
    let as_of = as_of
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| Error::Usage(format!("--as-of `{d}` is not a date (YYYY-MM-DD)")))
        })
        .transpose()?;
    let log = log.map_or_else(
        || PathBuf::from(&cfg.deploy.prediction_log),
        Path::to_path_buf,
    );
    let report = monitor(&cfg, workdir, &log, actuals, as_of)?;
    let entry = crate::tracking::monitor_window(workdir, &report)?;
    crate::tracking::record_monitor(&cfg, entry).map_err(|e| {
        Error::Runtime(format!(
            "the monitoring report is written ({}), but the tracking store ({}) did not take \
             its window: {e:#}; fix that and run `mlx runs import` to record it (or set \
             tracking.enabled: false)",
            workdir.join(paths::MONITOR_JSON).display(),
            cfg.tracking.uri
        ))
    })?;
    let human = summary(&report);
    Ok(Standalone {
        status: if report.fired {
            Status::Failed
        } else {
            Status::Passed
        },
        human,
        json: crate::json::value(&report)?,
    })
}

fn summary(r: &MonitorReport) -> String {
    let fired: Vec<&str> = r
        .triggers
        .iter()
        .filter(|t| t.fired)
        .map(|t| t.message.as_str())
        .collect();
    if fired.is_empty() {
        format!(
            "{}: {} as of {}; no trigger fired{}",
            r.model,
            r.diagnosis,
            r.as_of,
            if r.diagnosis == "healthy" {
                String::new()
            } else {
                format!(" ({})", r.recommendation)
            }
        )
    } else {
        format!(
            "{}: {} as of {}; retrain: {} ({})",
            r.model,
            r.diagnosis,
            r.as_of,
            fired.join("; "),
            r.recommendation
        )
    }
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path, what: &'static str) -> Result<Vec<T>> {
    crate::fsutil::read_ndjson(path, what, PREDICTION_LOG_VERSION)?.ok_or_else(|| {
        Error::Usage(format!(
            "{} disappeared while reading the log",
            path.display()
        ))
    })
}

/// Actual outcomes by request id, from the feedback log and an optional file.
fn actuals(
    cfg: &Config,
    log: &Path,
    file: Option<&Path>,
    predictions: &[PredictionRecord],
) -> Result<HashMap<String, Value>> {
    let mut out = HashMap::new();
    for f in files(log, Kind::Feedback).with_path("listing", log)? {
        for r in read_lines::<FeedbackRecord>(&f, "feedback record")? {
            out.insert(r.request_id, r.actual);
        }
    }
    let Some(file) = file else { return Ok(out) };
    let df = mlx_data::read_table(file)?;
    let text = |name: &str| -> Result<Vec<Option<Value>>> {
        let c = mlx_data::column(&df, name, file)?;
        Ok((0..df.height())
            .map(|i| {
                c.get(i)
                    .ok()
                    .map(|v| mlx_data::any_to_json(&v))
                    .filter(|v| !v.is_null())
            })
            .collect())
    };
    if df.column("request_id").is_ok() && df.column("actual").is_ok() {
        for (id, a) in text("request_id")?.into_iter().zip(text("actual")?) {
            if let (Some(Value::String(id)), Some(a)) = (id, a) {
                out.insert(id, a);
            }
        }
        return Ok(out);
    }
    // Entity and time: the key columns as the prediction's features hold them.
    let mut keys: Vec<String> = cfg.data.entity_columns.clone();
    keys.extend(cfg.data.time_column.clone());
    let target = cfg.data.target.clone().unwrap_or_default();
    if keys.is_empty() || df.column(&target).is_err() {
        return Err(Error::Usage(format!(
            "{}: actuals need `request_id` and `actual` columns, or the entity and time columns \
             ({}) and the target `{target}`",
            file.display(),
            keys.join(", ")
        )));
    }
    let cols: Vec<Vec<Option<Value>>> = keys.iter().map(|k| text(k)).collect::<Result<_>>()?;
    let key_of = |vals: Vec<Option<&Value>>| -> Option<String> {
        vals.into_iter()
            .map(|v| v.map(key_text))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join("\u{1f}"))
    };
    let mut by_key = HashMap::new();
    for (i, a) in text(&target)?.into_iter().enumerate() {
        if let (Some(k), Some(a)) = (key_of(cols.iter().map(|c| c[i].as_ref()).collect()), a) {
            by_key.insert(k, a);
        }
    }
    for p in predictions {
        if let Some(k) = key_of(keys.iter().map(|c| p.features.get(c)).collect()) {
            if let Some(a) = by_key.get(&k) {
                out.insert(p.request_id.clone(), a.clone());
            }
        }
    }
    Ok(out)
}

fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string()),
        other => other.to_string(),
    }
}

/// Per-window error sums.
#[derive(Default, Clone)]
struct Sums {
    n: u64,
    abs_err: f64,
    sq_err: f64,
    err: f64,
    abs_actual: f64,
    correct: u64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.n += o.n;
        self.abs_err += o.abs_err;
        self.sq_err += o.sq_err;
        self.err += o.err;
        self.abs_actual += o.abs_actual;
        self.correct += o.correct;
    }

    fn metrics(&self, classifier: bool) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        if self.n == 0 {
            return m;
        }
        let n = self.n as f64;
        if classifier {
            m.insert("accuracy".into(), self.correct as f64 / n);
        } else {
            m.insert("mae".into(), self.abs_err / n);
            m.insert("rmse".into(), (self.sq_err / n).sqrt());
            m.insert("bias".into(), self.err / n);
            if self.abs_actual > 0.0 {
                m.insert("wape".into(), self.abs_err / self.abs_actual);
            }
        }
        m
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// The model's first output value (regression value, or the second class's probability).
fn output_value(o: &Map<String, Value>, classes: Option<&[String]>) -> Option<f64> {
    match classes {
        Some(c) if c.len() > 1 => o.get(&format!("proba_{}", c[1])).and_then(as_number),
        _ => o.get("prediction").and_then(as_number),
    }
}

fn column_values(values: impl Iterator<Item = Option<Value>>, numeric: bool) -> ColumnValues {
    if numeric {
        let mut v: Vec<f64> = values
            .flatten()
            .filter_map(|v| as_number(&v))
            .filter(|v| !v.is_nan())
            .collect();
        v.sort_by(f64::total_cmp);
        ColumnValues::Numeric(v)
    } else {
        let mut m = BTreeMap::new();
        for v in values.flatten() {
            *m.entry(key_text(&v)).or_insert(0) += 1;
        }
        ColumnValues::Categorical(m)
    }
}

fn drift_of(
    cfg: &Config,
    column: &str,
    reference: &ColumnValues,
    current: &ColumnValues,
) -> Option<FeatureDrift> {
    column_drift(
        column,
        reference,
        current,
        DriftMethod::Psi,
        &cfg.validation.drift,
    )
    .ok()
    .map(|d| FeatureDrift {
        column: column.into(),
        psi: d.statistics.get("psi").copied().unwrap_or(f64::NAN),
        kl: d.statistics.get("kl").copied().unwrap_or(f64::NAN),
    })
}

/// The whole command.
pub fn monitor(
    cfg: &Config,
    workdir: &Workdir,
    log: &Path,
    actuals_file: Option<&Path>,
    as_of: Option<NaiveDate>,
) -> Result<MonitorReport> {
    let m = &cfg.monitoring;
    let mut predictions = read_log(log)?;
    let last = predictions
        .iter()
        .map(|p| p.at.date_naive())
        .max()
        .expect("some");
    let as_of = as_of.unwrap_or(last);
    let window = m.window_days.max(1);
    let start = as_of - Duration::days(i64::from(window) - 1);
    predictions.retain(|p| p.at.date_naive() <= as_of);
    let in_window: Vec<&PredictionRecord> = predictions
        .iter()
        .filter(|p| p.at.date_naive() >= start)
        .collect();
    if in_window.is_empty() {
        return Err(Error::Usage(format!(
            "no predictions between {start} and {as_of}; pick another --as-of"
        )));
    }
    // Drift may look further back than the metrics, when a day holds few predictions.
    let drift_window = m.drift_window_days.unwrap_or(window).max(1);
    let drift_start = as_of - Duration::days(i64::from(drift_window) - 1);
    let in_drift_window: Vec<&PredictionRecord> = predictions
        .iter()
        .filter(|p| p.at.date_naive() >= drift_start)
        .collect();
    let version = main_version(&in_window);
    let model = in_window[0].model.clone();
    let store = crate::registry::open(cfg)?;
    let registered = match version {
        Some(n) => Some(crate::registry::fetch(
            &store,
            n,
            &workdir.join(paths::REGISTRY_CACHE),
        )?),
        None => None,
    };
    let bundle = registered
        .as_ref()
        .map(|(_, path)| crate::model::bundle::Bundle::load(path))
        .transpose()?;
    let classes: Option<Vec<String>> = bundle.as_ref().and_then(|b| b.manifest.classes.clone());
    let classifier = classes.is_some()
        || in_window
            .iter()
            .any(|p| matches!(p.output.get("prediction"), Some(Value::String(_))));

    let actual = actuals(cfg, log, actuals_file, &predictions)?;
    // Daily sums, then rolling windows.
    let daily = daily_sums(&predictions, &actual, classifier);
    let days = day_stats(&daily, window, classifier);
    let window_sums = rolling(&daily, as_of, window);
    let window_metrics = window_sums.metrics(classifier);
    let bias_persistence_days = if classifier {
        0
    } else {
        bias_persistence(&days, &window_metrics)
    };
    let baseline: BTreeMap<String, f64> = registered
        .as_ref()
        .map(|(v, _)| v.metrics.clone())
        .unwrap_or_default();

    // Drift against the training rows, and the predictions on them.
    let mut feature_drift = Vec::new();
    let mut prediction_drift = None;
    let mut shap_shift = None;
    if let Some(bundle) = &bundle {
        let reference = match registered.as_ref() {
            Some((v, _)) if v.reference.is_some() => Some(registry_reference(&store, v)?),
            _ => crate::heldout::held_out(cfg, workdir).ok().map(|h| h.train),
        };
        if let Some(train) = reference.as_ref() {
            feature_drift = feature_drifts(cfg, bundle, train, &in_drift_window);
            prediction_drift =
                prediction_drift_of(cfg, bundle, train, &in_drift_window, classes.as_deref())?;

            // SHAP on the recent window, against the report registered with the model.
            if let (Some(base), true) = (
                registered.as_ref().and_then(|(v, _)| v.shap.as_ref()),
                cfg.explain.enabled,
            ) {
                shap_shift = Some(recent_shap_shift(
                    cfg,
                    workdir,
                    bundle,
                    train,
                    &in_drift_window,
                    base,
                    version,
                )?);
            }
        }
    }

    // Over too few rows a SHAP ranking measures noise, as PSI does.
    let shap_changed = in_drift_window.len() as u64 >= m.min_rows
        && shap_shift
            .as_ref()
            .is_some_and(|s| s.flagged || 1.0 - s.spearman > m.shap_shift_threshold);
    let triggers = triggers(
        cfg,
        classifier,
        &window_sums,
        &window_metrics,
        &baseline,
        &WindowDrift {
            features: &feature_drift,
            prediction: prediction_drift.as_ref(),
            shap: shap_shift.as_ref().map(|s| (s, shap_changed)),
            rows: in_drift_window.len() as u64,
            days: drift_window,
            bias_days: bias_persistence_days,
        },
    );
    let fired = triggers.iter().any(|t| t.fired);
    let (diagnosis, recommendation) = diagnose(&triggers, shap_changed);
    let report = MonitorReport {
        schema_version: MONITOR_REPORT_VERSION,
        as_of,
        window_days: window,
        drift_window_days: drift_window,
        model,
        version,
        days,
        window: window_metrics,
        baseline,
        bias_persistence_days,
        feature_drift,
        prediction_drift,
        shap_shift,
        triggers,
        diagnosis: diagnosis.into(),
        recommendation: recommendation.into(),
        fired,
    };
    let p = workdir.join(paths::MONITOR_JSON);
    write_json(&p, &report).with_path("writing", &p)?;
    let md = markdown(&report, classifier);
    let rp = workdir.join(paths::MONITOR_REPORT);
    write_creating(&rp, md.as_bytes()).with_path("writing", &rp)?;
    Ok(report)
}

/// The sums over the `window` days up to `day`.
fn rolling(daily: &BTreeMap<NaiveDate, (u64, Sums)>, day: NaiveDate, window: u32) -> Sums {
    let from = day - Duration::days(i64::from(window) - 1);
    let mut s = Sums::default();
    for (_, (_, d)) in daily.range(from..=day) {
        s.add(d);
    }
    s
}

/// Each day's counts and metrics, and the rolling window's metrics up to it.
fn day_stats(
    daily: &BTreeMap<NaiveDate, (u64, Sums)>,
    window: u32,
    classifier: bool,
) -> Vec<DayStats> {
    daily
        .iter()
        .map(|(date, (n, s))| DayStats {
            date: *date,
            predictions: *n,
            labelled: s.n,
            metrics: s.metrics(classifier),
            rolling: rolling(daily, *date, window).metrics(classifier),
        })
        .collect()
}

/// The version behind most of the window's predictions.
fn main_version(in_window: &[&PredictionRecord]) -> Option<u64> {
    let mut counts: BTreeMap<Option<u64>, usize> = BTreeMap::new();
    for p in in_window {
        *counts.entry(p.version).or_insert(0) += 1;
    }
    counts.iter().max_by_key(|(_, c)| **c).and_then(|(v, _)| *v)
}

/// The prediction log's records (without the shadow variant's); an error when there
/// is no log or no prediction in it.
fn read_log(log: &Path) -> Result<Vec<PredictionRecord>> {
    if !log.is_dir() {
        return Err(Error::Usage(format!(
            "there is no prediction log at {}; serve the model with mlx-serve first, or pass --log DIR",
            log.display()
        )));
    }
    let mut predictions = Vec::new();
    for f in files(log, Kind::Prediction).with_path("listing", log)? {
        predictions.extend(
            read_lines::<PredictionRecord>(&f, "prediction record")?
                .into_iter()
                .filter(|p| p.variant != "shadow"),
        );
    }
    if predictions.is_empty() {
        return Err(Error::Usage(format!(
            "the prediction log at {} has no predictions yet",
            log.display()
        )));
    }
    Ok(predictions)
}

/// Per day: the predictions logged, and the sums of the labelled ones' errors.
fn daily_sums(
    predictions: &[PredictionRecord],
    actual: &HashMap<String, Value>,
    classifier: bool,
) -> BTreeMap<NaiveDate, (u64, Sums)> {
    let mut daily: BTreeMap<NaiveDate, (u64, Sums)> = BTreeMap::new();
    for p in predictions {
        let day = daily.entry(p.at.date_naive()).or_default();
        day.0 += 1;
        let (Some(a), Some(pred)) = (actual.get(&p.request_id), p.output.get("prediction")) else {
            continue;
        };
        let s = &mut day.1;
        if classifier {
            s.n += 1;
            s.correct += u64::from(key_text(a) == key_text(pred));
        } else if let (Some(a), Some(y)) = (as_number(a), as_number(pred)) {
            let e = y - a;
            s.n += 1;
            s.abs_err += e.abs();
            s.sq_err += e * e;
            s.err += e;
            s.abs_actual += a.abs();
        }
    }
    daily
}

/// How many of the last days (with labels) the bias kept the window's sign.
fn bias_persistence(days: &[DayStats], window_metrics: &BTreeMap<String, f64>) -> u32 {
    let mut bias_persistence_days = 0;
    let sign = window_metrics.get("bias").map(|b| b.signum());
    for d in days.iter().rev() {
        match (d.metrics.get("bias"), sign) {
            (Some(b), Some(s)) if b.signum() == s && *b != 0.0 => bias_persistence_days += 1,
            (None, _) => continue,
            _ => break,
        }
    }
    bias_persistence_days
}

/// Each input's drift: the window's values against the training rows'.
fn feature_drifts(
    cfg: &Config,
    bundle: &crate::model::bundle::Bundle,
    train: &DataFrame,
    recent: &[&PredictionRecord],
) -> Vec<FeatureDrift> {
    let mut feature_drift = Vec::new();
    for input in &bundle.manifest.signature.inputs {
        let Ok(col) = train.column(&input.name) else {
            continue;
        };
        let numeric = input.kind == mlx_contracts::features::InputKind::Numeric;
        let reference = column_values(
            (0..col.len()).map(|i| {
                col.get(i)
                    .ok()
                    .map(|v| mlx_data::any_to_json(&v))
                    .filter(|v| !v.is_null())
            }),
            numeric,
        );
        let current = column_values(
            recent.iter().map(|p| p.features.get(&input.name).cloned()),
            numeric,
        );
        feature_drift.extend(drift_of(cfg, &input.name, &reference, &current));
    }
    feature_drift
}

/// The drift of the window's predictions against the model's predictions of its
/// training rows.
fn prediction_drift_of(
    cfg: &Config,
    bundle: &crate::model::bundle::Bundle,
    train: &DataFrame,
    recent: &[&PredictionRecord],
    classes: Option<&[String]>,
) -> Result<Option<FeatureDrift>> {
    // A forecaster's predictions of its own training rows are not forecasts: its
    // forecasts are compared with the series they continue.
    let scored = match &bundle.model {
        crate::model::FittedModel::Forecast(_) => train
            .column(&bundle.manifest.target)
            .and_then(|c| c.cast(&DataType::Float64))
            .and_then(|c| DataFrame::new_infer_height(vec![c.with_name("prediction".into())]))
            .map_err(|e| Error::Runtime(e.to_string()))?,
        _ => crate::model::scorer::Scorer::new(bundle.clone())?.score_frame(train)?,
    };
    let ref_values: Vec<Option<Value>> = (0..scored.height())
        .map(|i| {
            let row: Map<String, Value> = scored
                .columns()
                .iter()
                .map(|c| {
                    (
                        c.name().to_string(),
                        c.get(i)
                            .map(|v| mlx_data::any_to_json(&v))
                            .unwrap_or(Value::Null),
                    )
                })
                .collect();
            output_value(&row, classes).map(Value::from)
        })
        .collect();
    let reference = column_values(ref_values.into_iter(), true);
    let current = column_values(
        recent
            .iter()
            .map(|p| output_value(&p.output, classes).map(Value::from)),
        true,
    );
    Ok(drift_of(cfg, "prediction", &reference, &current))
}

/// SHAP on the window's records against the report registered with the model.
fn recent_shap_shift(
    cfg: &Config,
    workdir: &Workdir,
    bundle: &crate::model::bundle::Bundle,
    train: &DataFrame,
    recent: &[&PredictionRecord],
    base: &mlx_contracts::shap::ShapReport,
    version: Option<u64>,
) -> Result<ShapShift> {
    let records: Vec<Map<String, Value>> = recent.iter().map(|p| p.features.clone()).collect();
    let cols: Vec<Column> = bundle
        .manifest
        .signature
        .inputs
        .iter()
        .map(|i| crate::model::records::column(&i.name, &records, false))
        .collect::<std::result::Result<_, String>>()
        .map_err(Error::Usage)?;
    let recent = DataFrame::new_infer_height(cols).map_err(|e| Error::Runtime(e.to_string()))?;
    let seed = cfg.training.seed;
    let n = cfg.explain.max_samples.max(1) as usize;
    let rows = crate::explain::take(
        &recent,
        &crate::explain::sample_rows(recent.height(), n, seed),
    )?;
    let bg_n = cfg.explain.background_samples.max(1) as usize;
    let background = crate::explain::take(
        train,
        &crate::explain::sample_rows(train.height(), bg_n, seed.wrapping_add(1)),
    )?;
    let dir = workdir.join("monitor/shap");
    let (now, _) = crate::explain::explain_bundle(
        bundle,
        &rows,
        &background,
        &cfg.explain,
        seed,
        &dir,
        "monitor/shap",
        "recent",
    )?;
    Ok(crate::explain::shift(
        &now.importance,
        &base.importance,
        &format!("v{}", version.unwrap_or_default()),
        &cfg.explain.shift,
        cfg.explain.top_k.max(1) as usize,
    ))
}

/// Why drift could not be measured.
const NO_REFERENCE: &str = "no training rows to compare with: the registry version has no \
     reference rows (registered before mlx stored them) and the work directory has no features";

/// The training rows stored with version `v` in the registry, checked against its hash.
fn registry_reference(
    store: &crate::registry::store::Store,
    v: &mlx_contracts::registry::ModelVersion,
) -> Result<DataFrame> {
    let bytes = store.reference_bytes(v)?.unwrap_or_default();
    ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .map_err(|e| {
            Error::Runtime(format!(
                "the reference rows of version {} in the registry cannot be read: {e}",
                v.version
            ))
        })
}

fn trigger(
    name: &str,
    value: Option<f64>,
    threshold: f64,
    fired: bool,
    message: String,
) -> Trigger {
    Trigger {
        name: name.into(),
        value,
        threshold,
        fired,
        message,
    }
}

/// The window's drift statistics and how many predictions they rest on.
struct WindowDrift<'a> {
    features: &'a [FeatureDrift],
    prediction: Option<&'a FeatureDrift>,
    /// The SHAP shift, and whether it counts as changed.
    shap: Option<(&'a ShapShift, bool)>,
    rows: u64,
    /// The days of the drift window.
    days: u32,
    /// Consecutive days, up to the last, whose bias had one sign.
    bias_days: u32,
}

/// The drift matrix of the design documents, extended by the two triggers it leaves
/// out (drift of the inputs alone, a persistent bias) so that a fired trigger is never
/// diagnosed `healthy`.
fn diagnose(triggers: &[Trigger], shap_changed: bool) -> (&'static str, &'static str) {
    let any = |names: &[&str]| {
        triggers
            .iter()
            .any(|t| t.fired && names.contains(&t.name.as_str()))
    };
    let metric_rising = any(&["wape", "accuracy", "metric_degradation"]);
    match (metric_rising, shap_changed) {
        (true, true) => (
            "concept_drift",
            "investigate the features and consider a new architecture, then retrain",
        ),
        (true, false) => ("model_aging", "retrain on recent data"),
        (false, true) => (
            "early_warning",
            "act proactively: the model's reasoning changed before its accuracy; investigate \
             now, retrain soon",
        ),
        (false, false) if any(&["psi", "kl", "prediction_drift"]) => (
            "data_drift",
            "retrain on recent data: the inputs moved away from the training rows",
        ),
        (false, false) if any(&["bias"]) => (
            "persistent_bias",
            "retrain with updated exogenous features: the errors keep one sign",
        ),
        (false, false) => {
            debug_assert!(!triggers.iter().any(|t| t.fired), "{triggers:?}");
            ("healthy", "no action")
        }
    }
}

fn triggers(
    cfg: &Config,
    classifier: bool,
    sums: &Sums,
    window: &BTreeMap<String, f64>,
    baseline: &BTreeMap<String, f64>,
    window_drift: &WindowDrift,
) -> Vec<Trigger> {
    let m = &cfg.monitoring;
    let enough = sums.n >= m.min_labelled;
    let too_few = format!(
        "{} labelled predictions in the window, fewer than monitoring.min_labelled ({})",
        sums.n, m.min_labelled
    );
    let mut out = performance_triggers(cfg, classifier, enough, &too_few, window, baseline);
    out.extend(drift_triggers(cfg, window_drift));
    if let (Some(days), false) = (m.bias_days, classifier) {
        let bias = window.get("bias").copied();
        let persisted = window_drift.bias_days;
        out.push(match (bias, enough) {
            (Some(b), true) => trigger(
                "bias",
                Some(f64::from(persisted)),
                f64::from(days),
                persisted >= days,
                format!(
                    "mean error {b:+.4} over the window, the same sign for {persisted} day(s) \
                     (limit {days})"
                ),
            ),
            _ => trigger(
                "bias",
                Some(f64::from(persisted)),
                f64::from(days),
                false,
                too_few.clone(),
            ),
        });
    }
    out
}

/// The labelled predictions' triggers: WAPE, accuracy, and the primary metric against
/// the one registered with the model.
fn performance_triggers(
    cfg: &Config,
    classifier: bool,
    enough: bool,
    too_few: &str,
    window: &BTreeMap<String, f64>,
    baseline: &BTreeMap<String, f64>,
) -> Vec<Trigger> {
    let m = &cfg.monitoring;
    let mut out = Vec::new();
    if let (Some(t), false) = (m.wape_threshold, classifier) {
        let v = window.get("wape").copied();
        out.push(match (v, enough) {
            (Some(v), true) => trigger(
                "wape",
                Some(v),
                t,
                v > t,
                format!("rolling WAPE {:.1}% (limit {:.1}%)", v * 100.0, t * 100.0),
            ),
            _ => trigger("wape", v, t, false, too_few.to_string()),
        });
    }
    if let (Some(t), true) = (m.accuracy_threshold, classifier) {
        let v = window.get("accuracy").copied();
        out.push(match (v, enough) {
            (Some(v), true) => trigger(
                "accuracy",
                Some(v),
                t,
                v < t,
                format!("rolling accuracy {:.3} (floor {t})", v),
            ),
            _ => trigger("accuracy", v, t, false, too_few.to_string()),
        });
    }
    let metric = if classifier { "accuracy" } else { "rmse" };
    let t = m.metric_degradation;
    out.push(match (window.get(metric), baseline.get(metric), enough) {
        (Some(&now), Some(&base), true) => {
            let w = crate::metric::worsening(
                if classifier {
                    mlx_contracts::config::Metric::Accuracy
                } else {
                    mlx_contracts::config::Metric::Rmse
                },
                now,
                base,
            );
            trigger(
                "metric_degradation",
                Some(w),
                t,
                w > t,
                format!(
                    "{metric} {now:.4} against {base:.4} at registration ({:+.1}%, limit {:.1}% worse)",
                    -w * 100.0 * if classifier { 1.0 } else { -1.0 },
                    t * 100.0
                ),
            )
        }
        (_, None, _) => trigger(
            "metric_degradation",
            None,
            t,
            false,
            format!("no {metric} was registered with the model"),
        ),
        _ => trigger("metric_degradation", None, t, false, too_few.to_string()),
    });
    out
}

/// The drift triggers: feature PSI and KL, the predictions' PSI, the SHAP shift. Drift
/// over too few rows is noise: it is reported, but does not fire.
fn drift_triggers(cfg: &Config, window_drift: &WindowDrift) -> Vec<Trigger> {
    let (drift, prediction, rows) = (
        window_drift.features,
        window_drift.prediction,
        window_drift.rows,
    );
    let window_days = window_drift.days;
    let m = &cfg.monitoring;
    let mut out = Vec::new();
    let drift_counts = rows >= m.min_rows;
    let few_rows = format!(
        " (not fired: {rows} predictions in the window, fewer than monitoring.min_rows ({}))",
        m.min_rows
    );
    let worst = drift.iter().max_by(|a, b| a.psi.total_cmp(&b.psi));
    out.push(match worst {
        Some(d) => trigger(
            "psi",
            Some(d.psi),
            m.psi_threshold,
            drift_counts && d.psi > m.psi_threshold,
            format!(
                "largest feature PSI {:.3} ({}; limit {}){}",
                d.psi,
                d.column,
                m.psi_threshold,
                if drift_counts { "" } else { &few_rows }
            ),
        ),
        None => trigger("psi", None, m.psi_threshold, false, NO_REFERENCE.into()),
    });
    if let Some(t) = m.kl_threshold {
        let w = drift.iter().max_by(|a, b| a.kl.total_cmp(&b.kl));
        out.push(match w {
            Some(d) => trigger(
                "kl",
                Some(d.kl),
                t,
                drift_counts && d.kl > t,
                format!(
                    "largest feature KL {:.3} ({}; limit {t}){}",
                    d.kl,
                    d.column,
                    if drift_counts { "" } else { &few_rows }
                ),
            ),
            None => trigger("kl", None, t, false, NO_REFERENCE.into()),
        });
    }
    if let Some(p) = prediction {
        out.push(trigger(
            "prediction_drift",
            Some(p.psi),
            m.psi_threshold,
            drift_counts && p.psi > m.psi_threshold,
            format!(
                "prediction PSI {:.3} against the training predictions (limit {}){}",
                p.psi,
                m.psi_threshold,
                if drift_counts { "" } else { &few_rows }
            ),
        ));
    }
    if let Some((s, changed)) = window_drift.shap {
        let shift = 1.0 - s.spearman;
        let why = if s.flagged && !s.reasons.is_empty() {
            format!("; {}", s.reasons.join("; "))
        } else {
            String::new()
        };
        let not_fired = if !drift_counts {
            few_rows.clone()
        } else if changed && !m.shap_shift_retrains {
            " (not fired: monitoring.shap_shift_retrains is false)".into()
        } else {
            String::new()
        };
        out.push(trigger(
            "shap_shift",
            Some(shift),
            m.shap_shift_threshold,
            changed && m.shap_shift_retrains,
            format!(
                "SHAP ranking 1 - Spearman {shift:.3} against {} over {window_days} days (limit \
                 {}){why}{not_fired}",
                s.baseline, m.shap_shift_threshold
            ),
        ));
    }
    out
}

fn markdown(r: &MonitorReport, classifier: bool) -> String {
    let mut md = format!(
        "# Monitoring: {} {} as of {}\n\n**{}** — {}.\n\n",
        r.model,
        r.version.map_or(String::new(), |v| format!("v{v}")),
        r.as_of,
        r.diagnosis.replace('_', " "),
        r.recommendation
    );
    md.push_str("| trigger | value | limit | fired | detail |\n|---|---:|---:|---|---|\n");
    for t in &r.triggers {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            t.name,
            t.value.map_or("—".into(), |v| format!("{v:.4}")),
            t.threshold,
            if t.fired { "**yes**" } else { "no" },
            t.message
        ));
    }
    let metric = if classifier { "accuracy" } else { "wape" };
    let points: Vec<(String, f64)> = r
        .days
        .iter()
        .filter_map(|d| {
            d.rolling
                .get(metric)
                .map(|v| (d.date.format("%m-%d").to_string(), *v))
        })
        .collect();
    if !points.is_empty() {
        md.push_str(&format!(
            "\n## Rolling {metric} ({} days)\n\n```mermaid\nxychart-beta\n  title \"rolling {metric}\"\n  x-axis [{}]\n  line [{}]\n```\n",
            r.window_days,
            points.iter().map(|(d, _)| format!("\"{d}\"")).collect::<Vec<_>>().join(", "),
            points.iter().map(|(_, v)| format!("{v:.4}")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !classifier && r.bias_persistence_days > 0 {
        md.push_str(&format!(
            "\nBias {:+.3} over the window, the same sign for {} day(s).\n",
            r.window.get("bias").copied().unwrap_or_default(),
            r.bias_persistence_days
        ));
    }
    if !r.feature_drift.is_empty() {
        md.push_str(
            "\n## Drift against the training rows\n\n| column | PSI | KL |\n|---|---:|---:|\n",
        );
        for d in r.feature_drift.iter().chain(r.prediction_drift.as_ref()) {
            md.push_str(&format!("| {} | {:.4} | {:.4} |\n", d.column, d.psi, d.kl));
        }
    }
    if let Some(s) = &r.shap_shift {
        md.push_str(&format!(
            "\n## SHAP shift of the window\n\nSpearman {:.3}, L1 {:.3}{}\n",
            s.spearman,
            s.l1_distance,
            if s.flagged {
                format!(": {}", s.reasons.join("; "))
            } else {
                String::new()
            }
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(names: &[&str]) -> Vec<Trigger> {
        [
            "wape",
            "metric_degradation",
            "psi",
            "kl",
            "shap_shift",
            "bias",
        ]
        .iter()
        .map(|n| trigger(n, Some(1.0), 0.5, names.contains(n), String::new()))
        .collect()
    }

    #[test]
    fn a_fired_trigger_is_never_diagnosed_healthy() {
        // The classification example fired PSI alone and called it "healthy — no action".
        assert_eq!(diagnose(&fired(&["psi"]), false).0, "data_drift");
        assert_eq!(diagnose(&fired(&["kl"]), false).0, "data_drift");
        assert_eq!(diagnose(&fired(&["bias"]), false).0, "persistent_bias");
        assert_eq!(diagnose(&fired(&["wape"]), false).0, "model_aging");
        assert_eq!(diagnose(&fired(&["wape", "psi"]), true).0, "concept_drift");
        assert_eq!(diagnose(&fired(&["shap_shift"]), true).0, "early_warning");
        assert_eq!(diagnose(&fired(&[]), false), ("healthy", "no action"));
        // A changed ranking that may not fire (shap_shift_retrains: false) still warns.
        assert_eq!(diagnose(&fired(&[]), true).0, "early_warning");
    }

    fn config(yaml: &str) -> Config {
        let env = HashMap::<String, String>::new();
        crate::config::parse(Path::new("mlx.yaml"), yaml, &env)
            .unwrap()
            .config
    }

    fn run_triggers(cfg: &Config, drift: &WindowDrift) -> Vec<Trigger> {
        let sums = Sums {
            n: 100,
            ..Sums::default()
        };
        let window = BTreeMap::from([("bias".to_string(), 0.4)]);
        triggers(cfg, false, &sums, &window, &BTreeMap::new(), drift)
    }

    #[test]
    fn a_persistent_bias_and_a_shap_shift_fire_retraining_when_configured() {
        let shift = ShapShift {
            baseline: "v1".into(),
            spearman: 0.1,
            l1_distance: 0.9,
            rank_changes: vec![],
            flagged: true,
            reasons: vec!["Spearman correlation of the importances 0.100 is below 0.8".into()],
        };
        let drift = |bias_days, rows| WindowDrift {
            features: &[],
            prediction: None,
            shap: Some((&shift, rows >= 30)),
            rows,
            days: 7,
            bias_days,
        };
        let find = |ts: &[Trigger], n: &str| ts.iter().find(|t| t.name == n).cloned();
        let on = config(
            "project: { name: p }\ndata: { sources: [{ name: s, uri: a.csv }], target: y }\n\
             monitoring: { bias_days: 10 }\n",
        );
        // Ten days of one sign: fires; nine: does not.
        let t = run_triggers(&on, &drift(10, 100));
        assert!(find(&t, "bias").unwrap().fired, "{t:?}");
        assert!(find(&t, "shap_shift").unwrap().fired, "{t:?}");
        let t = run_triggers(&on, &drift(9, 100));
        assert!(!find(&t, "bias").unwrap().fired, "{t:?}");
        // Over fewer than min_rows predictions the ranking is noise and does not fire.
        let t = run_triggers(&on, &drift(0, 7));
        let s = find(&t, "shap_shift").unwrap();
        assert!(!s.fired && s.message.contains("min_rows"), "{s:?}");
        // Off unless configured (bias), or switched off (SHAP shift).
        let off = config(
            "project: { name: p }\ndata: { sources: [{ name: s, uri: a.csv }], target: y }\n\
             monitoring: { shap_shift_retrains: false }\n",
        );
        let t = run_triggers(&off, &drift(40, 100));
        assert!(find(&t, "bias").is_none(), "{t:?}");
        let s = find(&t, "shap_shift").unwrap();
        assert!(
            !s.fired && s.message.contains("shap_shift_retrains"),
            "{s:?}"
        );
    }
}
