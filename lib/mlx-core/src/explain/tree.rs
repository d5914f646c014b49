//! TreeSHAP: the exact path-dependent algorithm of Lundberg et al. (2018, "Consistent
//! individualized feature attribution for tree ensembles", Algorithm 2), polynomial in
//! the tree's depth, over the model layer's tree representation
//! ([`crate::model::ensemble`]).
//!
//! The expectation at a split follows the training cover (mlx: weighted samples,
//! XGBoost: the sum of hessians, LightGBM: the data count), which is what makes the
//! values equal XGBoost's `pred_contribs` and LightGBM's `pred_contrib`.
//!
//! Explaining many rows, trees whose per-leaf tables are worth building go through
//! [`super::fast_tree`] instead, which computes the same values faster.

use super::fast_tree;
use crate::model::ensemble::{Ensemble, ShapTree};

#[derive(Clone, Copy, Default)]
struct PathElement {
    feature: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

impl ShapTree {
    /// Adds the tree's SHAP values for `row` to `phi` (`features × total outputs`,
    /// row-major by feature: `phi[f * total + o]`). `buf` must hold
    /// [`scratch_len`]`(depth)` elements.
    fn shap(&self, row: &[f64], phi: &mut [f64], total: usize, buf: &mut [PathElement]) {
        self.recurse(row, phi, total, buf, 0, 0, 0, 1.0, 1.0, -1);
    }

    /// One node of Algorithm 2. The parent's path is `buf[parent..=parent + depth]`;
    /// this node's path is written right after it.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        row: &[f64],
        phi: &mut [f64],
        total: usize,
        buf: &mut [PathElement],
        parent: usize,
        depth: usize,
        node: usize,
        zero: f64,
        one: f64,
        feature: i64,
    ) {
        let me = parent + depth + 1;
        buf.copy_within(parent..parent + depth + 1, me);
        let path = &mut buf[me..me + depth + 2];
        extend(path, depth, zero, one, feature);
        if self.is_leaf(node) {
            for i in 1..=depth {
                let e = path[i];
                let scale = unwound_sum(path, depth, i) * (e.one - e.zero);
                let f = e.feature as usize;
                let values = &self.value[node * self.outputs..(node + 1) * self.outputs];
                for (o, v) in values.iter().enumerate() {
                    phi[f * total + self.offset + o] += scale * v;
                }
            }
            return;
        }
        let hot = self.next(node, row);
        let cold = if hot == self.left[node] as usize {
            self.right[node] as usize
        } else {
            self.left[node] as usize
        };
        let split = self.feature[node] as i64;
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        let mut depth = depth;
        if let Some(k) = (1..=depth).find(|&k| path[k].feature == split) {
            in_zero = path[k].zero;
            in_one = path[k].one;
            unwind(path, depth, k);
            depth -= 1;
        }
        let cover = self.cover[node];
        let share = |c: usize| {
            if cover > 0.0 {
                self.cover[c] / cover
            } else {
                0.0
            }
        };
        let (hot_zero, cold_zero) = (share(hot) * in_zero, share(cold) * in_zero);
        self.recurse(
            row,
            phi,
            total,
            buf,
            me,
            depth + 1,
            hot,
            hot_zero,
            in_one,
            split,
        );
        self.recurse(
            row,
            phi,
            total,
            buf,
            me,
            depth + 1,
            cold,
            cold_zero,
            0.0,
            split,
        );
    }
}

/// Scratch elements TreeSHAP needs for a tree of this depth.
fn scratch_len(depth: usize) -> usize {
    (depth + 2) * (depth + 3) / 2 + depth + 2
}

/// `1 / k` for small `k` (the divisions are most of TreeSHAP's arithmetic).
const RECIPROCALS: [f64; 130] = {
    let mut r = [0.0; 130];
    let mut k = 1;
    while k < 130 {
        r[k] = 1.0 / k as f64;
        k += 1;
    }
    r
};

fn recip(k: usize) -> f64 {
    if k < RECIPROCALS.len() {
        RECIPROCALS[k]
    } else {
        1.0 / k as f64
    }
}

/// Adds a split to the path (`path[l]` becomes the new element), updating the weights
/// of every subset size.
fn extend(path: &mut [PathElement], l: usize, zero: f64, one: f64, feature: i64) {
    path[l] = PathElement {
        feature,
        zero,
        one,
        weight: if l == 0 { 1.0 } else { 0.0 },
    };
    let inv_n = recip(l + 1);
    for i in (0..l).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 * inv_n;
        path[i].weight = zero * path[i].weight * (l - i) as f64 * inv_n;
    }
}

/// Removes element `i` from a path of `l + 1` elements, undoing its `extend`.
fn unwind(path: &mut [PathElement], l: usize, i: usize) {
    let (one, zero) = (path[i].one, path[i].zero);
    let n = (l + 1) as f64;
    let inv_n = recip(l + 1);
    let mut next = path[l].weight;
    for j in (0..l).rev() {
        if one != 0.0 {
            let tmp = path[j].weight;
            path[j].weight = next * n * recip(j + 1) / one;
            next = tmp - path[j].weight * zero * (l - j) as f64 * inv_n;
        } else {
            path[j].weight = path[j].weight * n * recip(l - j) / zero;
        }
    }
    for j in i..l {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

/// The total weight of the path with element `i` unwound, without changing it.
fn unwound_sum(path: &[PathElement], l: usize, i: usize) -> f64 {
    let (one, zero) = (path[i].one, path[i].zero);
    let n = (l + 1) as f64;
    let inv_n = recip(l + 1);
    let mut next = path[l].weight;
    let mut total = 0.0;
    if one != 0.0 {
        let scale = n / one;
        for j in (0..l).rev() {
            let tmp = next * scale * recip(j + 1);
            total += tmp;
            next = path[j].weight - tmp * zero * (l - j) as f64 * inv_n;
        }
    } else if zero != 0.0 {
        let scale = n / zero;
        for j in (0..l).rev() {
            total += path[j].weight * scale * recip(l - j);
        }
    }
    total
}

/// Rows explained together, tree by tree.
const ROWS_PER_BLOCK: usize = 64;

/// Which TreeSHAP computes the values; both give the same (path-dependent) values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Per tree, the tables where [`fast_tree::plan`] finds them worth building and
    /// within their memory budget, the original algorithm elsewhere.
    Auto,
    /// Lundberg et al.'s Algorithm 2 for every tree.
    Original,
    /// The tables for every tree that allows them (positive covers, at most 30 distinct
    /// features on a path).
    Tables,
}

impl Ensemble {
    /// SHAP values of one row: `features × outputs`, row-major by feature.
    pub fn shap(&self, row: &[f64], features: usize) -> Vec<f64> {
        self.shap_rows(std::slice::from_ref(&row.to_vec()), features)
            .pop()
            .unwrap_or_default()
    }

    /// SHAP values of many rows, in parallel by blocks of rows (the same values on any
    /// number of threads).
    pub fn shap_rows(&self, rows: &[Vec<f64>], features: usize) -> Vec<Vec<f64>> {
        self.shap_rows_by(rows, features, Algorithm::Auto)
    }

    /// [`Ensemble::shap_rows`] by a chosen algorithm.
    pub fn shap_rows_by(
        &self,
        rows: &[Vec<f64>],
        features: usize,
        algorithm: Algorithm,
    ) -> Vec<Vec<f64>> {
        use rayon::prelude::*;
        let chosen = match algorithm {
            Algorithm::Auto => fast_tree::plan(&self.trees, rows.len()),
            Algorithm::Original => vec![false; self.trees.len()],
            Algorithm::Tables => self.trees.iter().map(fast_tree::fits).collect(),
        };
        let tables: Vec<Option<fast_tree::Tables>> = self
            .trees
            .par_iter()
            .zip(&chosen)
            .map(|(t, &fast)| fast.then(|| fast_tree::Tables::new(t)))
            .collect();
        let depth = self
            .trees
            .iter()
            .zip(&chosen)
            .filter(|(_, &fast)| !fast)
            .map(|(t, _)| t.depth())
            .max()
            .unwrap_or(0);
        let nodes = tables
            .iter()
            .flatten()
            .map(fast_tree::Tables::scratch)
            .max()
            .unwrap_or(0);
        // Blocks of rows, each tree over the whole block before the next tree, so that
        // a tree and its tables stay in the core's cache; each row still adds the trees
        // in their order, whatever the number of threads.
        rows.par_chunks(ROWS_PER_BLOCK)
            .flat_map_iter(|block| {
                let mut buf = vec![PathElement::default(); scratch_len(depth)];
                let mut ones = vec![0u64; nodes];
                let mut phis = vec![vec![0.0; features * self.outputs]; block.len()];
                for (t, table) in self.trees.iter().zip(&tables) {
                    for (row, phi) in block.iter().zip(&mut phis) {
                        match table {
                            Some(table) => table.shap(row, phi, self.outputs, &mut ones),
                            None => t.shap(row, phi, self.outputs, &mut buf),
                        }
                    }
                }
                phis
            })
            .collect()
    }
}
