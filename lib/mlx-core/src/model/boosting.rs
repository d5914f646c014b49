//! Gradient boosting of regression trees for squared error, as scikit-learn's
//! `GradientBoostingRegressor`: the first guess is the mean; each stage fits a CART
//! tree to the residuals (squared-error splits choose the same thresholds as
//! scikit-learn's default `friedman_mse`, since both maximise `n_l n_r / n (ȳ_l − ȳ_r)²`)
//! and adds `learning_rate` times its leaf means; `subsample` below 1 fits each stage
//! on a seeded sample drawn without replacement (stochastic gradient boosting).
//!
//! It needs no C library, so the default build has gradient boosting; XGBoost and
//! LightGBM remain the choice for large data (cargo features).

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::tree::{fit_tree, Labels, Limits, Tree};

/// A fitted booster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boosted {
    /// The first guess: the training mean.
    pub init: f64,
    /// Shrinkage applied to every tree's output.
    pub learning_rate: f64,
    /// The stages' trees, fitted to the residuals.
    pub trees: Vec<Tree>,
}

/// Settings of a fit.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Stages.
    pub n_estimators: usize,
    /// Shrinkage.
    pub learning_rate: f64,
    /// Fraction of the rows each stage is fitted on.
    pub subsample: f64,
    /// Growth limits of each tree.
    pub limits: Limits,
}

/// Fits a booster; the history holds, per stage, the training MSE and, with
/// validation rows, their RMSE.
pub fn fit(
    x: &DMatrix<f64>,
    y: &[f64],
    s: Settings,
    validation: Option<(&DMatrix<f64>, &[f64])>,
    seed: u64,
) -> (Boosted, Vec<(f64, Option<f64>)>) {
    let n = y.len();
    let init = y.iter().sum::<f64>() / n.max(1) as f64;
    let rows: Vec<Vec<f64>> = (0..n).map(|i| x.row(i).iter().copied().collect()).collect();
    let val_rows: Vec<Vec<f64>> = validation.map_or_else(Vec::new, |(xv, _)| {
        (0..xv.nrows())
            .map(|i| xv.row(i).iter().copied().collect())
            .collect()
    });
    let mut f = vec![init; n];
    let mut fv = vec![init; val_rows.len()];
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut trees = Vec::with_capacity(s.n_estimators);
    let mut history = Vec::with_capacity(s.n_estimators);
    let take = ((s.subsample * n as f64) as usize).clamp(1, n.max(1));
    let mut order: Vec<usize> = (0..n).collect();
    for stage in 0..s.n_estimators {
        let residual: Vec<f64> = y.iter().zip(&f).map(|(a, b)| a - b).collect();
        let weight = if take < n {
            order.shuffle(&mut rng);
            let mut w = vec![0.0; n];
            for &i in &order[..take] {
                w[i] = 1.0;
            }
            w
        } else {
            vec![1.0; n]
        };
        let tree = fit_tree(
            x,
            Labels::Values(&residual),
            &weight,
            s.limits,
            seed.wrapping_add(stage as u64),
        );
        let step = |r: &[f64]| s.learning_rate * tree.predict_row(r)[0];
        f.par_iter_mut()
            .zip(&rows)
            .for_each(|(fi, r)| *fi += step(r));
        fv.par_iter_mut()
            .zip(&val_rows)
            .for_each(|(fi, r)| *fi += step(r));
        let mse = y.iter().zip(&f).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n as f64;
        let val = validation.map(|(_, yv)| {
            (yv.iter()
                .zip(&fv)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / yv.len() as f64)
                .sqrt()
        });
        history.push((mse, val));
        trees.push(tree);
    }
    (
        Boosted {
            init,
            learning_rate: s.learning_rate,
            trees,
        },
        history,
    )
}

impl Boosted {
    /// Predictions (`n × 1`).
    pub fn predict(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let out: Vec<f64> = (0..x.nrows())
            .into_par_iter()
            .map(|i| {
                let row: Vec<f64> = x.row(i).iter().copied().collect();
                self.init
                    + self.learning_rate
                        * self
                            .trees
                            .iter()
                            .map(|t| t.predict_row(&row)[0])
                            .sum::<f64>()
            })
            .collect();
        DMatrix::from_vec(x.nrows(), 1, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(n_estimators: usize, learning_rate: f64, max_depth: usize) -> Settings {
        Settings {
            n_estimators,
            learning_rate,
            subsample: 1.0,
            limits: Limits {
                max_depth: Some(max_depth),
                min_samples_split: 2,
                min_samples_leaf: 1,
                max_features: 1,
            },
        }
    }

    /// One stump on four points, by hand: the mean is 2.5; the residuals −1.5, −0.5,
    /// 0.5, 1.5 split between x = 2 and 3 into leaf means −1 and 1; with shrinkage 0.5
    /// the predictions are 2.0, 2.0, 3.0, 3.0.
    #[test]
    fn one_stump_by_hand() {
        let x = DMatrix::from_vec(4, 1, vec![1.0, 2.0, 3.0, 4.0]);
        let (b, history) = fit(&x, &[1.0, 2.0, 3.0, 4.0], settings(1, 0.5, 1), None, 0);
        assert_eq!(b.init, 2.5);
        assert_eq!(b.trees[0].threshold[0], 2.5);
        assert_eq!(b.predict(&x).as_slice(), [2.0, 2.0, 3.0, 3.0]);
        // Residuals after the stage: −1, 0, 0, 1: MSE 0.5.
        assert_eq!(history, [(0.5, None)]);
    }

    /// TreeSHAP reads the booster as an ensemble whose output is its prediction, and
    /// its values add up to it.
    #[test]
    fn tree_shap_explains_the_booster() {
        let x = DMatrix::from_fn(40, 3, |i, j| ((i * (j + 3)) % 7) as f64);
        let y: Vec<f64> = (0..40)
            .map(|i| x[(i, 0)] * 2.0 - x[(i, 2)] + 0.1 * i as f64)
            .collect();
        let (b, _) = fit(&x, &y, settings(20, 0.3, 2), None, 0);
        let model = crate::model::FittedModel::Boosted(b.clone());
        let e = crate::explain::explain(
            &model,
            0,
            &x,
            &x,
            mlx_contracts::config::ShapMethod::Auto,
            1,
            0,
        )
        .unwrap();
        assert_eq!(e.method, "tree");
        assert!(crate::explain::additivity_error(&e, &model, &x).unwrap() < 1e-9);
        let pred = b.predict(&x);
        let ensemble = crate::model::ensemble::from_boosted(&b);
        for i in 0..x.nrows() {
            let row: Vec<f64> = x.row(i).iter().copied().collect();
            assert!((ensemble.output(&row)[0] - pred[(i, 0)]).abs() < 1e-9);
        }
    }

    /// scikit-learn's GradientBoostingRegressor on the diabetes data (recorded by
    /// tests/oracles/boosting.py), given the same single-precision features: the same
    /// predictions on every training row. (Held-out rows can differ: when two features
    /// split a node's rows identically, scikit-learn keeps the first in a random order
    /// of the features, mlx the first in column order; the partition, and so the fit,
    /// is the same.)
    #[test]
    fn agrees_with_scikit_learn() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let fixture: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("tests/fixtures/train/gradient_boosting.json"))
                .unwrap(),
        )
        .unwrap();
        let text = std::fs::read_to_string(root.join("tests/fixtures/train/diabetes.csv")).unwrap();
        let data: Vec<Vec<f64>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
            .collect();
        let p = data[0].len() - 1;
        let n_train = fixture["n_train"].as_u64().unwrap() as usize;
        // scikit-learn's ensembles grow their trees on single-precision features.
        let x = DMatrix::from_fn(data.len(), p, |i, j| f64::from(data[i][j] as f32));
        let y: Vec<f64> = data.iter().map(|r| r[p]).collect();
        let train = x.rows(0, n_train).into_owned();
        for case in fixture["cases"].as_array().unwrap() {
            let mut s = settings(
                case["n_estimators"].as_u64().unwrap() as usize,
                case["learning_rate"].as_f64().unwrap(),
                case["max_depth"].as_u64().unwrap() as usize,
            );
            s.limits.max_features = p;
            s.limits.min_samples_leaf = case["min_samples_leaf"].as_u64().unwrap() as usize;
            let (b, _) = fit(&train, &y[..n_train], s, None, 0);
            let got = b.predict(&train);
            for (i, want) in case["predict_train"].as_array().unwrap().iter().enumerate() {
                let want = want.as_f64().unwrap();
                assert!(
                    (got[(i, 0)] - want).abs() < 1e-8 * want.abs().max(1.0),
                    "{case}: row {i}: {} vs {want}",
                    got[(i, 0)]
                );
            }
        }
    }
}
