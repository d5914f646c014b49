//! A tree ensemble laid out for scoring one row at a time, as `mlx-serve` does.
//!
//! [`ShapTree`] keeps a node's feature, threshold, children and missing-value rule in
//! six separate arrays, which is what TreeSHAP and the exporters read. Walking a row
//! down 500 trees that way touches six cache lines a node, over about 1.6 MB for a
//! 500-tree depth-6 model: more than a core's L2. Here each node is 16 bytes (its
//! threshold, its feature with its flags, its first child) with the two children side
//! by side, each tree breadth first so that the levels every row passes stay together;
//! the same model is 1 MB. The child is chosen without a branch on the comparison, and
//! eight trees are walked side by side, a level at a time: a walk is a chain of loads
//! each waiting on the one before, and eight independent chains keep the core's loads
//! in flight together instead of one after another.
//!
//! The values are the same as [`Ensemble::output`]'s to the last bit (the same
//! comparisons, the same sums in the same order); the tests check that on random trees
//! with missing values and on every missing-value rule.

use crate::error::{Error, Result};
use crate::model::ensemble::{Ensemble, Missing, Rule, ShapTree};

/// A leaf.
const LEAF: u32 = 1 << 31;
/// A missing value goes left.
const DEFAULT_LEFT: u32 = 1 << 30;
/// LightGBM's missing type "Zero" (0 and NaN go the default way).
const ZERO: u32 = 1 << 29;
/// LightGBM's missing type "None" (NaN is read as 0).
const AS_ZERO: u32 = 1 << 28;
/// The feature index, below the flags.
const FEATURE: u32 = AS_ZERO - 1;

#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Node {
    /// The split's threshold (XGBoost's in single precision, as it compares); a leaf's
    /// value, or for several outputs where its values start in `values`.
    threshold: f64,
    /// The split's feature and the flags above.
    feature: u32,
    /// The left child (the right one follows it); a leaf itself.
    next: u32,
}

#[derive(Debug, Clone)]
struct Tree {
    root: u32,
    outputs: u32,
    offset: u32,
}

/// Trees walked side by side.
const LANES: usize = 8;

/// Up to [`LANES`] consecutive trees with one comparison rule.
#[derive(Debug, Clone)]
struct Group {
    trees: std::ops::Range<usize>,
    /// The deepest leaf's depth among them.
    depth: usize,
    /// `x < threshold` goes left (XGBoost), else `x <= threshold`.
    strict: bool,
}

/// An ensemble ready to score rows: [`Flat::output`] equals [`Ensemble::output`].
#[derive(Debug, Clone)]
pub struct Flat {
    nodes: Vec<Node>,
    values: Vec<f64>,
    trees: Vec<Tree>,
    groups: Vec<Group>,
    base: Vec<f64>,
    /// Whether some tree compares in single precision.
    single: bool,
    /// One more than the largest feature a node reads (at least 1: leaves read 0).
    width: usize,
}

fn corrupt(detail: String) -> Error {
    Error::Runtime(format!("the model's trees cannot be read: {detail}"))
}

impl Flat {
    /// Lays out an ensemble. A tree whose children point outside it or back up it
    /// (a damaged model file) is an error here rather than a panic or an endless walk
    /// when a row is scored.
    pub fn new(e: &Ensemble) -> Result<Self> {
        let mut f = Flat {
            nodes: Vec::new(),
            values: Vec::new(),
            trees: Vec::with_capacity(e.trees.len()),
            groups: Vec::new(),
            base: e.base.clone(),
            single: false,
            width: 1,
        };
        for (i, t) in e.trees.iter().enumerate() {
            if t.offset + t.outputs > e.outputs {
                return Err(corrupt(format!("tree {i} adds to output {}", t.offset)));
            }
            let strict = t.rule == Rule::Less;
            f.single |= strict;
            let root = f.nodes.len() as u32;
            let depth = f.add(t).map_err(|m| corrupt(format!("tree {i}: {m}")))?;
            f.trees.push(Tree {
                root,
                outputs: t.outputs as u32,
                offset: t.offset as u32,
            });
            match f.groups.last_mut() {
                Some(g) if g.strict == strict && g.trees.len() < LANES => {
                    g.trees.end = i + 1;
                    g.depth = g.depth.max(depth);
                }
                _ => f.groups.push(Group {
                    trees: i..i + 1,
                    depth,
                    strict,
                }),
            }
        }
        if f.nodes.len() > u32::MAX as usize / 2 || f.values.len() > u32::MAX as usize {
            return Err(corrupt("more than 2^31 nodes".into()));
        }
        Ok(f)
    }

    /// Appends one tree, breadth first, each node's children side by side; its depth.
    fn add(&mut self, t: &ShapTree) -> std::result::Result<usize, String> {
        let n = t.left.len();
        let sizes = [t.right.len(), t.feature.len(), t.threshold.len()];
        if n == 0 || sizes.iter().any(|&s| s != n) || t.value.len() < n * t.outputs {
            return Err("its node arrays differ in length".into());
        }
        let mut seen = vec![false; n];
        let mut depth = 0;
        // (node in `t`, its slot here, its depth)
        let mut queue = std::collections::VecDeque::from([(0usize, self.nodes.len(), 0)]);
        self.nodes.push(Node {
            threshold: 0.0,
            feature: 0,
            next: 0,
        });
        while let Some((old, slot, d)) = queue.pop_front() {
            if std::mem::replace(&mut seen[old], true) {
                return Err(format!("node {old} is reached twice"));
            }
            depth = depth.max(d);
            if t.is_leaf(old) {
                // A leaf goes to itself. Its value is in place of a threshold, or for
                // several outputs, where they start in `values`.
                let values = &t.value[old * t.outputs..(old + 1) * t.outputs];
                self.nodes[slot] = Node {
                    threshold: if t.outputs == 1 {
                        values[0]
                    } else {
                        self.values.len() as f64
                    },
                    feature: LEAF,
                    next: slot as u32,
                };
                if t.outputs > 1 {
                    self.values.extend_from_slice(values);
                }
                continue;
            }
            let (l, r) = (t.left[old], t.right[old]);
            if l as usize >= n || r < 0 || r as usize >= n {
                return Err(format!("node {old} has children {l} and {r}"));
            }
            if t.feature[old] > FEATURE as usize {
                return Err(format!("node {old} splits on feature {}", t.feature[old]));
            }
            self.width = self.width.max(t.feature[old] + 1);
            let mut flags = t.feature[old] as u32;
            if t.default_left[old] {
                flags |= DEFAULT_LEFT;
            }
            flags |= match t.missing[old] {
                Missing::Nan => 0,
                Missing::Zero => ZERO,
                Missing::AsZero => AS_ZERO,
            };
            let next = self.nodes.len();
            self.nodes[slot] = Node {
                threshold: match t.rule {
                    Rule::LessEqual => t.threshold[old],
                    Rule::Less => t.threshold[old] as f32 as f64,
                },
                feature: flags,
                next: next as u32,
            };
            self.nodes.extend([self.nodes[slot]; 2]);
            queue.push_back((l as usize, next, d + 1));
            queue.push_back((r as usize, next + 1, d + 1));
        }
        Ok(depth)
    }

    /// The raw output (margin) of a row: the base plus each tree's leaf value.
    pub fn output(&self, row: &[f64]) -> Vec<f64> {
        // Every feature a node reads is in the row (a short row's rest is missing).
        let padded: Vec<f64>;
        let row = if row.len() < self.width {
            padded = row
                .iter()
                .copied()
                .chain(std::iter::repeat(f64::NAN))
                .take(self.width)
                .collect();
            &padded
        } else {
            row
        };
        // XGBoost compares in single precision: the row rounded once, compared in
        // double precision with thresholds rounded the same way (exact, as every f32
        // is an f64 and the rounding keeps order).
        let rounded: Vec<f64> = if self.single {
            row.iter().map(|&x| x as f32 as f64).collect()
        } else {
            Vec::new()
        };
        let mut out = self.base.clone();
        let mut at = [0u32; LANES];
        for g in &self.groups {
            let trees = &self.trees[g.trees.clone()];
            let (x, strict) = if g.strict {
                (rounded.as_slice(), true)
            } else {
                (row, false)
            };
            for (a, t) in at.iter_mut().zip(trees) {
                *a = t.root;
            }
            // The group's trees a level at a time: their loads do not wait on each
            // other, so the core overlaps them. A lane at its leaf stays there.
            for _ in 0..g.depth {
                for a in &mut at[..trees.len()] {
                    *a = self.step(*a, row, x, strict);
                }
            }
            for (&a, t) in at.iter().zip(trees) {
                let leaf = &self.nodes[a as usize];
                if t.outputs == 1 {
                    out[t.offset as usize] += leaf.threshold;
                } else {
                    let v = &self.values[leaf.threshold as usize..][..t.outputs as usize];
                    for (o, v) in out[t.offset as usize..].iter_mut().zip(v) {
                        *o += v;
                    }
                }
            }
        }
        out
    }

    /// The node after `n` for a row: `x` is the row as the tree compares it (`row`
    /// itself, or rounded); `strict`: `x < threshold` goes left, else
    /// `x <= threshold`. A leaf goes to itself.
    #[inline(always)]
    fn step(&self, n: u32, row: &[f64], x: &[f64], strict: bool) -> u32 {
        let node = self.nodes[n as usize];
        let f = (node.feature & FEATURE) as usize;
        let mut v = x[f];
        let default_left = node.feature & DEFAULT_LEFT != 0;
        let left = if node.feature & (ZERO | AS_ZERO) == 0 {
            // NaN compares false: it goes left only by default.
            let below = if strict {
                v < node.threshold
            } else {
                v <= node.threshold
            };
            below | (v.is_nan() & default_left) | (node.feature & LEAF != 0)
        } else if node.feature & ZERO != 0 && (v.is_nan() || row[f].abs() <= 1e-35) {
            default_left
        } else {
            if v.is_nan() {
                v = 0.0;
            }
            if strict {
                v < node.threshold
            } else {
                v <= node.threshold
            }
        };
        node.next + u32::from(!left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// A random tree of about `nodes` nodes over 4 features, its nodes numbered in a
    /// shuffled order, with every missing-value rule and both default sides.
    fn random_tree(
        rng: &mut rand_pcg::Pcg64,
        leaves: usize,
        rule: Rule,
        outputs: usize,
    ) -> ShapTree {
        // Grow by splitting a random leaf until there are `leaves`.
        let mut left = vec![-1i32];
        let mut right = vec![-1i32];
        let mut open = vec![0usize];
        while open.len() < leaves {
            let at = open.swap_remove(rng.random_range(0..open.len()));
            let (l, r) = (left.len(), left.len() + 1);
            left[at] = l as i32;
            right[at] = r as i32;
            left.extend([-1, -1]);
            right.extend([-1, -1]);
            open.extend([l, r]);
        }
        let n = left.len();
        // Renumber: node i becomes perm[i], so children can come before parents
        // (the root stays 0).
        let mut perm: Vec<usize> = (1..n).collect();
        for i in (1..perm.len()).rev() {
            perm.swap(i, rng.random_range(0..=i));
        }
        perm.insert(0, 0);
        let at = |c: i32| if c < 0 { -1 } else { perm[c as usize] as i32 };
        let mut t = ShapTree {
            left: vec![-1; n],
            right: vec![-1; n],
            feature: vec![0; n],
            threshold: vec![0.0; n],
            default_left: vec![false; n],
            missing: vec![Missing::Nan; n],
            cover: vec![1.0; n],
            value: vec![0.0; n * outputs],
            outputs,
            offset: 0,
            rule,
        };
        for i in 0..n {
            let p = perm[i];
            t.left[p] = at(left[i]);
            t.right[p] = at(right[i]);
            t.feature[p] = rng.random_range(0..4);
            // Thresholds on a coarse grid, so rows land on them exactly.
            t.threshold[p] = f64::from(rng.random_range(-4i32..=4)) / 4.0
                + 1e-9 * f64::from(rng.random_range(0i32..2));
            t.default_left[p] = rng.random_range(0..2) == 0;
            t.missing[p] = [Missing::Nan, Missing::Zero, Missing::AsZero][rng.random_range(0..3)];
            for o in 0..outputs {
                t.value[p * outputs + o] = rng.random_range(-2.0..2.0);
            }
        }
        t
    }

    fn row(rng: &mut rand_pcg::Pcg64) -> Vec<f64> {
        (0..4)
            .map(|_| match rng.random_range(0..6) {
                0 => f64::NAN,
                1 => 0.0,
                2 => -0.0,
                3 => f64::from(rng.random_range(-4i32..=4)) / 4.0,
                4 => [1e-40, 1e-35, 1.000_000_01e-35, -1e-35][rng.random_range(0..4)],
                _ => rng.random_range(-1.5..1.5),
            })
            .collect()
    }

    /// The layout scores every row to the bit as the ensemble's own walk does, for
    /// both comparison rules, one and several outputs, values on the thresholds,
    /// NaN, signed and tiny zeros under every missing-value rule.
    #[test]
    fn scores_as_the_ensemble_does() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        for (rule, outputs) in [(Rule::Less, 1), (Rule::LessEqual, 1), (Rule::LessEqual, 3)] {
            let mut trees: Vec<ShapTree> = (0..40)
                .map(|i| random_tree(&mut rng, 1 + i % 13, rule, outputs))
                .collect();
            // Trees adding to different outputs, as a multiclass booster's do.
            if outputs == 1 {
                for (i, t) in trees.iter_mut().enumerate() {
                    t.offset = i % 2;
                }
            }
            let e = Ensemble {
                trees,
                outputs: outputs.max(2),
                base: vec![0.25, -0.5, 0.125][..outputs.max(2)].to_vec(),
            };
            let flat = Flat::new(&e).unwrap();
            for _ in 0..2000 {
                let r = row(&mut rng);
                let (a, b) = (e.output(&r), flat.output(&r));
                assert_eq!(
                    a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{rule:?} {r:?}"
                );
            }
        }
    }

    /// One XGBoost split at `threshold` on feature 0, its leaves `left` and `right`.
    fn stump(threshold: f64, left: f64, right: f64) -> ShapTree {
        ShapTree {
            left: vec![1, -1, -1],
            right: vec![2, -1, -1],
            feature: vec![0; 3],
            threshold: vec![threshold, 0.0, 0.0],
            default_left: vec![false; 3],
            missing: vec![Missing::Nan; 3],
            cover: vec![1.0; 3],
            value: vec![0.0, left, right],
            outputs: 1,
            offset: 0,
            rule: Rule::Less,
        }
    }

    /// XGBoost's single-precision comparison: a value just below a threshold in double
    /// precision is equal to it in single precision, so it goes right.
    #[test]
    fn compares_in_single_precision_for_xgboost() {
        let t = stump(0.1, 10.0, 20.0);
        let e = Ensemble {
            trees: vec![t],
            outputs: 1,
            base: vec![0.0],
        };
        let flat = Flat::new(&e).unwrap();
        let below = 0.1 - 1e-12;
        assert!(below < 0.1 && below as f32 == 0.1f32);
        assert_eq!(flat.output(&[below]), vec![20.0]);
        assert_eq!(flat.output(&[0.09]), vec![10.0]);
        assert_eq!(flat.output(&[f64::NAN]), vec![20.0]);
    }

    /// A damaged tree is refused when the model is loaded, with what is wrong.
    #[test]
    fn refuses_damaged_trees() {
        let good = stump(0.0, 0.0, 0.0);
        let with = |f: &dyn Fn(&mut ShapTree)| {
            let mut t = good.clone();
            f(&mut t);
            let e = Ensemble {
                trees: vec![good.clone(), t],
                outputs: 1,
                base: vec![0.0],
            };
            Flat::new(&e).map(|_| ()).unwrap_err().to_string()
        };
        assert!(with(&|t| t.left[0] = 0).contains("tree 1: node 0 is reached twice"));
        assert!(with(&|t| t.right[0] = 7).contains("tree 1: node 0 has children 1 and 7"));
        assert!(with(&|t| t.right[0] = 1).contains("reached twice"));
        assert!(with(&|t| t.offset = 1).contains("tree 1 adds to output 1"));
        assert!(with(&|t| t.feature.pop().map_or((), drop)).contains("differ in length"));
    }
}
