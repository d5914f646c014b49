//! Per-column and dataset drift: which statistic decides, with which bins and
//! threshold. The statistics themselves are `mlx_stats`'.
//!
//! `method: auto` follows Evidently's `DataDriftPreset` defaults:
//! - numeric columns with more than 5 distinct values (over both samples): the KS test
//!   (p-value below `p_value`) up to 1000 reference values, above that the normed
//!   Wasserstein distance (at or above `distance_threshold`);
//! - other columns, compared as categories: the z-test for two categories or the
//!   chi-square test for more (p-value below `p_value`) up to 1000 reference values,
//!   above that the Jensen-Shannon distance (at or above `distance_threshold`).
//!
//! PSI is computed for every column as well: the design documents read it as below
//! `psi_warn` (0.1) stable, up to `psi_fail` (0.25) moderate, above significant. A
//! moderate or significant PSI marks the column `warned` even when the deciding test
//! does not flag it; with `method: psi` a significant PSI is the drift verdict.
//!
//! Bins for PSI, KL and JS: the reference's deciles (`psi_bins: quantile`, default)
//! or Evidently's Sturges bins (`psi_bins: sturges`), where, as in Evidently, a numeric
//! column with at most 20 distinct reference values is binned by value instead.

use std::collections::{BTreeMap, BTreeSet};

use mlx_contracts::config::{Drift, DriftMethod, PsiBins};
use mlx_contracts::validate::{ColumnDrift, ColumnKind, DriftReport, Histogram};
use mlx_contracts::Status;
use mlx_stats::binning::{
    fill_zeros, histogram, proportions, quantile_counts, quantile_edges, sturges_edges,
};

/// The values of one column on one side, nulls removed.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Sorted ascending, NaN removed.
    Numeric(Vec<f64>),
    /// Count per category (its text form).
    Categorical(BTreeMap<String, u64>),
}

impl ColumnValues {
    /// Number of non-null values.
    pub fn count(&self) -> u64 {
        match self {
            ColumnValues::Numeric(v) => v.len() as u64,
            ColumnValues::Categorical(m) => m.values().sum(),
        }
    }

    fn kind(&self) -> ColumnKind {
        match self {
            ColumnValues::Numeric(_) => ColumnKind::Numeric,
            ColumnValues::Categorical(_) => ColumnKind::Categorical,
        }
    }

    /// Numbers as categories (their shortest round-trip text), for value binning.
    fn as_categories(&self) -> BTreeMap<String, u64> {
        match self {
            ColumnValues::Categorical(m) => m.clone(),
            ColumnValues::Numeric(v) => {
                let mut m = BTreeMap::new();
                for x in v {
                    *m.entry(number_key(*x)).or_insert(0) += 1;
                }
                m
            }
        }
    }
}

/// Text key of a number used as a category; integers print without a fraction.
fn number_key(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Why a column cannot be compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DriftError {
    /// One side has no non-null value.
    #[error("column `{column}` has no non-null values in the {side} data")]
    Empty {
        /// Column.
        column: String,
        /// `reference` or `current`.
        side: &'static str,
    },
    /// The method does not apply to the column's kind.
    #[error("column `{column}`: `{method}` needs {needs} data")]
    MethodMismatch {
        /// Column.
        column: String,
        /// Method name.
        method: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// One side is numeric, the other not.
    #[error("column `{column}` is numeric on one side and not on the other; cast it to one type in both files")]
    KindMismatch {
        /// Column.
        column: String,
    },
}

/// The config name of a method.
pub fn method_name(m: DriftMethod) -> &'static str {
    match m {
        DriftMethod::Auto => "auto",
        DriftMethod::Psi => "psi",
        DriftMethod::Kl => "kl",
        DriftMethod::Js => "js",
        DriftMethod::Wasserstein => "wasserstein",
        DriftMethod::Ks => "ks",
        DriftMethod::Chi2 => "chi2",
        DriftMethod::Ztest => "ztest",
    }
}

fn distinct_at_most(sorted: &[f64], limit: usize) -> usize {
    let mut n = 0;
    let mut last = None;
    for &x in sorted {
        if last != Some(x) {
            n += 1;
            last = Some(x);
            if n > limit {
                break;
            }
        }
    }
    n
}

/// Distinct values of two sorted samples together, counting at most `limit + 1`.
fn distinct_union_at_most(a: &[f64], b: &[f64], limit: usize) -> usize {
    distinct_at_most(&mlx_stats::wasserstein::merge(a, b), limit)
}

/// Resolves `auto` for a column, as Evidently does: the number of distinct values is
/// counted over both samples, the size over the reference.
fn resolve_method(
    method: DriftMethod,
    reference: &ColumnValues,
    current: &ColumnValues,
) -> DriftMethod {
    if method != DriftMethod::Auto {
        return method;
    }
    let small = reference.count() <= 1000;
    if let (ColumnValues::Numeric(r), ColumnValues::Numeric(c)) = (reference, current) {
        if distinct_union_at_most(r, c, 5) > 5 {
            return if small {
                DriftMethod::Ks
            } else {
                DriftMethod::Wasserstein
            };
        }
    }
    let mut keys: BTreeSet<String> = reference.as_categories().into_keys().collect();
    keys.extend(current.as_categories().into_keys());
    if !small {
        DriftMethod::Js
    } else if keys.len() <= 2 {
        DriftMethod::Ztest
    } else {
        DriftMethod::Chi2
    }
}

/// Compares one column.
pub fn column_drift(
    column: &str,
    reference: &ColumnValues,
    current: &ColumnValues,
    method: DriftMethod,
    cfg: &Drift,
) -> Result<ColumnDrift, DriftError> {
    if reference.kind() != current.kind() {
        return Err(DriftError::KindMismatch {
            column: column.to_owned(),
        });
    }
    for (side, v) in [("reference", reference), ("current", current)] {
        if v.count() == 0 {
            return Err(DriftError::Empty {
                column: column.to_owned(),
                side,
            });
        }
    }
    let resolved = resolve_method(method, reference, current);
    // `auto` compares numbers with few distinct values as categories.
    let as_categories = method == DriftMethod::Auto
        && reference.kind() == ColumnKind::Numeric
        && matches!(
            resolved,
            DriftMethod::Chi2 | DriftMethod::Ztest | DriftMethod::Js
        );
    let (reference, current) = if as_categories {
        (
            &ColumnValues::Categorical(reference.as_categories()),
            &ColumnValues::Categorical(current.as_categories()),
        )
    } else {
        (reference, current)
    };
    let method = resolved;
    let mut stats = BTreeMap::new();

    // Binned comparison: PSI always, KL and JS on the same bins.
    let bins = binned(reference, current, cfg);
    let (mut rp, mut cp) = (bins.reference.clone(), bins.current.clone());
    fill_zeros(&mut rp);
    fill_zeros(&mut cp);
    let psi = mlx_stats::psi(&rp, &cp);
    stats.insert("psi".to_owned(), psi);
    stats.insert("kl".to_owned(), mlx_stats::kl_divergence(&rp, &cp));
    stats.insert(
        "js".to_owned(),
        mlx_stats::js_distance(&bins.reference, &bins.current),
    );

    match (reference, current) {
        (ColumnValues::Numeric(r), ColumnValues::Numeric(c)) => {
            let ks = mlx_stats::ks_2samp_sorted(r, c);
            stats.insert("ks_statistic".to_owned(), ks.statistic);
            stats.insert("ks_p_value".to_owned(), ks.p_value);
            stats.insert(
                "wasserstein".to_owned(),
                mlx_stats::wasserstein_normed_sorted(r, c),
            );
        }
        _ => {
            let (rc, cc) = (reference.as_categories(), current.as_categories());
            let keys: BTreeSet<&String> = rc.keys().chain(cc.keys()).collect();
            let mut table: Vec<u64> = keys
                .iter()
                .map(|k| rc.get(*k).copied().unwrap_or(0))
                .collect();
            table.extend(keys.iter().map(|k| cc.get(*k).copied().unwrap_or(0)));
            if let Some(chi) = mlx_stats::chi2_contingency(&table, 2) {
                stats.insert("chi2_statistic".to_owned(), chi.statistic);
                stats.insert("chi2_p_value".to_owned(), chi.p_value);
            }
            if keys.len() == 2 {
                // The first key in sorted order counts as 0, the other as 1 (Evidently).
                let second = keys.iter().nth(1).copied();
                let ones =
                    |m: &BTreeMap<String, u64>| second.and_then(|k| m.get(k)).copied().unwrap_or(0);
                stats.insert(
                    "ztest_p_value".to_owned(),
                    mlx_stats::ztest_proportions(
                        ones(&rc),
                        reference.count(),
                        ones(&cc),
                        current.count(),
                    ),
                );
            }
        }
    }

    verdict(
        column,
        reference.kind(),
        method,
        stats,
        bins,
        (reference.count(), current.count()),
        cfg,
    )
}

/// The deciding statistic of `method` among `stats`, its threshold and the column's
/// status; shared by every way of computing the statistics.
fn verdict(
    column: &str,
    kind: ColumnKind,
    method: DriftMethod,
    stats: BTreeMap<String, f64>,
    bins: Histogram,
    (reference_count, current_count): (u64, u64),
    cfg: &Drift,
) -> Result<ColumnDrift, DriftError> {
    let psi = stats["psi"];
    let kind_needed = |needs: &'static str| DriftError::MethodMismatch {
        column: column.to_owned(),
        method: method_name(method),
        needs,
    };
    let (value, threshold, drifted) = match method {
        DriftMethod::Psi => (psi, cfg.psi_fail, psi > cfg.psi_fail),
        DriftMethod::Kl | DriftMethod::Js => {
            let v = stats[if method == DriftMethod::Kl {
                "kl"
            } else {
                "js"
            }];
            (v, cfg.distance_threshold, v >= cfg.distance_threshold)
        }
        DriftMethod::Wasserstein => {
            let v = *stats
                .get("wasserstein")
                .ok_or_else(|| kind_needed("numeric"))?;
            (v, cfg.distance_threshold, v >= cfg.distance_threshold)
        }
        DriftMethod::Ks => {
            let p = *stats
                .get("ks_p_value")
                .ok_or_else(|| kind_needed("numeric"))?;
            (p, cfg.p_value, p < cfg.p_value)
        }
        DriftMethod::Chi2 => {
            let p = *stats
                .get("chi2_p_value")
                .ok_or_else(|| kind_needed("categorical"))?;
            (p, cfg.p_value, p < cfg.p_value)
        }
        DriftMethod::Ztest => {
            let p = *stats
                .get("ztest_p_value")
                .ok_or_else(|| kind_needed("two-category"))?;
            (p, cfg.p_value, p < cfg.p_value)
        }
        DriftMethod::Auto => unreachable!("resolved above"),
    };
    let status = if drifted || psi >= cfg.psi_warn {
        Status::Warned
    } else {
        Status::Passed
    };
    Ok(ColumnDrift {
        column: column.to_owned(),
        kind,
        method,
        value,
        threshold,
        drifted,
        status,
        reference_count,
        current_count,
        statistics: stats,
        histogram: bins,
    })
}

/// Proportions per bin (before zero filling), with labels.
fn binned(reference: &ColumnValues, current: &ColumnValues, cfg: &Drift) -> Histogram {
    let by_value = match (reference, cfg.psi_bins) {
        (ColumnValues::Categorical(_), _) => true,
        (ColumnValues::Numeric(r), PsiBins::Sturges) => distinct_at_most(r, 20) <= 20,
        (ColumnValues::Numeric(_), PsiBins::Quantile) => false,
    };
    if by_value {
        return value_histogram(&reference.as_categories(), &current.as_categories());
    }
    let (ColumnValues::Numeric(r), ColumnValues::Numeric(c)) = (reference, current) else {
        unreachable!("kinds checked by the caller")
    };
    match cfg.psi_bins {
        PsiBins::Quantile => {
            let edges = quantile_edges(r, cfg.bins as usize);
            Histogram {
                labels: quantile_labels(&edges),
                reference: proportions(&quantile_counts(r, &edges), r.len()),
                current: proportions(&quantile_counts(c, &edges), c.len()),
            }
        }
        PsiBins::Sturges => {
            let edges = sturges_edges(r, c);
            Histogram {
                labels: sturges_labels(&edges),
                reference: proportions(&histogram(r, &edges), r.len()),
                current: proportions(&histogram(c, &edges), c.len()),
            }
        }
    }
}

/// One bin per value of either side.
fn value_histogram(rc: &BTreeMap<String, u64>, cc: &BTreeMap<String, u64>) -> Histogram {
    let keys: BTreeSet<&String> = rc.keys().chain(cc.keys()).collect();
    let (nr, nc) = (
        rc.values().sum::<u64>() as f64,
        cc.values().sum::<u64>() as f64,
    );
    Histogram {
        labels: keys.iter().map(|k| (*k).clone()).collect(),
        reference: keys
            .iter()
            .map(|k| rc.get(*k).copied().unwrap_or(0) as f64 / nr)
            .collect(),
        current: keys
            .iter()
            .map(|k| cc.get(*k).copied().unwrap_or(0) as f64 / nc)
            .collect(),
    }
}

fn quantile_labels(edges: &[f64]) -> Vec<String> {
    let mut labels = Vec::with_capacity(edges.len() + 1);
    let mut lo = "-inf".to_owned();
    for e in edges {
        labels.push(format!("({lo}, {}]", short(*e)));
        lo = short(*e);
    }
    labels.push(format!("({lo}, inf)"));
    labels
}

fn sturges_labels(edges: &[f64]) -> Vec<String> {
    edges
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let close = if i + 2 == edges.len() { "]" } else { ")" };
            format!("[{}, {}{close}", short(w[0]), short(w[1]))
        })
        .collect()
}

/// What the drift of a numeric column needs from its two samples when they are too
/// big to bring here: computed where the data is (`validate::spark`), each part exact
/// except the two sums marked below.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericSummary {
    /// Non-null, non-NaN values of the reference.
    pub reference_count: u64,
    /// Non-null, non-NaN values of the current data.
    pub current_count: u64,
    /// Distinct values of both samples together, counted up to 6 (`auto` compares a
    /// column with at most 5 as categories).
    pub union_distinct: u64,
    /// Distinct reference values, counted up to 21 (Sturges bins by value at 20).
    pub reference_distinct: u64,
    /// The count of each value on each side (keys as [`number_key`]), where the bins
    /// or the method go by value; `None` otherwise.
    pub by_value: Option<(BTreeMap<String, u64>, BTreeMap<String, u64>)>,
    /// The bin edges (the reference's quantile edges, or the Sturges edges) and the
    /// counts per bin on each side, as [`binned`] forms them.
    pub bins: (Vec<f64>, Vec<u64>, Vec<u64>),
    /// The largest and the smallest `F_reference - F_current` over the pooled values:
    /// what the KS test depends on.
    pub ks_extremes: (f64, f64),
    /// `Σ |F_reference - F_current| Δx` over the pooled values (a sum: equal to the
    /// local engine's up to the order of summation).
    pub wasserstein: f64,
    /// The reference's population standard deviation (a sum, as above).
    pub reference_std: f64,
}

/// Text key of a number used as a category, as the local engine forms it.
pub fn value_key(x: f64) -> String {
    number_key(x)
}

/// Compares one numeric column from its [`NumericSummary`]: the same statistics,
/// bins, method and verdict as [`column_drift`] on the two samples themselves.
pub fn numeric_drift(
    column: &str,
    s: &NumericSummary,
    method: DriftMethod,
    cfg: &Drift,
) -> Result<ColumnDrift, DriftError> {
    for (side, n) in [
        ("reference", s.reference_count),
        ("current", s.current_count),
    ] {
        if n == 0 {
            return Err(DriftError::Empty {
                column: column.to_owned(),
                side,
            });
        }
    }
    if method == DriftMethod::Auto && s.union_distinct <= 5 {
        // Few distinct values: compared as categories, exactly as locally.
        let (r, c) = s.by_value.clone().unwrap_or_default();
        return column_drift(
            column,
            &ColumnValues::Categorical(r),
            &ColumnValues::Categorical(c),
            method,
            cfg,
        );
    }
    let method = match method {
        DriftMethod::Auto if s.reference_count <= 1000 => DriftMethod::Ks,
        DriftMethod::Auto => DriftMethod::Wasserstein,
        m => m,
    };
    let by_value = cfg.psi_bins == PsiBins::Sturges && s.reference_distinct <= 20;
    let bins = match (&s.by_value, by_value) {
        (Some((r, c)), true) => value_histogram(r, c),
        _ => {
            let (edges, r, c) = &s.bins;
            Histogram {
                labels: match cfg.psi_bins {
                    PsiBins::Quantile => quantile_labels(edges),
                    PsiBins::Sturges => sturges_labels(edges),
                },
                reference: proportions(r, s.reference_count as usize),
                current: proportions(c, s.current_count as usize),
            }
        }
    };
    let mut stats = BTreeMap::new();
    let (mut rp, mut cp) = (bins.reference.clone(), bins.current.clone());
    fill_zeros(&mut rp);
    fill_zeros(&mut cp);
    stats.insert("psi".to_owned(), mlx_stats::psi(&rp, &cp));
    stats.insert("kl".to_owned(), mlx_stats::kl_divergence(&rp, &cp));
    stats.insert(
        "js".to_owned(),
        mlx_stats::js_distance(&bins.reference, &bins.current),
    );
    let ks = mlx_stats::ks_2samp_from_extremes(
        s.ks_extremes.0,
        s.ks_extremes.1,
        s.reference_count as usize,
        s.current_count as usize,
    );
    stats.insert("ks_statistic".to_owned(), ks.statistic);
    stats.insert("ks_p_value".to_owned(), ks.p_value);
    stats.insert(
        "wasserstein".to_owned(),
        s.wasserstein / s.reference_std.max(0.001),
    );
    verdict(
        column,
        ColumnKind::Numeric,
        method,
        stats,
        bins,
        (s.reference_count, s.current_count),
        cfg,
    )
}

fn short(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_owned()
    }
}

/// The dataset verdict over compared columns.
pub fn dataset_drift(columns: Vec<ColumnDrift>, cfg: &Drift) -> DriftReport {
    let drifted = columns.iter().filter(|c| c.drifted).count() as u64;
    let share = if columns.is_empty() {
        0.0
    } else {
        drifted as f64 / columns.len() as f64
    };
    DriftReport {
        dataset_drift: !columns.is_empty() && share >= cfg.dataset_drift_share,
        columns,
        drifted_columns: drifted,
        drift_share: share,
        drift_share_threshold: cfg.dataset_drift_share,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(v: &[f64]) -> ColumnValues {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        ColumnValues::Numeric(v)
    }

    #[test]
    fn auto_picks_the_method_by_kind_and_size() {
        let cfg = Drift::default();
        let many: Vec<f64> = (0..100).map(f64::from).collect();
        let d = column_drift(
            "x",
            &numeric(&many),
            &numeric(&many),
            DriftMethod::Auto,
            &cfg,
        )
        .unwrap();
        assert_eq!(d.method, DriftMethod::Ks);
        assert!(!d.drifted);
        assert_eq!(d.value, 1.0);
        let big: Vec<f64> = (0..2000).map(|i| f64::from(i % 97)).collect();
        let d = column_drift("x", &numeric(&big), &numeric(&big), DriftMethod::Auto, &cfg).unwrap();
        assert_eq!(d.method, DriftMethod::Wasserstein);
        // Few distinct values: compared as categories.
        let few = numeric(&[0.0, 1.0, 1.0, 0.0, 1.0]);
        let d = column_drift("flag", &few, &few, DriftMethod::Auto, &cfg).unwrap();
        assert_eq!(d.method, DriftMethod::Ztest);
        let cats = ColumnValues::Categorical(BTreeMap::from([
            ("a".into(), 5),
            ("b".into(), 3),
            ("c".into(), 2),
        ]));
        let d = column_drift("c", &cats, &cats, DriftMethod::Auto, &cfg).unwrap();
        assert_eq!(d.method, DriftMethod::Chi2);
        assert_eq!(d.statistics["psi"], 0.0);
    }

    #[test]
    fn a_shifted_column_drifts_and_the_dataset_verdict_counts_shares() {
        let cfg = Drift::default();
        let r: Vec<f64> = (0..500).map(|i| f64::from(i) / 10.0).collect();
        let c: Vec<f64> = r.iter().map(|x| x + 20.0).collect();
        let d = column_drift("x", &numeric(&r), &numeric(&c), DriftMethod::Psi, &cfg).unwrap();
        assert!(d.drifted && d.value > 0.25);
        assert_eq!(d.status, Status::Warned);
        let same = column_drift("y", &numeric(&r), &numeric(&r), DriftMethod::Psi, &cfg).unwrap();
        let report = dataset_drift(vec![d, same], &cfg);
        assert_eq!((report.drifted_columns, report.drift_share), (1, 0.5));
        assert!(report.dataset_drift, "0.5 reaches the default share of 0.5");
    }

    #[test]
    fn mismatches_are_errors() {
        let cfg = Drift::default();
        let n = numeric(&[1.0, 2.0]);
        let c = ColumnValues::Categorical(BTreeMap::from([("a".into(), 1)]));
        assert!(matches!(
            column_drift("x", &n, &c, DriftMethod::Auto, &cfg),
            Err(DriftError::KindMismatch { .. })
        ));
        assert!(matches!(
            column_drift("x", &c, &c, DriftMethod::Ks, &cfg),
            Err(DriftError::MethodMismatch { .. })
        ));
        let empty = numeric(&[]);
        assert!(matches!(
            column_drift("x", &empty, &n, DriftMethod::Auto, &cfg),
            Err(DriftError::Empty {
                side: "reference",
                ..
            })
        ));
    }
}
