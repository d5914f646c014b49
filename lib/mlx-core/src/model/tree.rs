//! CART decision trees and random forests, with scikit-learn's definitions: Gini
//! impurity for classes and squared error for values, thresholds halfway between
//! consecutive distinct values, `min_samples_split`, `min_samples_leaf`, `max_depth`,
//! `max_features`; a forest averages its trees' outputs (class probabilities, or
//! values), each tree fitted on a bootstrap sample with its own seeded generator, in
//! parallel and deterministically.
//!
//! Trees are stored as flat arrays (as scikit-learn's `tree_`), which TreeSHAP reads.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use nalgebra::DMatrix;

/// A fitted tree. Node 0 is the root; a leaf has `feature == -1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    /// Split feature per node (-1 for leaves).
    pub feature: Vec<i32>,
    /// Split threshold per node: `x <= threshold` goes left.
    pub threshold: Vec<f64>,
    /// Left child per node (-1 for leaves).
    pub left: Vec<i32>,
    /// Right child per node (-1 for leaves).
    pub right: Vec<i32>,
    /// Per node, `outputs` values: class proportions, or the mean.
    pub value: Vec<f64>,
    /// Weighted training samples per node (TreeSHAP's cover).
    pub cover: Vec<f64>,
    /// Values per node: the number of classes, or 1.
    pub outputs: usize,
}

/// Growth limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest level (root is 0); `None` for no limit.
    pub max_depth: Option<usize>,
    /// Fewest samples a node needs to be split.
    pub min_samples_split: usize,
    /// Fewest samples each child must keep.
    pub min_samples_leaf: usize,
    /// Features tried per split.
    pub max_features: usize,
}

/// What a tree learns.
#[derive(Clone, Copy)]
pub enum Labels<'a> {
    /// Numbers (squared error).
    Values(&'a [f64]),
    /// Class codes and the number of classes (Gini).
    Classes(&'a [usize], usize),
}

impl Labels<'_> {
    fn outputs(&self) -> usize {
        match self {
            Labels::Values(_) => 1,
            Labels::Classes(_, k) => *k,
        }
    }
}

struct Builder<'a> {
    x: &'a DMatrix<f64>,
    y: Labels<'a>,
    w: &'a [f64],
    limits: Limits,
    tree: Tree,
    rng: rand_pcg::Pcg64,
}

/// Weighted sums of a set of samples: per class weight (classes) or Σw, Σwy, Σwy².
#[derive(Clone)]
struct Stats {
    sums: Vec<f64>,
    weight: f64,
}

impl Stats {
    fn new(outputs: usize, regression: bool) -> Self {
        Self {
            sums: vec![0.0; if regression { 2 } else { outputs }],
            weight: 0.0,
        }
    }
    fn add(&mut self, y: Labels, i: usize, w: f64, sign: f64) {
        self.weight += sign * w;
        match y {
            Labels::Values(v) => {
                self.sums[0] += sign * w * v[i];
                self.sums[1] += sign * w * v[i] * v[i];
            }
            Labels::Classes(c, _) => self.sums[c[i]] += sign * w,
        }
    }
    /// Impurity times weight (Gini: W - Σ c²/W; squared error: Σwy² - (Σwy)²/W).
    fn weighted_impurity(&self, regression: bool) -> f64 {
        if self.weight <= 0.0 {
            return 0.0;
        }
        if regression {
            self.sums[1] - self.sums[0] * self.sums[0] / self.weight
        } else {
            self.weight - self.sums.iter().map(|c| c * c).sum::<f64>() / self.weight
        }
    }
    fn value(&self, regression: bool) -> Vec<f64> {
        if regression {
            vec![self.sums[0] / self.weight]
        } else {
            self.sums.iter().map(|c| c / self.weight).collect()
        }
    }
}

impl Builder<'_> {
    fn regression(&self) -> bool {
        matches!(self.y, Labels::Values(_))
    }

    fn stats(&self, idx: &[usize]) -> Stats {
        let mut s = Stats::new(self.y.outputs(), self.regression());
        for &i in idx {
            s.add(self.y, i, self.w[i], 1.0);
        }
        s
    }

    fn push(&mut self, stats: &Stats) -> usize {
        let value = stats.value(self.regression());
        let t = &mut self.tree;
        t.feature.push(-1);
        t.threshold.push(0.0);
        t.left.push(-1);
        t.right.push(-1);
        t.value.extend(value);
        t.cover.push(stats.weight);
        t.feature.len() - 1
    }

    /// The best split of `idx`: (feature, threshold, samples going left).
    fn best_split(&mut self, idx: &mut [usize], parent: &Stats) -> Option<(usize, f64, usize)> {
        let regression = self.regression();
        let p = self.x.ncols();
        let mut features: Vec<usize> = (0..p).collect();
        features.shuffle(&mut self.rng);
        let parent_impurity = parent.weighted_impurity(regression);
        let mut best: Option<(f64, usize, f64)> = None;
        // Features are drawn until `max_features` non-constant ones were tried (and
        // beyond, until a valid split is found), as scikit-learn draws them.
        let mut tried = 0;
        for &f in &features {
            if tried >= self.limits.max_features && best.is_some() {
                break;
            }
            let col = self.x.column(f);
            idx.sort_by(|&a, &b| col[a].total_cmp(&col[b]));
            if col[idx[0]] == col[idx[idx.len() - 1]] {
                continue;
            }
            tried += 1;
            let mut left = Stats::new(self.y.outputs(), regression);
            let mut right = parent.clone();
            let min_leaf = self.limits.min_samples_leaf;
            for pos in 0..idx.len() - 1 {
                let i = idx[pos];
                left.add(self.y, i, self.w[i], 1.0);
                right.add(self.y, i, self.w[i], -1.0);
                let (a, b) = (col[i], col[idx[pos + 1]]);
                if a == b || pos + 1 < min_leaf || idx.len() - pos - 1 < min_leaf {
                    continue;
                }
                let impurity =
                    left.weighted_impurity(regression) + right.weighted_impurity(regression);
                if impurity < parent_impurity - 1e-12 * parent.weight.max(1.0)
                    && best.is_none_or(|(b_imp, _, _)| impurity < b_imp)
                {
                    let mut t = a / 2.0 + b / 2.0;
                    if t == b {
                        t = a;
                    }
                    best = Some((impurity, f, t));
                }
            }
        }
        let (_, f, t) = best?;
        let col = self.x.column(f);
        idx.sort_by(|&a, &b| col[a].total_cmp(&col[b]));
        let n_left = idx.partition_point(|&i| col[i] <= t);
        Some((f, t, n_left))
    }

    fn grow(&mut self, idx: &mut [usize], depth: usize) -> usize {
        let stats = self.stats(idx);
        let node = self.push(&stats);
        let n = idx.len();
        let pure = stats.weighted_impurity(self.regression()) <= 1e-12 * stats.weight.max(1.0);
        if pure
            || n < self.limits.min_samples_split
            || n < 2 * self.limits.min_samples_leaf
            || self.limits.max_depth.is_some_and(|d| depth >= d)
        {
            return node;
        }
        let Some((f, t, n_left)) = self.best_split(idx, &stats) else {
            return node;
        };
        let (l, r) = idx.split_at_mut(n_left);
        let left = self.grow(l, depth + 1);
        let right = self.grow(r, depth + 1);
        let t_ = &mut self.tree;
        t_.feature[node] = f as i32;
        t_.threshold[node] = t;
        t_.left[node] = left as i32;
        t_.right[node] = right as i32;
        node
    }
}

/// Fits one tree on the samples with positive `weight`.
pub fn fit_tree(x: &DMatrix<f64>, y: Labels, weight: &[f64], limits: Limits, seed: u64) -> Tree {
    let mut idx: Vec<usize> = (0..x.nrows()).filter(|&i| weight[i] > 0.0).collect();
    let mut b = Builder {
        x,
        y,
        w: weight,
        limits,
        tree: Tree {
            feature: Vec::new(),
            threshold: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
            value: Vec::new(),
            cover: Vec::new(),
            outputs: y.outputs(),
        },
        rng: rand_pcg::Pcg64::seed_from_u64(seed),
    };
    b.grow(&mut idx, 0);
    b.tree
}

impl Tree {
    /// The leaf a row ends in.
    pub fn leaf(&self, row: &[f64]) -> usize {
        let mut n = 0;
        while self.feature[n] >= 0 {
            n = if row[self.feature[n] as usize] <= self.threshold[n] {
                self.left[n] as usize
            } else {
                self.right[n] as usize
            };
        }
        n
    }

    /// The leaf values of a row.
    pub fn predict_row(&self, row: &[f64]) -> &[f64] {
        let n = self.leaf(row);
        &self.value[n * self.outputs..(n + 1) * self.outputs]
    }
}

/// A random forest (or, with one tree, no bootstrap and every feature, a decision tree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forest {
    /// The trees.
    pub trees: Vec<Tree>,
}

/// Class weights of a classification tree or forest (scikit-learn's `class_weight`).
#[derive(Debug, Clone, PartialEq)]
pub enum Weights {
    /// Every row weighs 1 (and regression).
    None,
    /// A weight per class code.
    Classes(Vec<f64>),
    /// Balanced within each tree's bootstrap sample: `n / (classes present · count)`
    /// with the sample's multiplicities.
    BalancedSubsample,
}

/// Multiplies each row's weight (its multiplicity in the sample) by its class weight.
pub fn weigh(w: &mut [f64], y: Labels, weights: &Weights) {
    let Labels::Classes(codes, k) = y else { return };
    let class = match weights {
        Weights::None => return,
        Weights::Classes(c) => c.clone(),
        Weights::BalancedSubsample => {
            let mut counts = vec![0.0; k];
            for (i, &c) in codes.iter().enumerate() {
                counts[c] += w[i];
            }
            let total: f64 = counts.iter().sum();
            let present = counts.iter().filter(|&&c| c > 0.0).count().max(1) as f64;
            counts
                .iter()
                .map(|&c| if c > 0.0 { total / (present * c) } else { 1.0 })
                .collect()
        }
    };
    for (wi, &c) in w.iter_mut().zip(codes) {
        *wi *= class[c];
    }
}

/// A forest of `n_trees` trees, each grown (in parallel) on a bootstrap sample (or all
/// rows) with the class weights, seeded per tree from `seed`.
pub fn fit_forest(
    x: &DMatrix<f64>,
    y: Labels,
    weights: &Weights,
    n_trees: usize,
    bootstrap: bool,
    limits: Limits,
    seed: u64,
) -> Forest {
    let n = x.nrows();
    let trees = (0..n_trees)
        .into_par_iter()
        .map(|t| {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(
                seed.wrapping_add(t as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut w = vec![if bootstrap { 0.0 } else { 1.0 }; n];
            if bootstrap {
                for _ in 0..n {
                    w[rng.random_range(0..n)] += 1.0;
                }
            }
            weigh(&mut w, y, weights);
            fit_tree(x, y, &w, limits, rng.random())
        })
        .collect();
    Forest { trees }
}

impl Forest {
    /// Averaged outputs per row (`n × outputs`).
    pub fn predict(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let outputs = self.trees.first().map_or(1, |t| t.outputs);
        let rows: Vec<Vec<f64>> = (0..x.nrows())
            .into_par_iter()
            .map(|i| {
                let row: Vec<f64> = x.row(i).iter().copied().collect();
                let mut acc = vec![0.0; outputs];
                for t in &self.trees {
                    for (a, v) in acc.iter_mut().zip(t.predict_row(&row)) {
                        *a += v;
                    }
                }
                acc.iter().map(|a| a / self.trees.len() as f64).collect()
            })
            .collect();
        DMatrix::from_fn(x.nrows(), outputs, |i, k| rows[i][k])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(p: usize) -> Limits {
        Limits {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: p,
        }
    }

    #[test]
    fn a_stump_splits_halfway_between_values() {
        let x = DMatrix::from_row_slice(4, 1, &[1.0, 2.0, 10.0, 11.0]);
        let t = fit_tree(
            &x,
            Labels::Classes(&[0, 0, 1, 1], 2),
            &[1.0; 4],
            limits(1),
            0,
        );
        assert_eq!(t.feature, vec![0, -1, -1]);
        assert_eq!(t.threshold[0], 6.0);
        assert_eq!(t.predict_row(&[5.9]), &[1.0, 0.0]);
        assert_eq!(t.predict_row(&[6.1]), &[0.0, 1.0]);
        assert_eq!(t.cover, vec![4.0, 2.0, 2.0]);
    }

    #[test]
    fn regression_trees_fit_training_data_exactly_without_limits() {
        let x = DMatrix::from_row_slice(5, 2, &[1.0, 5.0, 2.0, 4.0, 3.0, 3.0, 4.0, 2.0, 5.0, 1.0]);
        let y = [3.0, -1.0, 4.0, 1.5, 9.0];
        let t = fit_tree(&x, Labels::Values(&y), &[1.0; 5], limits(2), 3);
        for (i, want) in y.iter().enumerate() {
            let row: Vec<f64> = x.row(i).iter().copied().collect();
            assert_eq!(t.predict_row(&row), &[*want]);
        }
    }

    #[test]
    fn forests_are_deterministic_per_seed() {
        let x = DMatrix::from_fn(60, 3, |i, j| ((i * 7 + j * 13) % 17) as f64);
        let y: Vec<usize> = (0..60).map(|i| usize::from((i * 7) % 17 > 8)).collect();
        let fit = |seed| {
            fit_forest(
                &x,
                Labels::Classes(&y, 2),
                &Weights::None,
                10,
                true,
                limits(2),
                seed,
            )
        };
        assert_eq!(fit(1), fit(1));
        assert_ne!(fit(1), fit(2));
    }
}
