//! TreeSHAP with per-leaf tables built once per tree, the idea of FastTreeSHAP v2 (Yang
//! 2021, arXiv 2109.09847): the same path-dependent values as [`super::tree`], in
//! `O(L·D)` per row and tree instead of `O(L·D²)`.
//!
//! For a leaf with value `v`, let `U` be the distinct features split on along its path
//! (`d` of them), `z_j` the product of the cover ratios of the path's edges on feature
//! `j`, and `A ⊆ U` the features for which the row follows every such edge. The
//! path-dependent TreeSHAP value the leaf adds to feature `i ∈ U` is
//!
//! ```text
//! φ_i = v (1[i ∈ A] - z_i) Σ_{S ⊆ A∖{i}} w(|S|) Π_{j ∈ U∖{i}∖S} z_j,  w(s) = s!(d-1-s)!/d!
//! ```
//!
//! The row enters only through `A`. With `Q(B) = Σ_{S ⊆ B} w(|S|) Π_{j ∈ B∖S} z_j` and
//! `R(B) = v Q(B) Π_{j ∈ U∖B} z_j` it splits into
//!
//! - `i ∉ A`: `φ_i = -R(A)`;
//! - `i ∈ A`: `φ_i = (1 - z_i) / z_i · R(A∖{i})` (the product in `R(A∖{i})` has the
//!   factor `z_i` that `φ_i` lacks),
//!
//! so a table of `R` over the `2^d` subsets of each leaf, built in `O(2^d d)`, leaves
//! `O(d)` per leaf and row: one pass over the tree's nodes sets `A`'s bits at every
//! leaf, then `d` look-ups, each a multiply-add. A tree with a zero cover ratio on some
//! path (`z_i = 0`) keeps the original algorithm.
//!
//! The tables cost `8 · outputs · Σ_leaves 2^d` bytes per tree. [`plan`] builds them
//! for a tree only when that is cheaper than what they save on the rows to explain
//! (building against `rows · Σ_leaves d²`), and while every table together stays under
//! [`TABLE_BUDGET`]; other trees keep the original algorithm. XGBoost's depth 6 costs
//! 32 KiB a tree (one core's first-level cache); depth 10, 8 MiB, so 128 trees of it
//! fit.

use crate::model::ensemble::ShapTree;

/// The most memory the tables of one model may take.
pub const TABLE_BUDGET: usize = 1 << 30;

/// Paths longer than this (in distinct features) are left to the original algorithm:
/// their tables would exceed any budget, and `A` is a `u64`.
const MAX_DISTINCT: usize = 30;

/// One tree's tables.
pub(crate) struct Tables<'a> {
    tree: &'a ShapTree,
    /// The internal nodes, parents before children.
    internal: Vec<Split>,
    leaves: Vec<Leaf>,
    /// Per leaf, its distinct features' numbers and `(1 - z_j) / z_j`, in bit order,
    /// from `Leaf::first`.
    features: Vec<usize>,
    coef: Vec<f64>,
    /// `R(B)` per leaf, subset and output: leaf `l`'s subset `B` output `o` is at
    /// `leaves[l].table + B · outputs + o`.
    table: Vec<f64>,
}

struct Split {
    node: u32,
    /// The bit of the split feature among the path's distinct features, and whether
    /// the feature first appears here.
    bit: u8,
    fresh: bool,
}

struct Leaf {
    node: u32,
    /// Its distinct features are `features[first..first + d]`.
    first: usize,
    d: usize,
    table: usize,
}

/// Which trees get tables, for explaining `rows` rows: `true` per tree that should.
pub(crate) fn plan(trees: &[ShapTree], rows: usize) -> Vec<bool> {
    let mut used = 0usize;
    trees
        .iter()
        .map(|t| {
            if !fits(t) {
                return false;
            }
            let (mut entries, mut build, mut saved) = (0usize, 0f64, 0f64);
            leaf_depths(t, 0, &mut Vec::new(), &mut |d| {
                entries += (1usize << d) * t.outputs;
                build += (1u64 << d) as f64 * d.max(1) as f64;
                saved += (d * d) as f64;
            });
            let bytes = entries * 8;
            let take = build < rows as f64 * saved && used + bytes <= TABLE_BUDGET;
            if take {
                used += bytes;
            }
            take
        })
        .collect()
}

/// Whether `tree` allows tables: every path short enough, every cover positive.
pub(crate) fn fits(tree: &ShapTree) -> bool {
    let mut longest = 0;
    leaf_depths(tree, 0, &mut Vec::new(), &mut |d| longest = longest.max(d));
    longest <= MAX_DISTINCT && tree.cover.iter().all(|c| *c > 0.0 && c.is_finite())
}

/// Calls `each` with the number of distinct features on the path to every leaf.
fn leaf_depths(t: &ShapTree, node: usize, path: &mut Vec<usize>, each: &mut impl FnMut(usize)) {
    if t.is_leaf(node) {
        each(path.len());
        return;
    }
    let f = t.feature[node];
    let fresh = !path.contains(&f);
    if fresh {
        path.push(f);
    }
    leaf_depths(t, t.left[node] as usize, path, each);
    leaf_depths(t, t.right[node] as usize, path, each);
    if fresh {
        path.pop();
    }
}

impl<'a> Tables<'a> {
    /// Builds the tables of `tree` (whose paths [`plan`] accepted).
    pub(crate) fn new(tree: &'a ShapTree) -> Self {
        let mut t = Tables {
            tree,
            internal: Vec::new(),
            leaves: Vec::new(),
            features: Vec::new(),
            coef: Vec::new(),
            table: Vec::new(),
        };
        t.build(0, &mut Vec::new(), &mut Vec::new());
        t
    }

    /// Scratch space [`Tables::shap`] needs: one word per node.
    pub(crate) fn scratch(&self) -> usize {
        self.tree.left.len()
    }

    fn build(&mut self, node: usize, features: &mut Vec<usize>, zero: &mut Vec<f64>) {
        let tree = self.tree;
        if tree.is_leaf(node) {
            let values = &tree.value[node * tree.outputs..(node + 1) * tree.outputs];
            self.leaves.push(Leaf {
                node: node as u32,
                first: self.features.len(),
                d: features.len(),
                table: self.table.len(),
            });
            self.features.extend_from_slice(features);
            self.coef.extend(zero.iter().map(|z| (1.0 - z) / z));
            let q = subset_sums(zero);
            // Π_{j ∉ B} z_j, from the full set down: drop B's lowest missing bit.
            let full = (1usize << zero.len()) - 1;
            let mut rest = vec![1.0; full + 1];
            for b in (0..full).rev() {
                let j = b.trailing_ones() as usize;
                rest[b] = zero[j] * rest[b | 1 << j];
            }
            self.table.reserve(q.len() * values.len());
            for (qb, zb) in q.iter().zip(&rest) {
                self.table.extend(values.iter().map(|v| v * qb * zb));
            }
            return;
        }
        let f = tree.feature[node];
        let cover = tree.cover[node];
        let position = features.iter().position(|&g| g == f);
        self.internal.push(Split {
            node: node as u32,
            bit: position.unwrap_or(features.len()) as u8,
            fresh: position.is_none(),
        });
        for child in [tree.left[node] as usize, tree.right[node] as usize] {
            let ratio = tree.cover[child] / cover;
            match position {
                None => {
                    features.push(f);
                    zero.push(ratio);
                    self.build(child, features, zero);
                    features.pop();
                    zero.pop();
                }
                Some(p) => {
                    let before = zero[p];
                    zero[p] = before * ratio;
                    self.build(child, features, zero);
                    zero[p] = before;
                }
            }
        }
    }

    /// Adds the tree's SHAP values for `row` to `phi` (`phi[f * total + o]`); `ones`
    /// holds [`Tables::scratch`] words.
    pub(crate) fn shap(&self, row: &[f64], phi: &mut [f64], total: usize, ones: &mut [u64]) {
        let tree = self.tree;
        // A's bits at every node: a child clears its split's bit unless the row goes
        // there, where a feature new on the path sets it.
        ones[0] = 0;
        for s in &self.internal {
            let n = s.node as usize;
            let (left, right) = (tree.left[n] as usize, tree.right[n] as usize);
            let hot = tree.next(n, row);
            let bit = 1u64 << s.bit;
            let there = if s.fresh { ones[n] | bit } else { ones[n] };
            let away = ones[n] & !bit;
            ones[left] = if hot == left { there } else { away };
            ones[right] = if hot == right { there } else { away };
        }
        let outputs = tree.outputs;
        let offset = tree.offset;
        for leaf in &self.leaves {
            let a = ones[leaf.node as usize];
            let r = &self.table[leaf.table..leaf.table + (outputs << leaf.d)];
            let features = &self.features[leaf.first..leaf.first + leaf.d];
            let coef = &self.coef[leaf.first..leaf.first + leaf.d];
            for (j, (&f, &c)) in features.iter().zip(coef).enumerate() {
                // Without branches (the bits are the row's): `A∖{j}` is `A` itself when
                // `j ∉ A`, and the scale is picked by the bit.
                let b = (a & !(1 << j)) as usize;
                let scale = [-1.0, c][((a >> j) & 1) as usize];
                if outputs == 1 {
                    phi[f * total + offset] += scale * r[b];
                } else {
                    let out = &mut phi[f * total + offset..f * total + offset + outputs];
                    for (p, q) in out.iter_mut().zip(&r[b * outputs..(b + 1) * outputs]) {
                        *p += scale * q;
                    }
                }
            }
        }
    }
}

/// `Q(B)` for every subset `B` of the path's `d` distinct features (bit `j` for feature
/// `j`): `Σ_{S ⊆ B} w(|S|) Π_{j ∈ B∖S} z_j`, `w(s) = s!(d-1-s)!/d!`. (`Q(U)` itself,
/// which no value reads, leaves out its `S = U` term, where `w` is undefined.)
fn subset_sums(zero: &[f64]) -> Vec<f64> {
    let d = zero.len();
    // w(0) = 1/d, w(s + 1) = w(s) (s + 1) / (d - 1 - s).
    let mut w = Vec::with_capacity(d);
    if d > 0 {
        w.push(1.0 / d as f64);
        for s in 0..d - 1 {
            w.push(w[s] * (s + 1) as f64 / (d - 1 - s) as f64);
        }
    }
    let mut out = vec![0.0; 1 << d];
    // poly[s]: the sum over S ⊆ B with |S| = s of Π_{B∖S} z, grown one feature at a
    // time; the subsets are enumerated depth first, one polynomial per level.
    let mut levels = vec![vec![0.0; d + 1]; d + 1];
    levels[0][0] = 1.0;
    fn go(
        j: usize,
        subset: usize,
        zero: &[f64],
        w: &[f64],
        levels: &mut [Vec<f64>],
        out: &mut [f64],
    ) {
        let d = zero.len();
        if j == d {
            out[subset] = w.iter().zip(&levels[d]).map(|(a, b)| a * b).sum();
            return;
        }
        // Without feature j: the polynomial carries over.
        let (done, rest) = levels.split_at_mut(j + 1);
        rest[0].copy_from_slice(&done[j]);
        go(j + 1, subset, zero, w, levels, out);
        // With it: either in S (one more member) or in B∖S (a factor z_j).
        let (done, rest) = levels.split_at_mut(j + 1);
        let (prev, next) = (&done[j], &mut rest[0]);
        next[0] = zero[j] * prev[0];
        for s in 1..=d {
            next[s] = prev[s - 1] + zero[j] * prev[s];
        }
        go(j + 1, subset | 1 << j, zero, w, levels, out);
    }
    go(0, 0, zero, &w, &mut levels, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::tree::Algorithm;
    use crate::model::ensemble::{Ensemble, Missing, Rule};
    use rand::{RngExt, SeedableRng};

    /// A random full tree of `depth` over 3 features (so paths repeat features), with
    /// some zero covers and two outputs.
    fn random_tree(rng: &mut rand_pcg::Pcg64, depth: usize) -> ShapTree {
        let nodes = (1 << (depth + 1)) - 1;
        let internal = (1 << depth) - 1;
        let mut t = ShapTree {
            left: (0..nodes)
                .map(|n| if n < internal { 2 * n as i32 + 1 } else { -1 })
                .collect(),
            right: (0..nodes)
                .map(|n| if n < internal { 2 * n as i32 + 2 } else { -1 })
                .collect(),
            feature: (0..nodes).map(|_| rng.random_range(0..3)).collect(),
            threshold: (0..nodes).map(|_| rng.random_range(-1.0..1.0)).collect(),
            default_left: vec![true; nodes],
            missing: vec![Missing::Nan; nodes],
            cover: vec![0.0; nodes],
            value: (0..2 * nodes)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect(),
            outputs: 2,
            offset: 0,
            rule: Rule::LessEqual,
        };
        // Covers add up from the leaves; one leaf in five has almost none.
        for n in (0..nodes).rev() {
            t.cover[n] = if n >= internal {
                if rng.random_range(0..5) == 0 {
                    1e-3
                } else {
                    rng.random_range(1.0..10.0)
                }
            } else {
                t.cover[2 * n + 1] + t.cover[2 * n + 2]
            };
        }
        t
    }

    /// The tables give the original algorithm's values, with features repeated along
    /// paths, tiny covers, several outputs, and rows with missing values.
    #[test]
    fn tables_equal_the_original_algorithm() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let e = Ensemble {
            trees: (1..=7).map(|d| random_tree(&mut rng, d)).collect(),
            outputs: 2,
            base: vec![0.0, 0.0],
        };
        let rows: Vec<Vec<f64>> = (0..50)
            .map(|i| {
                (0..4)
                    .map(|j| {
                        if (i + j) % 11 == 0 {
                            f64::NAN
                        } else {
                            rng.random_range(-1.5..1.5)
                        }
                    })
                    .collect()
            })
            .collect();
        let original = e.shap_rows_by(&rows, 4, Algorithm::Original);
        let tables = e.shap_rows_by(&rows, 4, Algorithm::Tables);
        for (a, b) in original.iter().zip(&tables) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0), "{a:?} vs {b:?}");
            }
        }
        // A tree with an empty leaf keeps the original algorithm.
        let mut empty = e.trees[3].clone();
        let leaf = empty.left.iter().position(|&l| l < 0).unwrap();
        empty.cover[leaf] = 0.0;
        assert!(!fits(&empty) && plan(&[empty], 1000) == [false]);
        // Enough rows pick the tables for every tree; one row picks none.
        assert!(plan(&e.trees, 1000).iter().all(|&t| t));
        assert!(plan(&e.trees, 1).iter().skip(1).all(|&t| !t));
    }

    /// `Q` by its definition, over every `S ⊆ B`.
    #[test]
    fn subset_sums_follow_the_definition() {
        let zero = [0.3, 0.55, 0.9, 0.1];
        let d = zero.len();
        let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        let q = subset_sums(&zero);
        // B = U is never looked up (some feature of the leaf is always left out of it).
        for (b, got) in q.iter().enumerate().take((1 << d) - 1) {
            let mut want = 0.0;
            for s in 0..1usize << d {
                if s & !b != 0 {
                    continue;
                }
                let size = s.count_ones() as usize;
                let w = fact(size) * fact(d - 1 - size) / fact(d);
                let prod: f64 = (0..d)
                    .filter(|j| b & (1 << j) != 0 && s & (1 << j) == 0)
                    .map(|j| zero[j])
                    .product();
                want += w * prod;
            }
            assert!((got - want).abs() < 1e-15, "B = {b:b}: {got} vs {want}");
        }
        assert_eq!(subset_sums(&[]), [0.0]);
    }
}
