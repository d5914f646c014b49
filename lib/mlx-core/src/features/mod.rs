//! `mlx-features`: derived features, feature views joined point-in-time, the split and
//! the fitted preprocessing; `materialize` and `get` for the online store; `join` for
//! a config-free point-in-time join.
//!
//! Owns `features/` in the work directory and the feature store.

pub mod split;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlx_contracts::config::{Config, FeatureView, SplitStrategy};
use mlx_contracts::features::{
    FeaturesReport, FoldSummary, Preprocessor, SplitSummary, ViewReport, FEATURES_REPORT_VERSION,
    PREPROCESSOR_VERSION,
};
use mlx_contracts::Status;
use mlx_data::polars::prelude::*;

use crate::error::{Error, IoContext, Result};
use crate::featurestore::{offline_uri, online_uri, Offline, ViewData};
use crate::fsutil::atomic_write;
use crate::model::derive::{self, Roles, Span};
use crate::model::transform::fit_preprocessor;
use crate::stage::{Context, Outcome, Stage, Standalone};
use crate::workdir::paths;
use crate::workdir::write_parquet;
use crate::workdir::Workdir;

/// The `features` stage.
pub struct Features;

const LONG_ABOUT: &str = "\
Computes the features declared in `features:` (lags, rolling and expanding statistics,
calendar and cyclical parts, holidays, group aggregates, arithmetic), joins feature views
point-in-time-correct, splits the rows as `split:` says and fits the `transforms` on the
training rows only. Writes features/features.parquet, features/split.parquet and
features/preprocessor.json, and each view's version to the offline store.

Examples:
  mlx-features                                   compute, split and fit from .mlx/data/raw.parquet
  mlx-features --data sales.parquet --json       another dataset; print the record
  mlx-features compute --data new.csv --out f.parquet   the same features on another table
  mlx-features materialize                       latest values per entity into the online store
  mlx-features get --entity 42                   read them back (what serving sees)
  mlx-features get --entity store=7,item=3 --view sales_stats --json
  mlx-features join --labels labels.parquet --features clicks.parquet \\
      --entity user_id --timestamp ts --ttl 30d --out train.parquet";

impl Stage for Features {
    fn name(&self) -> &'static str {
        "features"
    }
    fn about(&self) -> &'static str {
        "Compute features, join feature views, split, and fit the preprocessing"
    }
    fn long_about(&self) -> &'static str {
        LONG_ABOUT
    }
    fn sections(&self) -> &'static [&'static str] {
        &["data", "features", "split"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        let f = &ctx.config.config.features;
        let mut v = vec![ctx.workdir.join(paths::RAW_DATA)];
        v.extend(
            f.store
                .views
                .iter()
                .filter_map(|w| w.source.as_ref().map(PathBuf::from)),
        );
        v.extend(
            f.derived
                .iter()
                .filter_map(|d| d.dates_file.as_ref().map(PathBuf::from)),
        );
        v
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        [paths::FEATURES, paths::SPLIT, paths::PREPROCESSOR]
            .iter()
            .map(|f| ctx.workdir.join(f))
            .collect()
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        features(ctx, None)
    }
}

/// The whole stage on `data` [default: the ingested dataset].
pub fn features(ctx: &Context, data: Option<&String>) -> Result<Outcome> {
    let data = ctx.workdir.dataset(data)?;
    let df = mlx_data::read_table(&data)?;
    compute(&ctx.config.config, &ctx.workdir, df)
}

fn ttl_ms(view: &FeatureView) -> Result<Option<i64>> {
    view.ttl
        .as_deref()
        .map(|t| {
            Span::parse(t)
                .map(Span::millis)
                .map_err(|m| Error::Usage(format!("view `{}`: `ttl`: {m}", view.name)))
        })
        .transpose()
}

/// A view's roles with the config's defaults; `columns` are the columns of its table.
fn view_data(
    view: &FeatureView,
    cfg: &Config,
    columns: &[String],
    default_features: &[String],
) -> Result<ViewData> {
    let entity = if view.entity.is_empty() {
        cfg.data.entity_columns.clone()
    } else {
        view.entity.clone()
    };
    let timestamp = view
        .timestamp
        .clone()
        .or_else(|| cfg.data.time_column.clone())
        .ok_or_else(|| {
            Error::Usage(format!(
                "view `{}` needs `timestamp` (or `data.time_column`)",
                view.name
            ))
        })?;
    if entity.is_empty() {
        return Err(Error::Usage(format!(
            "view `{}` needs `entity` (or `data.entity_columns`)",
            view.name
        )));
    }
    let features = if view.features.is_empty() {
        default_features
            .iter()
            .filter(|c| !entity.contains(c) && **c != timestamp)
            .cloned()
            .collect()
    } else {
        view.features.clone()
    };
    for c in entity.iter().chain([&timestamp]).chain(&features) {
        if !columns.contains(c) {
            let hint = crate::config::did_you_mean(c, columns.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(Error::Usage(format!(
                "view `{}` names column `{c}`, which its table does not have{hint}",
                view.name
            )));
        }
    }
    Ok(ViewData {
        name: view.name.clone(),
        entity,
        timestamp,
        features,
    })
}

fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

/// Codes of a column's values: in order of first appearance, or in sorted value order.
fn codes(c: &Column, sorted: bool) -> Result<Vec<usize>> {
    let e = |x: PolarsError| Error::Runtime(format!("reading `{}`: {x}", c.name()));
    if c.null_count() > 0 {
        return Err(Error::Usage(format!(
            "`{}` is missing on {} rows, so they cannot be assigned to a split; fill or drop them",
            c.name(),
            c.null_count()
        )));
    }
    let keys: Vec<String> = if c.dtype().is_primitive_numeric() {
        // Sort numbers as numbers: fixed-width keys whose text order is numeric order.
        let s = c.cast(&DataType::Float64).map_err(e)?;
        s.f64()
            .map_err(e)?
            .into_no_null_iter()
            .map(|v| {
                let bits = v.to_bits();
                let ordered = if v.is_sign_negative() {
                    !bits
                } else {
                    bits | (1 << 63)
                };
                format!("{ordered:016x}")
            })
            .collect()
    } else {
        let s = c.cast(&DataType::String).map_err(e)?;
        s.str()
            .map_err(e)?
            .iter()
            .map(|v| v.unwrap_or_default().to_owned())
            .collect()
    };
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    if sorted {
        for k in &keys {
            index.insert(k, 0);
        }
        for (i, v) in index.values_mut().enumerate() {
            *v = i;
        }
    } else {
        for k in &keys {
            let n = index.len();
            index.entry(k).or_insert(n);
        }
    }
    Ok(keys.iter().map(|k| index[k.as_str()]).collect())
}

fn split_rows(df: &DataFrame, cfg: &Config, strategy: SplitStrategy) -> Result<split::Rows> {
    let column = |name: &Option<String>, key: &str| -> Result<&Column> {
        let name = name.as_deref().ok_or_else(|| {
            Error::Usage(format!("a `{}` split needs `{key}`", strategy.as_str()))
        })?;
        df.column(name).map_err(|_| {
            Error::Usage(format!(
                "`{key}: {name}` is not a column of the dataset (columns: {})",
                names(df).join(", ")
            ))
        })
    };
    let mut rows = split::Rows {
        n: df.height(),
        ..Default::default()
    };
    match strategy {
        SplitStrategy::Stratified | SplitStrategy::StratifiedKfold => {
            let target = column(&cfg.data.target, "data.target")?;
            let classes = codes(target, false)?;
            let mut counts: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
            for (row, &c) in classes.iter().enumerate() {
                counts.entry(c).or_insert((0, row)).0 += 1;
            }
            if let Some((_, (_, row))) = counts.iter().find(|(_, (n, _))| *n < 2) {
                let value = target
                    .get(*row)
                    .map(|v| crate::featurestore::key_text(&v))
                    .unwrap_or_default();
                return Err(Error::Usage(format!(
                    "class `{value}` of the target `{}` has a single row, too few to stratify \
                     (each class needs a row on both sides); drop or merge that class, or use \
                     `split.strategy: random`",
                    target.name()
                )));
            }
            rows.classes = Some(classes);
        }
        SplitStrategy::Group | SplitStrategy::GroupKfold => {
            rows.groups = Some(codes(
                column(&cfg.data.group_column, "data.group_column")?,
                true,
            )?);
        }
        s if s.is_temporal() => {
            let t = column(&cfg.data.time_column, "data.time_column")?;
            let ms = t
                .as_materialized_series()
                .clone()
                .into_frame()
                .lazy()
                .select([col(t.name().as_str())
                    .dt()
                    .timestamp(TimeUnit::Milliseconds)])
                .collect()
                .map_err(|e| {
                    Error::Usage(format!(
                        "`data.time_column: {}` must be a date or datetime column: {e}",
                        t.name()
                    ))
                })?;
            let ms = ms.columns()[0]
                .i64()
                .map_err(|e| Error::Runtime(e.to_string()))?
                .clone();
            if ms.null_count() > 0 {
                return Err(Error::Usage(format!(
                    "`{}` is missing on {} rows; a temporal split needs every row's time",
                    t.name(),
                    ms.null_count()
                )));
            }
            rows.times = Some(ms.into_no_null_iter().collect());
        }
        _ => {}
    }
    Ok(rows)
}

fn split_frame(plan: &split::Plan) -> Result<DataFrame> {
    let as_names =
        |v: &[u8]| -> Vec<Option<&'static str>> { v.iter().map(|&c| split::set_name(c)).collect() };
    let mut cols = vec![Column::new("set".into(), as_names(&plan.set))];
    for (k, f) in plan.folds.iter().enumerate() {
        cols.push(Column::new(format!("fold_{k}").into(), as_names(f)));
    }
    DataFrame::new_infer_height(cols).map_err(|e| Error::Runtime(e.to_string()))
}

fn count(v: &[u8], code: u8) -> u64 {
    v.iter().filter(|&&c| c == code).count() as u64
}

/// `mlx-features compute`: the config's derived features on any table (no split, no
/// store), written to `out`.
pub fn compute_file(cfg: &Config, data: &Path, out: &Path) -> Result<Standalone> {
    let data = data.to_path_buf();
    if !data.exists() {
        return Err(Error::Usage(format!("{} does not exist", data.display())));
    }
    let roles = Roles {
        time: cfg.data.time_column.as_deref(),
        entities: &cfg.data.entity_columns,
        target: cfg.data.target.as_deref(),
    };
    let started = std::time::Instant::now();
    let df = mlx_data::read_table(&data)?;
    tracing::debug!("read {} rows in {:?}", df.height(), started.elapsed());
    let started = std::time::Instant::now();
    let mut derived = derive::derive(
        df,
        &cfg.features.derived,
        &roles,
        cfg.features.incomplete_rows,
    )?;
    tracing::debug!("derived features in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let out = out.to_path_buf();
    write_parquet(&out, &mut derived.df)?;
    tracing::debug!("wrote {} in {:?}", out.display(), started.elapsed());
    let mut human = format!(
        "{} rows ({} dropped), {} derived columns -> {}",
        derived.df.height(),
        derived.dropped,
        derived.columns.len(),
        out.display()
    );
    for w in &derived.warnings {
        human.push_str(&format!("\nwarning: {w}"));
    }
    Ok(Standalone {
        status: Status::Passed,
        human,
        json: serde_json::json!({
            "rows": derived.df.height(), "dropped": derived.dropped,
            "derived": derived.columns, "warnings": derived.warnings,
            "out": out.display().to_string(),
        }),
    })
}

/// The whole stage on an in-memory dataset.
pub fn compute(cfg: &Config, workdir: &Workdir, df: DataFrame) -> Result<Outcome> {
    let rows_in = df.height() as u64;
    let f = &cfg.features;
    let offline = Offline::open(&offline_uri(cfg, workdir), cfg.features.store.format)?;
    let roles = Roles {
        time: cfg.data.time_column.as_deref(),
        entities: &cfg.data.entity_columns,
        target: cfg.data.target.as_deref(),
    };
    if let Some(t) = &cfg.data.target {
        if df.column(t.as_str()).is_err() {
            return Err(Error::Usage(format!(
                "`data.target: {t}` is not a column of the dataset (columns: {})",
                names(&df).join(", ")
            )));
        }
    }

    // Feature views with a source: version them, join them point in time.
    let (df, mut views, mut outputs) = join_views(cfg, &offline, df)?;

    let derived = derive::derive(df, &f.derived, &roles, f.incomplete_rows)?;
    let mut df = derived.df;
    if df.height() == 0 {
        return Err(Error::Usage(format!(
            "no rows are left after dropping the {} rows with missing lag or window features; \
             use shorter windows or `features.incomplete_rows: keep`",
            derived.dropped
        )));
    }

    // Views without a source publish this dataset's derived features.
    for view in f.store.views.iter().filter(|v| v.source.is_none()) {
        let cols = names(&df);
        let derived_names: Vec<String> = derived.columns.iter().map(|c| c.name.clone()).collect();
        let data = view_data(view, cfg, &cols, &derived_names)?;
        let written = offline.write(&data, &df)?;
        let version = written.version;
        outputs.extend(offline.local_file(&data.name, &version.version));
        views.push(ViewReport {
            name: view.name.clone(),
            version: version.version,
            rows: version.rows,
            joined: false,
            unmatched: 0,
            delta_version: written.delta_version,
        });
    }

    let features_path = workdir.join(paths::FEATURES);
    write_parquet(&features_path, &mut df)?;

    // The split.
    let strategy = cfg.split.strategy.unwrap_or(SplitStrategy::Random);
    let seed = cfg.split.seed.unwrap_or(cfg.training.seed);
    let rows = split_rows(&df, cfg, strategy)?;
    let plan = split::plan(&cfg.split, strategy, &rows, seed)?;
    write_parquet(&workdir.join(paths::SPLIT), &mut split_frame(&plan)?)?;
    let summary = split_summary(&plan, strategy, seed);

    // The preprocessing, fitted on the training rows only.
    let mask = BooleanChunked::from_iter_values(
        "train".into(),
        plan.set.iter().map(|&c| c == split::TRAIN),
    );
    let train = df
        .filter(&mask)
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let (pre, _, notes) = fit_preprocessor(cfg, &train, seed)?;
    debug_assert_eq!(pre.schema_version, PREPROCESSOR_VERSION);
    let pre_path = workdir.join(paths::PREPROCESSOR);
    atomic_write(&pre_path, crate::json::pretty_bare(&pre)?.as_bytes())
        .with_path("writing", &pre_path)?;

    let report = FeaturesReport {
        schema_version: FEATURES_REPORT_VERSION,
        rows_in,
        rows_out: df.height() as u64,
        rows_dropped: derived.dropped,
        derived: derived.columns,
        views,
        split: summary,
        inputs: pre.inputs.iter().map(|i| i.name.clone()).collect(),
        outputs: pre.outputs.clone(),
        warnings: derived.warnings,
        notes,
    };
    let status = if report.warnings.is_empty() {
        Status::Passed
    } else {
        Status::Warned
    };
    let folds = if report.split.folds.is_empty() {
        String::new()
    } else {
        format!(", {} folds", report.split.folds.len())
    };
    let mut o = Outcome::with_status(
        status,
        format!(
            "{} rows ({} dropped), {} derived feature{}, {} model inputs; {} split: {} train / {} validation / {} test{folds}",
            report.rows_out,
            report.rows_dropped,
            report.derived.len(),
            if report.derived.len() == 1 { "" } else { "s" },
            report.outputs.len(),
            strategy.as_str(),
            report.split.train,
            report.split.validation,
            report.split.test,
        ),
    );
    for w in &report.warnings {
        o.summary.push_str(&format!("\nwarning: {w}"));
    }
    for n in &report.notes {
        o.summary.push_str(&format!("\nnote: {n}"));
    }
    o.outputs_kv
        .insert("rows".into(), report.rows_out.to_string());
    o.outputs_kv
        .insert("train_rows".into(), report.split.train.to_string());
    o.outputs_kv
        .insert("test_rows".into(), report.split.test.to_string());
    o.extra_outputs = outputs;
    o.report_md = Some(markdown(&report));
    o.details = crate::json::value(&report)?;
    Ok(o)
}

/// Joins every feature view with a source to the dataset, point in time, after writing
/// the view's version to the offline store; returns the joined rows, the views' reports
/// and the files written.
fn join_views(
    cfg: &Config,
    offline: &Offline,
    df: DataFrame,
) -> Result<(DataFrame, Vec<ViewReport>, Vec<PathBuf>)> {
    let mut df = df;
    let mut views = Vec::new();
    let mut outputs = Vec::new();
    for view in cfg
        .features
        .store
        .views
        .iter()
        .filter(|v| v.source.is_some())
    {
        let source = PathBuf::from(view.source.clone().unwrap_or_default());
        if !source.exists() {
            return Err(Error::Usage(format!(
                "view `{}`: source {} does not exist",
                view.name,
                source.display()
            )));
        }
        let table = mlx_data::read_table(&source)?;
        let cols = names(&table);
        let data = view_data(view, cfg, &cols, &cols)?;
        let written = offline.write(&data, &table)?;
        let version = written.version;
        let label_time = cfg.data.time_column.as_deref().ok_or_else(|| {
            Error::Usage(format!(
                "joining view `{}` needs `data.time_column`: the time of each row, at which \
                 feature values are looked up",
                view.name
            ))
        })?;
        for k in &data.entity {
            if df.column(k.as_str()).is_err() {
                return Err(Error::Usage(format!(
                    "view `{}` is keyed by `{k}`, which the dataset does not have",
                    view.name
                )));
            }
        }
        let before = df.height();
        df = crate::featurestore::pit_join(
            &df,
            &data.entity,
            label_time,
            &table,
            &data.entity,
            &data.timestamp,
            &data.features,
            ttl_ms(view)?,
        )?;
        debug_assert_eq!(before, df.height());
        let unmatched = data
            .features
            .first()
            .and_then(|c| df.column(c.as_str()).ok())
            .map_or(0, |c| c.null_count() as u64);
        outputs.extend(offline.local_file(&data.name, &version.version));
        views.push(ViewReport {
            name: view.name.clone(),
            version: version.version,
            rows: version.rows,
            joined: true,
            unmatched,
            delta_version: written.delta_version,
        });
    }
    Ok((df, views, outputs))
}

/// How many rows each set and each fold of a split holds.
fn split_summary(plan: &split::Plan, strategy: SplitStrategy, seed: u64) -> SplitSummary {
    SplitSummary {
        strategy,
        train: count(&plan.set, split::TRAIN),
        validation: count(&plan.set, split::VALIDATION),
        test: count(&plan.set, split::TEST),
        folds: plan
            .folds
            .iter()
            .map(|fold| FoldSummary {
                train: count(fold, split::TRAIN),
                validation: count(fold, split::VALIDATION),
            })
            .collect(),
        seed,
    }
}

/// The step summary / PR comment section.
fn markdown(r: &FeaturesReport) -> String {
    let mut md = format!(
        "### Features\n\n{} rows ({} dropped for missing lags or windows), {} derived \
         feature{}, {} model inputs.\n\n| set | rows |\n|---|---:|\n| train | {} |\n| \
         validation | {} |\n| test | {} |\n",
        r.rows_out,
        r.rows_dropped,
        r.derived.len(),
        if r.derived.len() == 1 { "" } else { "s" },
        r.outputs.len(),
        r.split.train,
        r.split.validation,
        r.split.test
    );
    if !r.split.folds.is_empty() {
        md.push_str(&format!(
            "\n{} folds (`{}`): training rows {}\n",
            r.split.folds.len(),
            r.split.strategy.as_str(),
            r.split
                .folds
                .iter()
                .map(|f| f.train.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for v in &r.views {
        md.push_str(&format!(
            "\nView `{}`: version `{}`{}, {} rows{}\n",
            v.name,
            &v.version[..12.min(v.version.len())],
            v.delta_version
                .map_or(String::new(), |d| format!(" (Delta table version {d})")),
            v.rows,
            if v.joined {
                format!(", {} dataset rows without a value in time", v.unmatched)
            } else {
                String::new()
            }
        ));
    }
    for w in &r.warnings {
        md.push_str(&format!("\n> **Warning:** {w}\n"));
    }
    for n in &r.notes {
        md.push_str(&format!("\n> **Note:** {}\n", crate::markdown::escape(n)));
    }
    md
}

fn parse_time(text: &str) -> Result<i64> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(23, 59, 59)
            .map_or(0, |d| d.and_utc().timestamp_millis() + 999));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| d.timestamp_millis())
        .map_err(|_| {
            Error::Usage(format!(
                "`{text}` is not a time; write YYYY-MM-DD or RFC 3339"
            ))
        })
}

fn selected_views<'a>(cfg: &'a Config, wanted: &[String]) -> Result<Vec<&'a FeatureView>> {
    let all = &cfg.features.store.views;
    if all.is_empty() {
        return Err(Error::Usage(
            "no feature views in `features.store.views`; declare one (name, entity, timestamp, features)".into(),
        ));
    }
    if wanted.is_empty() {
        return Ok(all.iter().collect());
    }
    wanted
        .iter()
        .map(|w| {
            all.iter().find(|v| &v.name == w).ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|v| v.name.as_str()).collect();
                Error::Usage(format!("no view `{w}`; the views are {}", known.join(", ")))
            })
        })
        .collect()
}

/// `mlx-features materialize`: the latest feature values per entity of `views` [default:
/// every view], at or before `as_of`, written to the online store.
pub fn materialize(
    cfg: &Config,
    workdir: &Workdir,
    wanted: &[String],
    as_of: Option<&str>,
) -> Result<Standalone> {
    let wanted = wanted.to_vec();
    let as_of = as_of.map(parse_time).transpose()?;
    let offline = Offline::open(&offline_uri(cfg, workdir), cfg.features.store.format)?;
    let uri = online_uri(cfg, workdir);
    let mut online = crate::featurestore::open_online(&uri)?;
    let mut lines = Vec::new();
    let mut json = Vec::new();
    for view in selected_views(cfg, &wanted)? {
        let version = offline.latest(&view.name)?;
        let df = offline.read(&version)?;
        let records = crate::featurestore::latest_records(&version, &df, as_of, ttl_ms(view)?)?;
        online.write(&records)?;
        lines.push(format!(
            "view {}: {} entities from version {} into {}",
            view.name,
            records.len(),
            &version.version[..12.min(version.version.len())],
            crate::config::interpolate::mask(&uri, &[])
        ));
        json.push(serde_json::json!({
            "view": view.name, "version": version.version, "entities": records.len(),
        }));
    }
    Ok(Standalone {
        status: Status::Passed,
        human: lines.join("\n"),
        json: serde_json::json!({ "online": crate::config::interpolate::mask(&uri, &[]), "views": json }),
    })
}

/// Parses `--entity`: `42`, `a,b` (values in key order) or `col=v,col2=w`.
fn entity_values(text: &str, keys: &[String]) -> Result<Vec<String>> {
    if keys.len() == 1 && !text.contains('=') {
        return Ok(vec![text.to_string()]);
    }
    let parts: Vec<&str> = text.split(',').collect();
    if parts.iter().all(|p| p.contains('=')) {
        let pairs: BTreeMap<&str, &str> = parts
            .iter()
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v))
            .collect();
        return keys
            .iter()
            .map(|k| {
                pairs.get(k.as_str()).map(|v| v.to_string()).ok_or_else(|| {
                    Error::Usage(format!("--entity has no value for key column `{k}`"))
                })
            })
            .collect();
    }
    if parts.len() != keys.len() {
        return Err(Error::Usage(format!(
            "--entity `{text}` has {} values, but the key is {} columns ({}); write COL=VALUE pairs",
            parts.len(),
            keys.len(),
            keys.join(", ")
        )));
    }
    Ok(parts.into_iter().map(str::to_owned).collect())
}

/// `mlx-features get`: an entity's latest feature values from the online store, from
/// `view` [default: every view]; `key` is a value or `COLUMN=VALUE` pairs.
pub fn get(cfg: &Config, workdir: &Workdir, key: &str, view: Option<&str>) -> Result<Standalone> {
    let key = key.to_string();
    let wanted: Vec<String> = view.map(str::to_string).into_iter().collect();
    let uri = online_uri(cfg, workdir);
    let mut online = crate::featurestore::open_online(&uri)?;
    let mut found = serde_json::Map::new();
    let mut lines = Vec::new();
    for view in selected_views(cfg, &wanted)? {
        let keys = if view.entity.is_empty() {
            cfg.data.entity_columns.clone()
        } else {
            view.entity.clone()
        };
        let values = entity_values(&key, &keys)?;
        match online.read(&view.name, &values)? {
            Some(r) => {
                lines.push(format!("view {} (as of {}):", view.name, r.event_time));
                for (k, v) in &r.features {
                    lines.push(format!("  {k} = {v}"));
                }
                found.insert(view.name.clone(), crate::json::value(&r)?);
            }
            None => {
                lines.push(format!("view {}: no values for {key}", view.name));
                found.insert(view.name.clone(), serde_json::Value::Null);
            }
        }
    }
    let any = found.values().any(|v| !v.is_null());
    if !any {
        lines.push(
            "nothing found; run `mlx-features materialize` after `mlx-features` if the entity exists".into(),
        );
    }
    Ok(Standalone {
        status: if any { Status::Passed } else { Status::Failed },
        human: lines.join("\n"),
        json: serde_json::Value::Object(found),
    })
}

/// What `mlx-features join` joins.
#[derive(Debug, Clone)]
pub struct JoinFiles {
    /// Label rows (entity key, timestamp, ...).
    pub labels: PathBuf,
    /// Feature rows (entity key, timestamp, features).
    pub features: PathBuf,
    /// Entity key columns (in both files).
    pub entity: Vec<String>,
    /// The labels' event-time column.
    pub timestamp: String,
    /// The features' event-time column [default: `timestamp`].
    pub feature_timestamp: Option<String>,
    /// Feature columns [default: every other column of the features].
    pub columns: Option<Vec<String>>,
    /// Feature rows older than this at the label's time are ignored (`30d`, `12h`).
    pub ttl: Option<String>,
    /// The Parquet file written.
    pub out: PathBuf,
}

/// `mlx-features join`: a point-in-time join of a label table and a feature table,
/// without a config, as Feast's `get_historical_features`.
pub fn join_files(o: &JoinFiles) -> Result<Standalone> {
    let labels_path = o.labels.clone();
    let features_path = o.features.clone();
    for p in [&labels_path, &features_path] {
        if !p.exists() {
            return Err(Error::Usage(format!("{} does not exist", p.display())));
        }
    }
    let labels = mlx_data::read_table(&labels_path)?;
    let features = mlx_data::read_table(&features_path)?;
    let entity = o.entity.clone();
    let time = o.timestamp.clone();
    let ftime = o.feature_timestamp.clone().unwrap_or_else(|| time.clone());
    let columns: Vec<String> = match &o.columns {
        Some(v) => v.clone(),
        None => names(&features)
            .into_iter()
            .filter(|c| !entity.contains(c) && *c != ftime)
            .collect(),
    };
    for (what, df, cols) in [
        (
            "--labels",
            &labels,
            entity.iter().chain([&time]).collect::<Vec<_>>(),
        ),
        (
            "--features",
            &features,
            entity.iter().chain([&ftime]).chain(&columns).collect(),
        ),
    ] {
        for c in cols {
            if df.column(c.as_str()).is_err() {
                return Err(Error::Usage(format!(
                    "{what} has no column `{c}` (columns: {})",
                    names(df).join(", ")
                )));
            }
        }
    }
    let ttl = o
        .ttl
        .as_deref()
        .map(|t| {
            Span::parse(t)
                .map(Span::millis)
                .map_err(|m| Error::Usage(format!("--ttl: {m}")))
        })
        .transpose()?;
    let mut out = crate::featurestore::pit_join(
        &labels, &entity, &time, &features, &entity, &ftime, &columns, ttl,
    )?;
    let out_path = o.out.clone();
    write_parquet(&out_path, &mut out)?;
    let unmatched = columns
        .first()
        .and_then(|c| out.column(c.as_str()).ok())
        .map_or(0, |c| c.null_count());
    Ok(Standalone {
        status: Status::Passed,
        human: format!(
            "joined {} feature columns onto {} label rows ({} without a feature row in time) -> {}",
            columns.len(),
            out.height(),
            unmatched,
            out_path.display()
        ),
        json: serde_json::json!({
            "rows": out.height(), "columns": columns, "unmatched": unmatched,
            "out": out_path.display().to_string(),
        }),
    })
}

/// Reads the fitted preprocessing a features run wrote.
pub fn load_preprocessor(path: &Path) -> Result<Preprocessor> {
    let text = std::fs::read_to_string(path).with_path("reading", path)?;
    mlx_contracts::parse_versioned(&text, "preprocessor", PREPROCESSOR_VERSION).map_err(|source| {
        Error::Contract {
            path: path.display().to_string(),
            source,
        }
    })
}
