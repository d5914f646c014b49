//! Splitting rows into train / validation / test sets and cross-validation folds.
//!
//! The fold splitters reproduce scikit-learn's unshuffled `KFold`, `StratifiedKFold`,
//! `GroupKFold` and `TimeSeriesSplit` index for index (tests compare with recorded
//! fixtures). Shuffling uses mlx's own seeded generator (PCG64), so shuffled splits are
//! deterministic per seed but not numpy's permutations.
//!
//! Leakage guards, proved by property tests: in time-ordered splits no validation or
//! test timestamp precedes or equals a training timestamp (a boundary never cuts through
//! rows sharing a timestamp); in group splits no group is on two sides; in stratified
//! splits every class's count in every set is within one row of its share.

use std::ops::Range;

use mlx_contracts::config::{Split, SplitStrategy};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{Error, Result};
pub use crate::model::transform::kfold;

/// Not in any set (rows left out by `gap`).
pub const UNUSED: u8 = 0;
/// Training row.
pub const TRAIN: u8 = 1;
/// Validation row.
pub const VALIDATION: u8 = 2;
/// Test row.
pub const TEST: u8 = 3;

/// The name of a set code.
pub fn set_name(code: u8) -> Option<&'static str> {
    match code {
        TRAIN => Some("train"),
        VALIDATION => Some("validation"),
        TEST => Some("test"),
        _ => None,
    }
}

/// What a split may use about the rows (in the dataset's order, which is time order
/// when there is a time column).
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Number of rows.
    pub n: usize,
    /// Class codes in order of first appearance (stratified strategies).
    pub classes: Option<Vec<usize>>,
    /// Group codes in sorted order of the group values (group strategies).
    pub groups: Option<Vec<usize>>,
    /// Event times in milliseconds, ascending (temporal strategies).
    pub times: Option<Vec<i64>>,
}

/// A split: a set per row, and per fold a role per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// [`TRAIN`], [`VALIDATION`], [`TEST`] or [`UNUSED`] per row.
    pub set: Vec<u8>,
    /// Per fold: [`TRAIN`], [`VALIDATION`] or [`UNUSED`] per row.
    pub folds: Vec<Vec<u8>>,
}

fn usage(msg: String) -> Error {
    Error::Usage(msg)
}

fn rng(seed: u64) -> rand_pcg::Pcg64 {
    rand_pcg::Pcg64::seed_from_u64(seed)
}

/// scikit-learn `StratifiedKFold(k)` without shuffling. `classes` are codes in order of
/// first appearance.
pub fn stratified_kfold(classes: &[usize], k: usize) -> Result<Vec<Vec<usize>>> {
    let n_classes = classes.iter().max().map_or(0, |m| m + 1);
    let mut counts = vec![0usize; n_classes];
    for &c in classes {
        counts[c] += 1;
    }
    if counts.iter().all(|&c| c < k) {
        return Err(usage(format!(
            "{k} stratified folds need a class with at least {k} rows; the largest class has {}",
            counts.iter().max().copied().unwrap_or(0)
        )));
    }
    // Round-robin over the sorted labels: fold i gets the positions p ≡ i (mod k) of the
    // sorted order, so class c (positions start..end) gives fold i this many rows.
    let mut starts = vec![0usize; n_classes];
    for c in 1..n_classes {
        starts[c] = starts[c - 1] + counts[c - 1];
    }
    let in_residue = |a: usize, b: usize, i: usize| -> usize {
        // #{p in [a, b) : p % k == i}
        let upto = |x: usize| x / k + usize::from(x % k > i);
        upto(b) - upto(a)
    };
    let mut fold_of_class_rank: Vec<Vec<usize>> = Vec::with_capacity(n_classes);
    for c in 0..n_classes {
        let mut folds = Vec::with_capacity(counts[c]);
        for i in 0..k {
            let m = in_residue(starts[c], starts[c] + counts[c], i);
            folds.extend(std::iter::repeat_n(i, m));
        }
        fold_of_class_rank.push(folds);
    }
    let mut seen = vec![0usize; n_classes];
    let mut out = vec![Vec::new(); k];
    for (row, &c) in classes.iter().enumerate() {
        out[fold_of_class_rank[c][seen[c]]].push(row);
        seen[c] += 1;
    }
    Ok(out)
}

/// scikit-learn `GroupKFold(k)` without shuffling: groups by size, largest first (ties:
/// the later group first), each to the fold with the fewest rows so far.
pub fn group_kfold(groups: &[usize], k: usize) -> Result<Vec<Vec<usize>>> {
    let n_groups = groups.iter().max().map_or(0, |m| m + 1);
    if k > n_groups {
        return Err(usage(format!(
            "{k} group folds need at least {k} groups; the data has {n_groups}"
        )));
    }
    let mut sizes = vec![0usize; n_groups];
    for &g in groups {
        sizes[g] += 1;
    }
    let mut order: Vec<usize> = (0..n_groups).collect();
    order.sort_by_key(|&g| sizes[g]); // stable, as numpy's kind="stable"
    order.reverse();
    let mut fold_rows = vec![0usize; k];
    let mut fold_of = vec![0usize; n_groups];
    for g in order {
        let lightest = (0..k).min_by_key(|&f| (fold_rows[f], f)).unwrap_or(0);
        fold_rows[lightest] += sizes[g];
        fold_of[g] = lightest;
    }
    let mut out = vec![Vec::new(); k];
    for (row, &g) in groups.iter().enumerate() {
        out[fold_of[g]].push(row);
    }
    Ok(out)
}

/// scikit-learn `TimeSeriesSplit(k, max_train_size, test_size, gap)`: per fold the
/// training and validation ranges of positions.
pub fn time_series_split(
    n: usize,
    k: usize,
    test_size: Option<usize>,
    gap: usize,
    max_train_size: Option<usize>,
) -> Result<Vec<(Range<usize>, Range<usize>)>> {
    let test_size = test_size.unwrap_or(n / (k + 1));
    if k + 1 > n {
        return Err(usage(format!(
            "{k} time-series windows need at least {} rows; there are {n}",
            k + 1
        )));
    }
    if test_size == 0 || n <= gap + test_size * k {
        return Err(usage(format!(
            "{k} windows of {test_size} rows with a gap of {gap} do not fit in {n} rows; \
             lower `split.folds`, `split.window_rows` or `split.gap`"
        )));
    }
    let mut out = Vec::with_capacity(k);
    let mut start = n - k * test_size;
    while start < n {
        let train_end = start - gap;
        let train_start = match max_train_size {
            Some(m) if m < train_end => train_end - m,
            _ => 0,
        };
        out.push((train_start..train_end, start..start + test_size));
        start += test_size;
    }
    Ok(out)
}

/// Set sizes: `ceil(test * n)` and `ceil(validation * n)` (as scikit-learn rounds the
/// test size), the rest for training.
fn sizes(n: usize, cfg: &Split, validation: bool) -> Result<(usize, usize)> {
    let n_test = (cfg.test * n as f64).ceil() as usize;
    let n_val = if validation {
        (cfg.validation * n as f64).ceil() as usize
    } else {
        0
    };
    if n_test + n_val >= n {
        return Err(usage(format!(
            "{n} rows leave no training rows after {n_test} test and {n_val} validation rows; \
             more data or smaller `split.test`/`split.validation` fractions are needed"
        )));
    }
    Ok((n_test, n_val))
}

/// Counts per set and class, each within one row of `set size × class share`, summing
/// to the set sizes and the class counts (a controlled rounding).
pub fn allocate(set_sizes: &[usize], class_counts: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = class_counts.iter().sum();
    let mut out = vec![vec![0usize; class_counts.len()]; set_sizes.len()];
    let mut frac = vec![vec![0f64; class_counts.len()]; set_sizes.len()];
    let mut col_left = class_counts.to_vec();
    let mut row_left = set_sizes.to_vec();
    for (s, &size) in set_sizes.iter().enumerate() {
        for (c, &count) in class_counts.iter().enumerate() {
            let exact = size as f64 * count as f64 / n.max(1) as f64;
            let f = exact.floor() as usize;
            out[s][c] = f;
            frac[s][c] = exact - f as f64;
            col_left[c] -= f;
            row_left[s] -= f;
        }
    }
    // What is left is a 0/1 matrix with these margins (the fractional parts are one);
    // Ryser's greedy builds one: each set takes the classes with most left to place.
    for s in 0..set_sizes.len() {
        let mut order: Vec<usize> = (0..class_counts.len()).collect();
        order.sort_by(|&a, &b| {
            col_left[b]
                .cmp(&col_left[a])
                .then(frac[s][b].total_cmp(&frac[s][a]))
                .then(a.cmp(&b))
        });
        for &c in order.iter().take(row_left[s]) {
            if col_left[c] > 0 {
                out[s][c] += 1;
                col_left[c] -= 1;
            }
        }
    }
    out
}

fn temporal_sets(times: &[i64], cfg: &Split, validation: bool) -> Result<Vec<u8>> {
    let n = times.len();
    const DAY: i64 = 86_400_000;
    // Move a boundary back to the first row of its timestamp, so ties stay together.
    let snap = |mut i: usize| {
        while i > 0 && i < n && times[i - 1] == times[i] {
            i -= 1;
        }
        i
    };
    let first_at = |t: i64| times.partition_point(|&x| x < t);
    let test_start = if let Some(rows) = cfg.test_rows {
        n.saturating_sub(rows as usize)
    } else if let Some(days) = cfg.test_days {
        let last = times.last().copied().unwrap_or(0);
        first_at(last.div_euclid(DAY) * DAY - (i64::from(days) - 1) * DAY)
    } else if let Some(cutoff) = &cfg.cutoff {
        let date = chrono::NaiveDate::parse_from_str(cutoff, "%Y-%m-%d").map_err(|_| {
            usage(format!(
                "`split.cutoff: {cutoff}` is not a date; write YYYY-MM-DD"
            ))
        })?;
        let ms = date
            .and_hms_opt(0, 0, 0)
            .map_or(0, |d| d.and_utc().timestamp_millis());
        first_at(ms)
    } else {
        n - (cfg.test * n as f64).ceil() as usize
    };
    let test_start = snap(test_start);
    if test_start >= n {
        return Err(usage(
            "the temporal split leaves no test rows (the cutoff is after the last row?)".into(),
        ));
    }
    let gap = cfg.gap as usize;
    let n_val = if validation {
        (cfg.validation * n as f64).ceil() as usize
    } else {
        0
    };
    let val_end = test_start.saturating_sub(gap);
    let val_start = if n_val > 0 {
        snap(val_end.saturating_sub(n_val))
    } else {
        val_end
    };
    let train_end = if n_val > 0 {
        val_start.saturating_sub(gap)
    } else {
        val_end
    };
    if train_end == 0 {
        return Err(usage(format!(
            "the temporal split leaves no training rows: {} test rows from row {test_start} of \
             {n}, {} validation rows and a gap of {gap}; use more data or a later cutoff",
            n - test_start,
            val_end - val_start
        )));
    }
    let mut set = vec![UNUSED; n];
    set[..train_end].fill(TRAIN);
    set[val_start..val_end].fill(VALIDATION);
    set[test_start..].fill(TEST);
    Ok(set)
}

fn need<'a, T>(v: &'a Option<Vec<T>>, what: &str) -> Result<&'a [T]> {
    v.as_deref()
        .ok_or_else(|| Error::Runtime(format!("the split needs {what}")))
}

/// The holdout sets for `strategy`.
fn holdout(strategy: SplitStrategy, cfg: &Split, rows: &Rows, seed: u64) -> Result<Vec<u8>> {
    let n = rows.n;
    let validation = !strategy.is_folded();
    let mut set = vec![TRAIN; n];
    match strategy {
        SplitStrategy::Temporal | SplitStrategy::ExpandingWindow | SplitStrategy::SlidingWindow => {
            if strategy.is_folded()
                && cfg.test == 0.0
                && cfg.test_rows.is_none()
                && cfg.test_days.is_none()
                && cfg.cutoff.is_none()
            {
                return Ok(set);
            }
            return temporal_sets(need(&rows.times, "the time column")?, cfg, validation);
        }
        _ if strategy.is_folded() && cfg.test == 0.0 => return Ok(set),
        SplitStrategy::Random | SplitStrategy::Kfold => {
            let (n_test, n_val) = sizes(n, cfg, validation)?;
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut rng(seed));
            for &i in &idx[..n_test] {
                set[i] = TEST;
            }
            for &i in &idx[n_test..n_test + n_val] {
                set[i] = VALIDATION;
            }
        }
        SplitStrategy::Stratified | SplitStrategy::StratifiedKfold => {
            let classes = need(&rows.classes, "class labels")?;
            let (n_test, n_val) = sizes(n, cfg, validation)?;
            let n_classes = classes.iter().max().map_or(0, |m| m + 1);
            let mut members = vec![Vec::new(); n_classes];
            for (i, &c) in classes.iter().enumerate() {
                members[c].push(i);
            }
            let counts: Vec<usize> = members.iter().map(Vec::len).collect();
            let alloc = allocate(&[n_test, n_val, n - n_test - n_val], &counts);
            let mut r = rng(seed);
            for (c, rows_c) in members.iter_mut().enumerate() {
                rows_c.shuffle(&mut r);
                let (t, v) = (alloc[0][c], alloc[1][c]);
                for &i in &rows_c[..t] {
                    set[i] = TEST;
                }
                for &i in &rows_c[t..t + v] {
                    set[i] = VALIDATION;
                }
            }
        }
        SplitStrategy::Group | SplitStrategy::GroupKfold => {
            let groups = need(&rows.groups, "the group column")?;
            let (n_test, n_val) = sizes(n, cfg, validation)?;
            let n_groups = groups.iter().max().map_or(0, |m| m + 1);
            let mut size = vec![0usize; n_groups];
            for &g in groups {
                size[g] += 1;
            }
            let mut order: Vec<usize> = (0..n_groups).collect();
            order.shuffle(&mut rng(seed));
            let mut role = vec![TRAIN; n_groups];
            let (mut in_test, mut in_val) = (0, 0);
            for g in order {
                if in_test < n_test {
                    role[g] = TEST;
                    in_test += size[g];
                } else if in_val < n_val {
                    role[g] = VALIDATION;
                    in_val += size[g];
                }
            }
            if !role.contains(&TRAIN) {
                return Err(usage(format!(
                    "{n_groups} groups are too few to split by group: none is left for training; \
                     lower `split.test`/`split.validation` or use more groups"
                )));
            }
            for (i, &g) in groups.iter().enumerate() {
                set[i] = role[g];
            }
        }
    }
    Ok(set)
}

/// Splits `rows` as `cfg` says.
pub fn plan(cfg: &Split, strategy: SplitStrategy, rows: &Rows, seed: u64) -> Result<Plan> {
    if rows.n == 0 {
        return Err(usage("there are no rows to split".into()));
    }
    let set = holdout(strategy, cfg, rows, seed)?;
    if !strategy.is_folded() {
        return Ok(Plan {
            set,
            folds: Vec::new(),
        });
    }
    // Folds over the training rows, in dataset order.
    let dev: Vec<usize> = (0..rows.n).filter(|&i| set[i] == TRAIN).collect();
    let k = cfg.folds as usize;
    let pick = |v: &[usize]| -> Vec<usize> { dev.iter().map(|&i| v[i]).collect() };
    let mut order: Vec<usize> = (0..dev.len()).collect();
    if cfg.shuffle {
        order.shuffle(&mut rng(seed ^ 0x5eed));
    }
    let windows: Vec<(Vec<usize>, Vec<usize>)> = match strategy {
        SplitStrategy::Kfold | SplitStrategy::StratifiedKfold | SplitStrategy::GroupKfold => {
            let tests = match strategy {
                SplitStrategy::Kfold => kfold(dev.len(), k),
                SplitStrategy::StratifiedKfold => {
                    let c = pick(need(&rows.classes, "class labels")?);
                    stratified_kfold(&order.iter().map(|&o| c[o]).collect::<Vec<_>>(), k)?
                }
                _ => {
                    let g = pick(need(&rows.groups, "the group column")?);
                    group_kfold(&order.iter().map(|&o| g[o]).collect::<Vec<_>>(), k)?
                }
            };
            tests
                .into_iter()
                .map(|t| (Vec::new(), t.into_iter().map(|p| order[p]).collect()))
                .collect()
        }
        _ => {
            let max_train = match strategy {
                SplitStrategy::SlidingWindow => cfg.max_train_size.map(|m| m as usize),
                _ => None,
            };
            time_series_split(
                dev.len(),
                k,
                cfg.window_rows.map(|w| w as usize),
                cfg.gap as usize,
                max_train,
            )?
            .into_iter()
            .map(|(tr, te)| (tr.collect(), te.collect()))
            .collect()
        }
    };
    let folded_by_partition = !strategy.is_temporal();
    let folds = windows
        .into_iter()
        .map(|(train, val)| {
            let mut role = vec![UNUSED; rows.n];
            if folded_by_partition {
                for &p in &dev {
                    role[p] = TRAIN;
                }
            } else {
                for p in train {
                    role[dev[p]] = TRAIN;
                }
            }
            for p in val {
                role[dev[p]] = VALIDATION;
            }
            role
        })
        .collect();
    Ok(Plan { set, folds })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kfold_sizes_as_sklearn() {
        let f = kfold(10, 3);
        assert_eq!(f, vec![vec![0, 1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]);
    }

    #[test]
    fn time_series_split_as_sklearn_docs() {
        // The example of scikit-learn's TimeSeriesSplit docstring: 6 rows, 5 splits.
        let s = time_series_split(6, 5, None, 0, None).unwrap();
        assert_eq!(s[0], (0..1, 1..2));
        assert_eq!(s[4], (0..5, 5..6));
        let s = time_series_split(12, 3, Some(2), 2, None).unwrap();
        assert_eq!(s[0], (0..4, 6..8));
        assert_eq!(s[2], (0..8, 10..12));
    }

    #[test]
    fn allocation_is_within_one_row() {
        let a = allocate(&[15, 15, 70], &[3, 97]);
        assert_eq!(
            a.iter()
                .map(|r| r.iter().sum::<usize>())
                .collect::<Vec<_>>(),
            [15, 15, 70]
        );
        assert_eq!(
            (0..2)
                .map(|c| a.iter().map(|r| r[c]).sum::<usize>())
                .collect::<Vec<_>>(),
            [3, 97]
        );
    }

    fn cfg(test: f64, validation: f64) -> Split {
        Split {
            train: 1.0 - test - validation,
            validation,
            test,
            ..Split::default()
        }
    }

    proptest! {
        #[test]
        fn temporal_never_trains_on_the_future(
            mut times in proptest::collection::vec(0i64..50, 10..200),
            gap in 0u32..3,
        ) {
            times.sort();
            let rows = Rows { n: times.len(), times: Some(times.clone()), ..Rows::default() };
            let c = Split { gap, ..cfg(0.2, 0.2) };
            if let Ok(p) = plan(&c, SplitStrategy::Temporal, &rows, 1) {
                let max_train = (0..rows.n).filter(|&i| p.set[i] == TRAIN).map(|i| times[i]).max();
                for later in [VALIDATION, TEST] {
                    let min_later = (0..rows.n).filter(|&i| p.set[i] == later).map(|i| times[i]).min();
                    if let (Some(a), Some(b)) = (max_train, min_later) {
                        prop_assert!(a < b, "train {a} vs {b}");
                    }
                }
                prop_assert!(p.set.contains(&TEST));
            }
        }

        #[test]
        fn groups_never_cross(groups in proptest::collection::vec(0usize..12, 20..300), seed in 0u64..1000) {
            let mut g = groups.clone();
            // Dense codes.
            let mut uniq = g.clone(); uniq.sort(); uniq.dedup();
            for x in &mut g { *x = uniq.binary_search(x).unwrap(); }
            let rows = Rows { n: g.len(), groups: Some(g.clone()), ..Rows::default() };
            for strategy in [SplitStrategy::Group, SplitStrategy::GroupKfold] {
                let Ok(p) = plan(&cfg(0.2, 0.1), strategy, &rows, seed) else { continue };
                let mut side = vec![None; uniq.len()];
                for i in 0..rows.n {
                    let s = p.set[i];
                    prop_assert!(side[g[i]].is_none_or(|x| x == s), "group {} on two sides", g[i]);
                    side[g[i]] = Some(s);
                }
                for fold in &p.folds {
                    let mut side = vec![None; uniq.len()];
                    for i in 0..rows.n {
                        if fold[i] == UNUSED { continue; }
                        prop_assert!(side[g[i]].is_none_or(|x| x == fold[i]));
                        side[g[i]] = Some(fold[i]);
                    }
                }
            }
        }

        #[test]
        fn stratified_shares_within_one_row(
            classes in proptest::collection::vec(0usize..4, 30..400),
            test in 0.05f64..0.4, validation in 0.0f64..0.3, seed in 0u64..1000,
        ) {
            let mut uniq = classes.clone(); uniq.sort(); uniq.dedup();
            let c: Vec<usize> = classes.iter().map(|x| uniq.binary_search(x).unwrap()).collect();
            let rows = Rows { n: c.len(), classes: Some(c.clone()), ..Rows::default() };
            let Ok(p) = plan(&cfg(test, validation), SplitStrategy::Stratified, &rows, seed) else { return Ok(()) };
            let n = rows.n as f64;
            for set in [TRAIN, VALIDATION, TEST] {
                let members: Vec<usize> = (0..rows.n).filter(|&i| p.set[i] == set).collect();
                for class in 0..uniq.len() {
                    let share = c.iter().filter(|&&x| x == class).count() as f64 / n;
                    let count = members.iter().filter(|&&i| c[i] == class).count() as f64;
                    let expected = members.len() as f64 * share;
                    prop_assert!((count - expected).abs() <= 1.0 + 1e-9,
                        "set {set} class {class}: {count} vs {expected}");
                }
            }
        }
    }
}
