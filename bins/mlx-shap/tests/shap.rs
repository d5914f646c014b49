//! `mlx-shap`: TreeSHAP against XGBoost's and LightGBM's own contributions and against
//! brute-force Shapley values of the same value function, linear and kernel SHAP
//! against the `shap` package (tests/oracles/shap_values.py), and the stage end to end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlx_contracts::config::{ModelType, ParamValue};
use mlx_contracts::shap::ShapReport;
use mlx_core::explain::kernel;
use mlx_core::explain::tree::Algorithm;
use mlx_core::model::ensemble as tree;
use mlx_core::model::svm::{scale_gamma, Kernel, Svm};
use mlx_core::model::{self, FittedModel, Target};
use nalgebra::DMatrix;
use predicates::prelude::*;
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/shap/shap.json")).unwrap(),
    )
    .unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A dataset's features and target as written in tests/fixtures/train.
fn dataset(name: &str) -> (DMatrix<f64>, Vec<String>) {
    let text =
        std::fs::read_to_string(root().join(format!("tests/fixtures/train/{name}.csv"))).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let p = rows[0].len() - 1;
    let x = DMatrix::from_fn(rows.len(), p, |i, j| rows[i][j].parse().unwrap());
    (x, rows.iter().map(|r| r[p].to_string()).collect())
}

fn split(name: &str, key: &str) -> Vec<usize> {
    let s: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/train/scores.json")).unwrap(),
    )
    .unwrap();
    s[name][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

fn row(x: &DMatrix<f64>, i: usize) -> Vec<f64> {
    x.row(i).iter().copied().collect()
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}[{k}]: mlx {g}, reference {w}"
        );
    }
}

/// Per row, `features + 1` contributions (the last is the bias) of each output, as
/// XGBoost and LightGBM lay them out.
fn compare_tree(
    what: &str,
    e: &tree::Ensemble,
    x: &DMatrix<f64>,
    rows: &[usize],
    want: &[Vec<f64>],
    tol: f64,
) {
    let p = x.ncols();
    let k = e.outputs;
    let base = e.expected();
    // Both algorithms: the original, and the per-leaf tables (FastTreeSHAP v2's idea).
    let all: Vec<Vec<f64>> = rows.iter().map(|&i| row(x, i)).collect();
    let by = |algorithm| e.shap_rows_by(&all, p, algorithm);
    let (original, tables) = (by(Algorithm::Original), by(Algorithm::Tables));
    for (n, &i) in rows.iter().enumerate() {
        close(
            &format!("{what} tables row {n}"),
            &tables[n],
            &original[n],
            1e-12,
        );
        let phi = &original[n];
        let mut got = Vec::new();
        for o in 0..k {
            got.extend((0..p).map(|f| phi[f * k + o]));
            got.push(base[o]);
        }
        close(&format!("{what} row {n}"), &got, &want[n], tol);
        // The contributions add up to the library's margin, which is what mlx-serve's
        // tree walker returns before the link.
        let margins: Vec<f64> = (0..k)
            .map(|o| want[n][o * (p + 1)..(o + 1) * (p + 1)].iter().sum())
            .collect();
        close(
            &format!("{what} margin row {n}"),
            &e.output(&row(x, i)),
            &margins,
            tol,
        );
    }
}

#[test]
fn tree_shap_of_xgboost_models_equals_pred_contribs() {
    let f = fixture();
    let cases: [(&str, &str, usize, PathBuf); 3] = [
        (
            "breast_cancer",
            "xgboost_breast_cancer",
            2,
            root().join("tests/fixtures/train/models/breast_cancer.xgb.json"),
        ),
        (
            "wine",
            "xgboost_wine",
            3,
            root().join("tests/fixtures/shap/wine.xgb.json"),
        ),
        (
            "diabetes",
            "xgboost_diabetes",
            0,
            root().join("tests/fixtures/shap/diabetes.xgb.json"),
        ),
    ];
    for (data, key, classes, path) in cases {
        let (x, _) = dataset(data);
        let e = tree::from_xgboost(&std::fs::read(path).unwrap(), classes).unwrap();
        // XGBoost's layout: rows × (classes ×) (features + 1).
        let want: Vec<Vec<f64>> = f[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| match r.as_array().unwrap()[0] {
                Value::Array(_) => r.as_array().unwrap().iter().flat_map(floats).collect(),
                _ => floats(r),
            })
            .collect();
        compare_tree(key, &e, &x, &split(data, "test"), &want, 1e-5);
    }
}

#[test]
fn tree_shap_of_lightgbm_models_equals_pred_contrib() {
    let f = fixture();
    for (data, key, classes, path) in [
        (
            "breast_cancer",
            "lightgbm_breast_cancer",
            2,
            root().join("tests/fixtures/train/models/breast_cancer.lgb.txt"),
        ),
        (
            "wine",
            "lightgbm_wine",
            3,
            root().join("tests/fixtures/shap/wine.lgb.txt"),
        ),
    ] {
        let (x, _) = dataset(data);
        let e = tree::from_lightgbm(&std::fs::read(path).unwrap(), classes).unwrap();
        let want: Vec<Vec<f64>> = f[key].as_array().unwrap().iter().map(floats).collect();
        compare_tree(key, &e, &x, &split(data, "test"), &want, 1e-9);
    }
}

/// The path-dependent value function by its definition: follow the row where the
/// feature is known, else average the children by cover.
fn expected_given(t: &tree::ShapTree, x: &[f64], known: &[bool], node: usize, o: usize) -> f64 {
    if t.left[node] < 0 {
        return t.value[node * t.outputs + o];
    }
    let (l, r) = (t.left[node] as usize, t.right[node] as usize);
    let f = t.feature[node];
    if known[f] {
        let next = if x[f] <= t.threshold[node] { l } else { r };
        expected_given(t, x, known, next, o)
    } else {
        (t.cover[l] * expected_given(t, x, known, l, o)
            + t.cover[r] * expected_given(t, x, known, r, o))
            / t.cover[node]
    }
}

#[test]
fn tree_shap_of_mlx_forests_equals_brute_force_shapley_values() {
    let (x, labels) = dataset("wine");
    // Four features keep the brute force small; three classes, several trees.
    let x = x.columns(0, 4).into_owned();
    let classes: Vec<String> = {
        let mut c = labels.clone();
        c.sort();
        c.dedup();
        c
    };
    let codes: Vec<usize> = labels
        .iter()
        .map(|l| classes.iter().position(|c| c == l).unwrap())
        .collect();
    let params: BTreeMap<String, ParamValue> = [
        ("n_estimators".to_string(), ParamValue::Int(5)),
        ("max_depth".to_string(), ParamValue::Int(4)),
    ]
    .into();
    let fit = model::fit(
        ModelType::RandomForest,
        &params,
        &x,
        Target::Classes(&codes, &classes),
        None,
        3,
    )
    .unwrap();
    let FittedModel::Forest(forest) = &fit.model else {
        panic!()
    };
    let e = tree::from_forest(forest);
    let p = 4;
    let fact = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    for i in [0, 50, 100, 150] {
        let r = row(&x, i);
        let phi = e.shap(&r, p);
        let tables = e.shap_rows_by(std::slice::from_ref(&r), p, Algorithm::Tables);
        close(&format!("forest tables row {i}"), &tables[0], &phi, 1e-12);
        let v = |s: usize, o: usize| -> f64 {
            let known: Vec<bool> = (0..p).map(|j| s & (1 << j) != 0).collect();
            e.trees
                .iter()
                .map(|t| expected_given(t, &r, &known, 0, o))
                .sum()
        };
        for o in 0..3 {
            for j in 0..p {
                let mut want = 0.0;
                for s in 0..1usize << p {
                    if s & (1 << j) != 0 {
                        continue;
                    }
                    let size = s.count_ones() as usize;
                    let w = fact(size) * fact(p - size - 1) / fact(p);
                    want += w * (v(s | (1 << j), o) - v(s, o));
                }
                let got = phi[j * 3 + o];
                assert!(
                    (got - want).abs() < 1e-12,
                    "row {i} class {o} feature {j}: {got} vs {want}"
                );
            }
            // Additivity: the base plus the values is the forest's probability.
            let total = e.expected()[o] + (0..p).map(|j| phi[j * 3 + o]).sum::<f64>();
            let pred = fit.model.predict(&x.rows(i, 1).into_owned()).unwrap()[(0, o)];
            assert!(
                (total - pred).abs() < 1e-12,
                "row {i} class {o}: {total} vs {pred}"
            );
        }
    }
}

/// Standardised with the training rows' mean and (population) deviation.
fn standardise(x: &DMatrix<f64>, rows: &[usize]) -> DMatrix<f64> {
    let mut out = x.clone();
    for j in 0..x.ncols() {
        let v: Vec<f64> = rows.iter().map(|&i| x[(i, j)]).collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64).sqrt();
        for i in 0..x.nrows() {
            out[(i, j)] = (x[(i, j)] - m) / sd;
        }
    }
    out
}

#[test]
fn linear_shap_matches_the_shap_package() {
    let f = &fixture()["linear_breast_cancer"];
    let (x, labels) = dataset("breast_cancer");
    let all: Vec<usize> = (0..x.nrows()).collect();
    let xs = standardise(&x, &all);
    let classes = vec!["benign".to_string(), "malignant".to_string()];
    let codes: Vec<usize> = labels
        .iter()
        .map(|l| usize::from(l == "malignant"))
        .collect();
    // The fixture's model is solved to the optimum (newton-cholesky, tol=1e-12).
    let exact = BTreeMap::from([("tol".to_string(), ParamValue::Float(1e-10))]);
    let fit = model::fit(
        ModelType::Logistic,
        &exact,
        &xs,
        Target::Classes(&codes, &classes),
        None,
        0,
    )
    .unwrap();
    let FittedModel::Linear(m) = &fit.model else {
        panic!()
    };
    let train = &split("breast_cancer", "train")[..100];
    let mean: Vec<f64> = (0..xs.ncols())
        .map(|j| train.iter().map(|&i| xs[(i, j)]).sum::<f64>() / train.len() as f64)
        .collect();
    for (n, &i) in split("breast_cancer", "test").iter().enumerate() {
        let (phi, base) = kernel::linear(m, &row(&xs, i), &mean);
        close(
            &format!("linear row {n}"),
            &phi,
            &floats(&f["values"][n]),
            1e-5,
        );
        close("linear base", &base, &[f["base"].as_f64().unwrap()], 1e-5);
    }
}

#[test]
fn exact_kernel_shap_matches_the_shap_package_enumerating_every_coalition() {
    let f = &fixture()["kernel_diabetes"];
    let (x, target) = dataset("diabetes");
    let y: Vec<f64> = target.iter().map(|v| v.parse().unwrap()).collect();
    let (train, test) = (split("diabetes", "train"), split("diabetes", "test"));
    let xs = standardise(&x, &train);
    let xt = DMatrix::from_fn(train.len(), xs.ncols(), |i, j| xs[(train[i], j)]);
    let yt: Vec<f64> = train.iter().map(|&i| y[i]).collect();
    let svr = Svm::regressor(
        &xt,
        &yt,
        Kernel::Rbf {
            gamma: scale_gamma(&xt),
        },
        100.0,
        5.0,
        1e-8,
    );
    let predict = |m: &DMatrix<f64>| Ok(svr.predict(m));
    let background = xt.rows(0, 10).into_owned();
    for n in 0..20 {
        let (phi, base) = kernel::exact(&predict, &row(&xs, test[n]), &background).unwrap();
        close(
            &format!("kernel row {n}"),
            &phi,
            &floats(&f["values"][n]),
            1e-4,
        );
        close("kernel base", &base, &[f["base"].as_f64().unwrap()], 1e-5);
    }
}

use mlx_testkit::{command_in as bin, root, Sandbox};

fn project(models: &str) -> Sandbox {
    let s = Sandbox::new();
    s.copy(
        &root().join("tests/fixtures/train/breast_cancer.csv"),
        "breast_cancer.csv",
    );
    s.write(
        "mlx.yaml",
        &format!(
            "data:\n  sources: [{{ name: bc, uri: breast_cancer.csv }}]\n  target: target\npipeline:\n  problem_type: classification\nfeatures:\n  transforms: [{{ kind: scale, strategy: zscore }}]\nmodels:\n{models}explain:\n  max_samples: 40\n  top_k: 5\n"
        ),
    );
    s
}

fn report(dir: &Path, run: &str) -> ShapReport {
    serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!(".mlx/runs/{run}/shap.json"))).unwrap(),
    )
    .unwrap()
}

#[test]
fn the_stage_explains_the_best_run_and_compares_with_a_baseline() {
    let dir = project("  - { type: random_forest, params: { n_estimators: 20, max_depth: 5 } }\n  - { name: stump, type: decision_tree, params: { max_depth: 1 } }\n");
    let d = dir.path();
    bin(d, "mlx")
        .args(["run", "--to", "shap"])
        .assert()
        .success();
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(".mlx/shap.json")).unwrap()).unwrap();
    let run = rec["details"]["run_id"].as_str().unwrap().to_string();
    assert!(run.starts_with("random_forest-"), "the best run: {run}");
    let r = report(d, &run);
    assert_eq!(r.method, "tree");
    assert_eq!(r.output_space, "probability");
    assert_eq!(r.rows, 40);
    assert!(r.additivity_max_error < 1e-9, "{}", r.additivity_max_error);
    assert_eq!(r.outputs.len(), 2);
    assert!(r
        .importance
        .windows(2)
        .all(|w| w[0].mean_abs >= w[1].mean_abs));
    assert_eq!(r.plots.len(), 4);
    for p in &r.plots {
        assert!(std::fs::read_to_string(d.join(".mlx").join(p))
            .unwrap()
            .starts_with("<svg"));
    }
    // The values file: one row per explained row and output, adding up.
    let values = mlx_data::read_table(&d.join(".mlx").join(&r.values_file)).unwrap();
    assert_eq!(values.height(), 80);
    let md = std::fs::read_to_string(d.join(".mlx/reports/shap.md")).unwrap();
    assert!(md.contains("xychart-beta horizontal"), "{md}");

    // Against itself: no shift. Against the stump (one feature): a flagged shift.
    let own = d.join(format!(".mlx/runs/{run}/shap.json"));
    let copy = d.join("baseline.json");
    std::fs::copy(&own, &copy).unwrap();
    bin(d, "mlx-shap")
        .args(["--baseline", "baseline.json"])
        .assert()
        .success();
    let s = report(d, &run).shift.unwrap();
    assert!(
        (s.spearman - 1.0).abs() < 1e-12 && s.l1_distance < 1e-12 && !s.flagged,
        "{s:?}"
    );
    let board: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(".mlx/leaderboard.json")).unwrap())
            .unwrap();
    let stump_run = board["entries"][1]["run_id"].as_str().unwrap().to_string();
    bin(d, "mlx-shap")
        .args(["--run", &stump_run])
        .assert()
        .success();
    let stump_report = d.join(format!(".mlx/runs/{stump_run}/shap.json"));
    bin(d, "mlx-shap")
        .args(["--baseline", stump_report.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains("SHAP shift flagged"));
    let s = report(d, &run).shift.unwrap();
    assert!(s.flagged && !s.reasons.is_empty(), "{s:?}");
}

#[test]
fn a_bundle_explains_a_file_without_a_config_and_mistakes_are_named() {
    let dir = project("  - { type: logistic }\n");
    let d = dir.path();
    bin(d, "mlx")
        .args(["run", "--to", "train"])
        .assert()
        .success();
    let bundle = std::fs::read_dir(d.join(".mlx/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("bundle");
    let out = bin(d, "mlx-shap")
        .args([
            "explain",
            "--bundle",
            bundle.to_str().unwrap(),
            "--data",
            "breast_cancer.csv",
            "--max-rows",
            "25",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r: ShapReport = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (r.method.as_str(), r.output_space.as_str(), r.rows),
        ("linear", "margin", 25)
    );
    assert!(r.additivity_max_error < 1e-9);
    assert!(d.join("shap/shap_values.parquet").exists());
    // An unknown run is named with the runs there are.
    bin(d, "mlx-shap")
        .args(["--run", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "train.json has no run `nope`; its runs are: logistic-",
        ));
    // Without mlx-eval there is no best run to pick.
    bin(d, "mlx-shap")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("run `mlx-eval` first"));
    // TreeSHAP asked of a linear model.
    let cfg = std::fs::read_to_string(d.join("mlx.yaml"))
        .unwrap()
        .replace("max_samples: 40", "max_samples: 40\n  method: tree");
    std::fs::write(d.join("mlx.yaml"), cfg).unwrap();
    let run = std::fs::read_dir(d.join(".mlx/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    bin(d, "mlx-shap")
        .args(["--run", run.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`explain.method: tree` needs a tree model",
        ));
}

/// A booster bundle, explained in margin space through the model file's own trees, adds
/// up to the library's prediction (run by tests/run.sh with the backends built).
#[cfg(any(feature = "xgboost", feature = "lightgbm"))]
fn booster_explained(model: &str) {
    let dir = project(&format!(
        "  - {{ type: {model}, params: {{ n_estimators: 40 }} }}\n"
    ));
    let d = dir.path();
    bin(d, "mlx")
        .args(["run", "--to", "shap"])
        .assert()
        .success();
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(".mlx/shap.json")).unwrap()).unwrap();
    let r = report(d, rec["details"]["run_id"].as_str().unwrap());
    assert_eq!(
        (r.method.as_str(), r.output_space.as_str()),
        ("tree", "margin")
    );
    assert_eq!(r.outputs, ["malignant"]);
    assert!(r.additivity_max_error < 1e-4, "{}", r.additivity_max_error);
}

#[cfg(feature = "xgboost")]
#[test]
fn an_xgboost_bundle_is_explained_in_margin_space() {
    booster_explained("xgboost");
}

#[cfg(feature = "lightgbm")]
#[test]
fn a_lightgbm_bundle_is_explained_in_margin_space() {
    booster_explained("lightgbm");
}

#[test]
fn model_agnostic_shap_stays_within_its_evaluation_budget() {
    let dir = project("  - { type: svm }\n");
    let d = dir.path();
    let cfg = std::fs::read_to_string(d.join("mlx.yaml"))
        .unwrap()
        .replace(
            "  top_k: 5\n",
            "  top_k: 5\n  background_samples: 20\n  max_evaluations: 200000\n",
        );
    std::fs::write(d.join("mlx.yaml"), cfg).unwrap();
    bin(d, "mlx")
        .args(["run", "--to", "shap"])
        .assert()
        .success();
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(".mlx/shap.json")).unwrap()).unwrap();
    let r = report(d, rec["details"]["run_id"].as_str().unwrap());
    // 30 features: permutation SHAP, 2 × 10 permutations × 31 prefixes × 20 background
    // rows = 12,400 evaluations a row, so 16 of the 40 rows fit in 200,000.
    assert_eq!(r.method, "permutation");
    assert_eq!((r.rows, r.background_rows), (16, 20));
    assert!(r.additivity_max_error < 1e-9, "{}", r.additivity_max_error);
}
