//! `mlx-features` end to end: derived features against pandas, splits against
//! scikit-learn, transforms against scikit-learn, the point-in-time join against a
//! brute-force reference, the online stores (embedded and Redis), the bit-identity of
//! the online and batch paths, and bad input.

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use mlx_contracts::features::{FeaturesReport, OnlineRecord, Preprocessor};
use mlx_contracts::StageRecord;
use mlx_core::features::split;
use mlx_core::featurestore as store;
use mlx_core::model::transform;
use mlx_data::polars::prelude::*;
use mlx_testkit::{command_in, root};
use predicates::prelude::*;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let p = root().join("tests/fixtures/features").join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn bin(dir: &Path) -> Command {
    command_in(dir, "mlx-features")
}

fn read(path: &Path) -> DataFrame {
    mlx_data::read_table(path).unwrap()
}

fn record(dir: &Path) -> (StageRecord, FeaturesReport) {
    let rec =
        StageRecord::from_json(&std::fs::read_to_string(dir.join(".mlx/features.json")).unwrap())
            .unwrap();
    let rep = serde_json::from_value(rec.details.clone()).unwrap();
    (rec, rep)
}

fn floats(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let c = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
    c.f64().unwrap().iter().collect()
}

const PANEL: &str = "\
data:
  target: sales
  time_column: date
  entity_columns: [store]
pipeline:
  problem_type: regression
split:
  strategy: temporal
features:
  incomplete_rows: keep
  exclude: [store]
  derived:
    - {name: lag_1, kind: lag, column: sales, periods: 1}
    - {name: lag_7, kind: lag, column: sales, periods: 7}
    - {name: diff_1, kind: diff, column: sales}
    - {name: rolling_mean_7, kind: rolling, column: sales, window: 7, agg: mean}
    - {name: rolling_std_7, kind: rolling, column: sales, window: 7, agg: std}
    - {name: rolling_max_3, kind: rolling, column: sales, window: 3, min_periods: 2, agg: max}
    - {name: rolling_sum_7d, kind: rolling, column: sales, window: 7d, agg: sum}
    - {name: expanding_mean, kind: expanding, column: sales, agg: mean}
    - {name: prev_rolling_mean_3, kind: rolling, column: sales, window: 3, agg: mean, periods: 1}
    - {name: dow, kind: calendar, part: day_of_week}
    - {name: month, kind: calendar, part: month}
    - {name: day, kind: cyclical, part: day_of_week}
    - {name: is_holiday, kind: holiday, dates: ['2024-01-01', '2024-01-15', '2024-02-19']}
    - {name: store_mean_price, kind: group_agg, column: price, agg: mean}
    - {name: price_ratio, kind: expr, expr: price / competitor_price}
";

/// A temporary directory holding `files` (name, text).
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn panel_dir(config: &str) -> tempfile::TempDir {
    let panel = std::fs::read_to_string(root().join("tests/fixtures/features/panel.csv")).unwrap();
    dir_with(&[("panel.csv", &panel), ("mlx.yaml", config)])
}

mod derived {
    use super::*;

    #[test]
    fn every_kind_matches_pandas_row_for_row() {
        let dir = panel_dir(PANEL);
        let d = dir.path();
        bin(d)
            .args(["--data", "panel.csv"])
            .assert()
            .success()
            .stderr(predicate::str::contains(
                "`rolling_mean_7` includes the current row's target `sales`",
            ));
        let df = read(&d.join(".mlx/features/features.parquet"));
        let want = fixture("panel.json");
        // Same row order: time order, ties in file order.
        let order: Vec<String> = df
            .column("store")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .zip(
                df.column("date")
                    .unwrap()
                    .cast(&DataType::String)
                    .unwrap()
                    .str()
                    .unwrap()
                    .iter(),
            )
            .map(|(s, t)| format!("{}|{}", s.unwrap(), t.unwrap()))
            .collect();
        let want_order: Vec<String> = want["order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(order, want_order);
        for (name, values) in want["columns"].as_object().unwrap() {
            let got: Vec<Option<f64>> = if name == "is_holiday" {
                df.column(name.as_str())
                    .unwrap()
                    .bool()
                    .unwrap()
                    .iter()
                    .map(|b| b.map(f64::from))
                    .collect()
            } else {
                floats(&df, name)
            };
            for (i, (g, w)) in got.iter().zip(values.as_array().unwrap()).enumerate() {
                let w = w.as_f64().or_else(|| w.as_bool().map(f64::from));
                match (g, w) {
                    (None, None) => {}
                    (Some(g), Some(w)) => assert!(
                        (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                        "{name} row {i} ({}): mlx {g}, pandas {w}",
                        want_order[i]
                    ),
                    _ => panic!(
                        "{name} row {i} ({}): mlx {g:?}, pandas {w:?}",
                        want_order[i]
                    ),
                }
            }
        }
        let (rec, rep) = record(d);
        assert_eq!(rec.status, mlx_contracts::Status::Warned);
        assert_eq!(rep.rows_in, 117);
        assert_eq!(rep.rows_dropped, 0);
        // dow, month and the two cyclical columns are new model inputs too.
        assert!(rep.outputs.contains(&"day_sin".to_string()));
    }

    #[test]
    fn holidays_come_from_the_config_and_a_file() {
        let cfg = PANEL.split("  derived:\n").next().unwrap().to_string()
            + "  derived:\n    - {name: h, kind: holiday, dates: ['2024-01-02'], dates_file: holidays.txt}\n";
        let dir = panel_dir(&cfg);
        let d = dir.path();
        std::fs::write(
            d.join("holidays.txt"),
            "# school holidays\n2024-01-05\n\n2024-02-01\n",
        )
        .unwrap();
        bin(d).args(["--data", "panel.csv"]).assert().success();
        let f = read(&d.join(".mlx/features/features.parquet"));
        let dates = f.column("date").unwrap().cast(&DataType::String).unwrap();
        let flagged: std::collections::BTreeSet<String> = dates
            .str()
            .unwrap()
            .iter()
            .zip(f.column("h").unwrap().bool().unwrap().iter())
            .filter(|(_, h)| *h == Some(true))
            .map(|(d, _)| d.unwrap().to_string())
            .collect();
        assert_eq!(
            flagged.into_iter().collect::<Vec<_>>(),
            ["2024-01-02", "2024-01-05", "2024-02-01"]
        );
        std::fs::write(d.join("holidays.txt"), "2024-13-01\n").unwrap();
        bin(d)
            .args(["--data", "panel.csv"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "`2024-13-01` in holidays.txt line 1 is not a date",
            ));
    }

    #[test]
    fn compute_gives_batch_scoring_the_same_features() {
        let dir = panel_dir(PANEL);
        let d = dir.path();
        bin(d).args(["--data", "panel.csv"]).assert().success();
        bin(d)
            .args(["compute", "--data", "panel.csv", "--out", "scored.parquet"])
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "117 rows (0 dropped), 16 derived columns",
            ))
            .stderr(predicate::str::contains(
                "warning: feature `rolling_mean_7`",
            ));
        let a = read(&d.join(".mlx/features/features.parquet"));
        let b = read(&d.join("scored.parquet"));
        assert!(a.equals_missing(&b));
    }

    #[test]
    fn incomplete_rows_are_dropped_by_default() {
        let cfg = PANEL.replace("  incomplete_rows: keep\n", "");
        let dir = panel_dir(&cfg);
        bin(dir.path())
            .args(["--data", "panel.csv"])
            .assert()
            .success();
        let (_, rep) = record(dir.path());
        // lag_7 is missing on each store's first 7 rows; rolling_mean_7 also where the
        // missing sale is in its window (s1 rows 6..12).
        let want = fixture("panel.json");
        let cols = want["columns"].as_object().unwrap();
        let history = [
            "lag_1",
            "lag_7",
            "diff_1",
            "rolling_mean_7",
            "rolling_std_7",
            "rolling_max_3",
            "rolling_sum_7d",
            "expanding_mean",
            "prev_rolling_mean_3",
        ];
        let kept = (0..117)
            .filter(|&i| history.iter().all(|h| !cols[*h][i].is_null()))
            .count();
        assert_eq!(rep.rows_out as usize, kept);
        assert_eq!(rep.rows_dropped as usize, 117 - kept);
    }
}

/// The README's first command: the classification example through `features`.
#[test]
fn the_classification_example_runs_through_features() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let examples = root().join("config/examples");
    std::fs::copy(examples.join("classification.yaml"), d.join("mlx.yaml")).unwrap();
    std::fs::create_dir(d.join("data")).unwrap();
    std::fs::copy(
        examples.join("data/customers.csv"),
        d.join("data/customers.csv"),
    )
    .unwrap();
    command_in(d, "mlx")
        .args(["run", "--to", "features"])
        .assert()
        .success();
    let (_, rep) = record(d);
    assert_eq!(rep.rows_out, 2000);
    assert_eq!(
        (rep.split.train, rep.split.validation, rep.split.test),
        (1400, 300, 300)
    );
    assert!(
        !rep.inputs.contains(&"customer_id".to_string()),
        "entity keys are not inputs"
    );
    let p =
        mlx_core::features::load_preprocessor(&d.join(".mlx/features/preprocessor.json")).unwrap();
    assert_eq!(p.outputs.last().unwrap(), "income_per_tenure_year");
    // Byte for byte as it has always been written: pretty JSON, no final newline.
    let text = std::fs::read_to_string(d.join(".mlx/features/preprocessor.json")).unwrap();
    assert!(!text.ends_with('\n'), "a final newline the file never had");
    let tree: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(text, serde_json::to_string_pretty(&tree).unwrap());
}

mod splits {
    use super::*;

    fn lists(v: &Value) -> Vec<Vec<usize>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f.as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_u64().unwrap() as usize)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn fold_indices_equal_scikit_learn() {
        let f = fixture("splits.json");
        let k = &f["kfold"];
        assert_eq!(
            split::kfold(
                k["n"].as_u64().unwrap() as usize,
                k["k"].as_u64().unwrap() as usize
            ),
            lists(&k["test"])
        );

        // Stratified: class codes by first appearance, as scikit-learn encodes them.
        let s = &f["stratified_kfold"];
        let y: Vec<&str> = s["y"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        let codes: Vec<usize> = y
            .iter()
            .map(|c| {
                if !seen.contains(c) {
                    seen.push(c);
                }
                seen.iter().position(|x| x == c).unwrap()
            })
            .collect();
        assert_eq!(
            split::stratified_kfold(&codes, 3).unwrap(),
            lists(&s["test"])
        );

        // Groups: codes in sorted group order, as numpy's unique.
        let g = &f["group_kfold"];
        let groups: Vec<u64> = g["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let mut uniq = groups.clone();
        uniq.sort();
        uniq.dedup();
        let codes: Vec<usize> = groups
            .iter()
            .map(|x| uniq.binary_search(x).unwrap())
            .collect();
        assert_eq!(split::group_kfold(&codes, 3).unwrap(), lists(&g["test"]));

        for case in f["time_series_split"].as_array().unwrap() {
            let got = split::time_series_split(
                case["n"].as_u64().unwrap() as usize,
                case["k"].as_u64().unwrap() as usize,
                case["test_size"].as_u64().map(|v| v as usize),
                case["gap"].as_u64().unwrap() as usize,
                case["max_train_size"].as_u64().map(|v| v as usize),
            )
            .unwrap();
            let want: Vec<(Vec<usize>, Vec<usize>)> = case["folds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    let l = lists(f);
                    (l[0].clone(), l[1].clone())
                })
                .collect();
            let got: Vec<(Vec<usize>, Vec<usize>)> = got
                .into_iter()
                .map(|(a, b)| (a.collect(), b.collect()))
                .collect();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn the_stage_writes_row_aligned_sets_and_folds() {
        let cfg = format!(
            "{}\nsplit:\n  strategy: expanding_window\n  folds: 3\n  test_days: 7\n",
            PANEL.replace("split:\n  strategy: temporal\n", "")
        );
        let dir = panel_dir(&cfg);
        let d = dir.path();
        bin(d).args(["--data", "panel.csv"]).assert().success();
        let s = read(&d.join(".mlx/features/split.parquet"));
        let f = read(&d.join(".mlx/features/features.parquet"));
        assert_eq!(s.height(), f.height());
        assert_eq!(s.get_column_names(), ["set", "fold_0", "fold_1", "fold_2"]);
        // The last 7 days are the test set: 3 stores x 7 days.
        let sets: Vec<Option<&str>> = s.column("set").unwrap().str().unwrap().iter().collect();
        assert_eq!(sets.iter().filter(|v| **v == Some("test")).count(), 21);
        let (_, rep) = record(d);
        assert_eq!(rep.split.test, 21);
        assert_eq!(rep.split.folds.len(), 3);
        // Expanding: each fold trains on more rows than the one before.
        let trains: Vec<u64> = rep.split.folds.iter().map(|f| f.train).collect();
        assert!(trains.windows(2).all(|w| w[0] < w[1]), "{trains:?}");
    }
}

mod transforms {
    use super::*;
    use mlx_contracts::config::{TransformDef, TransformKind, TransformStrategy};
    use mlx_contracts::features::StepState;

    fn column(v: &Value) -> Vec<Option<f64>> {
        v.as_array().unwrap().iter().map(Value::as_f64).collect()
    }

    fn text(v: &Value) -> Vec<Option<String>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect()
    }

    fn fit_one(strategy: TransformStrategy, df: &DataFrame, y: Option<&[f64]>) -> Preprocessor {
        let def = TransformDef {
            kind: strategy.kind(),
            strategy: Some(strategy),
            smooth: None,
            ..Default::default()
        };
        let inputs = transform::input_columns(df, &Default::default()).unwrap();
        transform::fit(&[def], df, inputs, y, 0).unwrap().0
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0) || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn scalers_and_imputers_equal_scikit_learn() {
        let f = fixture("transforms.json");
        let train = df!("x" => column(&f["x"])).unwrap();
        let new = df!("x" => column(&f["x_new"])).unwrap();
        for (strategy, key) in [
            (TransformStrategy::Zscore, "zscore"),
            (TransformStrategy::Minmax, "minmax"),
            (TransformStrategy::Robust, "robust"),
        ] {
            let p = fit_one(strategy, &train, None);
            let (out, _) = transform::transform(&p, &new).unwrap();
            let got = floats(&out, "x");
            for (g, w) in got.iter().zip(column(&f[key])) {
                let (g, w) = (g.unwrap_or(f64::NAN), w.unwrap_or(f64::NAN));
                assert!(close(g, w), "{key}: mlx {g}, sklearn {w}");
            }
        }
        for (strategy, key) in [
            (TransformStrategy::Mean, "impute_mean"),
            (TransformStrategy::Median, "impute_median"),
            (TransformStrategy::Mode, "impute_most_frequent"),
        ] {
            let p = fit_one(strategy, &train, None);
            let StepState::FillNumber { value } = p.steps[0].state else {
                panic!()
            };
            assert!(close(value, f[key].as_f64().unwrap()), "{key}: {value}");
        }
        let cats = df!("cat" => text(&f["cat"])).unwrap();
        let def = TransformDef {
            kind: TransformKind::Impute,
            strategy: Some(TransformStrategy::Mode),
            ..Default::default()
        };
        let inputs = transform::input_columns(&cats, &Default::default()).unwrap();
        // Text left after imputation must still be encoded, so add an encoder.
        let enc = TransformDef {
            kind: TransformKind::Encode,
            ..Default::default()
        };
        let (p, _, _) = transform::fit(&[def, enc], &cats, inputs, None, 0).unwrap();
        let StepState::FillCategory { value } = &p.steps[0].state else {
            panic!()
        };
        assert_eq!(value, f["impute_cat_most_frequent"].as_str().unwrap());
    }

    #[test]
    fn encoders_equal_scikit_learn_and_count_unknowns() {
        let f = fixture("transforms.json");
        let known: Vec<Option<String>> = text(&f["cat"])
            .into_iter()
            .filter(Option::is_some)
            .collect();
        let train = df!("cat" => known).unwrap();
        let new = df!("cat" => ["red", "purple", "green"]).unwrap();

        let p = fit_one(TransformStrategy::Ordinal, &train, None);
        let (out, unknown) = transform::transform(&p, &new).unwrap();
        assert_eq!(floats(&out, "cat"), column(&f["ordinal"]));
        assert_eq!(unknown["cat"], 1);

        let p = fit_one(TransformStrategy::Onehot, &train, None);
        let names: Vec<String> = f["onehot_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        // scikit-learn's columns, then the unknown bucket it does not have.
        assert_eq!(&p.outputs[..names.len()], &names[..]);
        assert_eq!(p.outputs.last().unwrap(), "cat__unknown");
        let (out, _) = transform::transform(&p, &new).unwrap();
        for (r, want) in f["onehot"].as_array().unwrap().iter().enumerate() {
            let got: Vec<f64> = names.iter().map(|n| floats(&out, n)[r].unwrap()).collect();
            let want: Vec<f64> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(got, want, "row {r}");
            // The unseen category lands in the unknown bucket.
            assert_eq!(
                floats(&out, "cat__unknown")[r],
                Some(if r == 1 { 1.0 } else { 0.0 })
            );
        }
    }

    #[test]
    fn target_encodings_equal_scikit_learn() {
        let f = fixture("transforms.json");
        let t = &f["target"];
        let cats: Vec<Option<String>> = text(&t["cat"]);
        let train = df!("cat" => cats).unwrap();
        for (yname, smooth) in [
            ("binary", "auto"),
            ("binary", "2.0"),
            ("continuous", "auto"),
            ("continuous", "2.0"),
        ] {
            let y: Vec<f64> = t[format!("y_{yname}")]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let want = &t[format!("{yname}_{smooth}")];
            let def = TransformDef {
                kind: TransformKind::Encode,
                strategy: Some(TransformStrategy::Target),
                smooth: Some(smooth.replace(".0", "")),
                ..Default::default()
            };
            let inputs = transform::input_columns(&train, &Default::default()).unwrap();
            let (p, _, _) = transform::fit(&[def], &train, inputs, Some(&y), 0).unwrap();
            let StepState::Lookup { values, default } = &p.steps[0].state else {
                panic!()
            };
            assert!(close(*default, want["mean"].as_f64().unwrap()));
            for (c, e) in want["categories"]
                .as_array()
                .unwrap()
                .iter()
                .zip(want["encodings"].as_array().unwrap())
            {
                let (got, e) = (values[c.as_str().unwrap()], e.as_f64().unwrap());
                assert!(
                    close(got, e),
                    "{yname} {smooth} {c}: mlx {got}, sklearn {e}"
                );
            }
        }
    }
}

mod online_and_batch {
    use super::*;

    const CHURN: &str = "\
data:
  target: churned
  time_column: signup
  entity_columns: [customer_id]
pipeline:
  problem_type: classification
features:
  exclude: [customer_id]
  derived:
    - {name: month, kind: cyclical, part: month}
    - {name: spend_ratio, kind: expr, expr: 'log(income) / (tenure + 1)'}
    - {name: is_holiday, kind: holiday, dates: ['2024-01-01', '2024-12-25']}
  transforms:
    - {kind: impute, strategy: median, columns: [income]}
    - {kind: scale, strategy: zscore}
    - {kind: impute, strategy: constant, columns: [plan], fill_value: none}
    - {kind: encode, strategy: onehot, columns: [plan]}
    - {kind: encode, strategy: target, columns: [region], smooth: auto}
  store:
    views:
      - {name: customers, features: [month_sin, month_cos, spend_ratio]}
";

    fn churn_dir() -> tempfile::TempDir {
        let mut csv = String::from("customer_id,signup,tenure,income,plan,region,churned\n");
        let plans = ["basic", "pro", "", "enterprise"];
        let regions = ["north", "south", "east", "west", "south"];
        for i in 0..60u32 {
            let income = if i % 7 == 3 {
                String::new()
            } else {
                format!("{}.5", 20_000 + (i * 7919) % 50_000)
            };
            csv.push_str(&format!(
                "c{i},2024-{:02}-{:02},{},{income},{},{},{}\n",
                1 + i % 12,
                1 + (i * 5) % 28,
                (i * 13) % 40,
                plans[(i as usize) % 4],
                regions[(i as usize * 3) % 5],
                u8::from((i * 31) % 5 < 2),
            ));
        }
        dir_with(&[("customers.csv", &csv), ("mlx.yaml", CHURN)])
    }

    /// A dataset row as a serving request would send it.
    fn row_json(df: &DataFrame, r: usize) -> serde_json::Map<String, Value> {
        df.columns()
            .iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    mlx_data::any_to_json(&c.get(r).unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn a_row_scored_online_gets_bit_identical_features() {
        let dir = churn_dir();
        let d = dir.path();
        bin(d).args(["--data", "customers.csv"]).assert().success();
        let p = mlx_core::features::load_preprocessor(&d.join(".mlx/features/preprocessor.json"))
            .unwrap();
        assert!(
            p.outputs.contains(&"plan_none".to_string()),
            "{:?}",
            p.outputs
        );

        // Batch path: the features file through the fitted preprocessing.
        let batch_features = read(&d.join(".mlx/features/features.parquet"));
        let (batch, _) = transform::transform(&p, &batch_features).unwrap();

        // Online path: each raw row alone (a one-row frame, as serving builds it),
        // row-wise features computed from it, then the preprocessing on JSON.
        let cfg =
            mlx_core::config::load(&d.join("mlx.yaml"), &mlx_core::config::ProcessEnv).unwrap();
        let raw = read(&d.join("customers.csv"));
        let roles = mlx_core::model::derive::Roles {
            time: Some("signup"),
            entities: &["customer_id".to_string()],
            target: Some("churned"),
        };
        // Rows are in time order in the batch; match them by customer id.
        let ids: Vec<String> = batch_features
            .column("customer_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|s| s.unwrap().to_string())
            .collect();
        for r in 0..raw.height() {
            let one = raw.slice(r as i64, 1);
            let derived = mlx_core::model::derive::derive(
                one,
                &cfg.config.features.derived,
                &roles,
                cfg.config.features.incomplete_rows,
            )
            .unwrap();
            let request = row_json(&derived.df, 0);
            let (online, _) = transform::transform_row(&p, &request).unwrap();
            let id = request["customer_id"].as_str().unwrap();
            let b = ids.iter().position(|x| x == id).unwrap();
            for (k, v) in online.iter().enumerate() {
                let want = batch.columns()[k].f64().unwrap().get(b).unwrap();
                assert_eq!(
                    v.to_bits(),
                    want.to_bits(),
                    "{id} {}: online {v}, batch {want}",
                    p.outputs[k]
                );
            }
        }
    }

    #[test]
    fn materialize_then_get_reads_the_latest_values() {
        let dir = churn_dir();
        let d = dir.path();
        bin(d).args(["--data", "customers.csv"]).assert().success();
        bin(d)
            .arg("materialize")
            .assert()
            .success()
            .stdout(predicate::str::contains("view customers: 60 entities"));
        let out = bin(d)
            .args(["get", "--entity", "c7", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let r: OnlineRecord = serde_json::from_value(v["customers"].clone()).unwrap();
        let f = read(&d.join(".mlx/features/features.parquet"));
        let row = (0..f.height())
            .find(|&i| f.column("customer_id").unwrap().str().unwrap().get(i) == Some("c7"))
            .unwrap();
        let ratio = f.column("spend_ratio").unwrap().f64().unwrap().get(row);
        assert_eq!(r.features["spend_ratio"].as_f64(), ratio);
        assert_eq!(r.event_time, "2024-08-08");
        bin(d)
            .args(["get", "--entity", "nobody"])
            .assert()
            .code(1)
            .stdout(predicate::str::contains("no values for nobody"));
    }

    #[test]
    #[ignore = "needs Redis (tests/run.sh starts it and sets MLX_TEST_REDIS)"]
    fn redis_online_store() {
        let url = std::env::var("MLX_TEST_REDIS").expect("MLX_TEST_REDIS (tests/run.sh sets it)");
        let dir = churn_dir();
        let d = dir.path();
        let cfg = CHURN.replace("  store:\n", &format!("  store:\n    online: {url}\n"));
        std::fs::write(d.join("mlx.yaml"), cfg).unwrap();
        bin(d).args(["--data", "customers.csv"]).assert().success();
        bin(d).arg("materialize").assert().success();
        let out = bin(d)
            .args(["get", "--entity", "c7", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["customers"]["event_time"], "2024-08-08");
        // The same record as the embedded store would hold.
        let mut redis = store::open_online(&url).unwrap();
        let r = redis
            .read("customers", &["c7".to_string()])
            .unwrap()
            .unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), v["customers"]);
    }

    fn delta_config(offline: Option<&str>) -> String {
        let store = match offline {
            Some(uri) => format!("  store:\n    format: delta\n    offline: {uri}\n"),
            None => "  store:\n    format: delta\n".to_string(),
        };
        CHURN.replace("  store:\n", &store)
    }

    /// The dataset without customer `c7`: a second version of the view.
    fn drop_c7(d: &Path) {
        let csv = std::fs::read_to_string(d.join("customers.csv")).unwrap();
        let kept: Vec<&str> = csv.lines().filter(|l| !l.starts_with("c7,")).collect();
        std::fs::write(d.join("customers.csv"), kept.join("\n") + "\n").unwrap();
    }

    fn view_versions(d: &Path) -> Vec<(String, Option<u64>)> {
        record(d)
            .1
            .views
            .iter()
            .map(|v| (v.version.clone(), v.delta_version))
            .collect()
    }

    /// `format: delta`: each view is a Delta table, a new version an overwrite commit,
    /// the same rows again no commit; `materialize` reads the table's latest version.
    #[test]
    fn delta_offline_store_commits_a_version_per_change() {
        let dir = churn_dir();
        let d = dir.path();
        std::fs::write(d.join("mlx.yaml"), delta_config(None)).unwrap();
        bin(d).args(["--data", "customers.csv"]).assert().success();
        let table = d.join(".mlx/feature-store/offline/customers");
        let vs = view_versions(d);
        assert_eq!(vs.len(), 1);
        assert_eq!(vs[0].1, Some(0), "{vs:?}");
        let v0 = vs[0].0.clone();
        assert!(table.join("_delta_log/00000000000000000000.json").is_file());
        assert!(table.join(format!("{v0}.parquet")).is_file());
        assert!(table.join(format!("_mlx/{v0}.json")).is_file());
        assert!(!table.join("latest.json").exists());
        // The same rows: the same Delta version, no new commit.
        bin(d).args(["--data", "customers.csv"]).assert().success();
        assert_eq!(view_versions(d), vec![(v0.clone(), Some(0))]);
        assert!(!table.join("_delta_log/00000000000000000001.json").exists());
        // Other rows: version 1, which removes version 0's file from the table but
        // keeps it on disk for time travel.
        drop_c7(d);
        bin(d).args(["--data", "customers.csv"]).assert().success();
        let vs = view_versions(d);
        assert_eq!(vs.len(), 1);
        assert_eq!(vs[0].1, Some(1), "{vs:?}");
        let v1 = vs[0].0.clone();
        assert_ne!(v0, v1);
        let log1 =
            std::fs::read_to_string(table.join("_delta_log/00000000000000000001.json")).unwrap();
        assert!(
            log1.contains(&format!("\"remove\":{{\"path\":\"{v0}.parquet\"")),
            "{log1}"
        );
        assert!(table.join(format!("{v0}.parquet")).is_file());
        bin(d)
            .arg("materialize")
            .assert()
            .success()
            .stdout(predicate::str::contains(format!(
                "view customers: 59 entities from version {}",
                &v1[..12]
            )));
    }

    /// What a Delta reader needs to read the views: Python's `deltalake` reads each
    /// version (time travel) with mlx's rows, bit for bit.
    #[test]
    #[ignore = "needs the deltalake package: tests/services/clients.sh (tests/run.sh sources it)"]
    fn python_reads_the_delta_views_mlx_wrote() {
        let dir = churn_dir();
        let d = dir.path();
        std::fs::write(d.join("mlx.yaml"), delta_config(None)).unwrap();
        bin(d).args(["--data", "customers.csv"]).assert().success();
        let first = read(&d.join(".mlx/features/features.parquet"));
        drop_c7(d);
        bin(d).args(["--data", "customers.csv"]).assert().success();
        let versions = python_versions(&d.join(".mlx/feature-store/offline/customers"), &[]);
        assert_eq!(versions.len(), 2);
        let (r0, r1) = (&versions[0]["rows"], &versions[1]["rows"]);
        assert_eq!(r0.as_array().unwrap().len(), 60);
        assert_eq!(r1.as_array().unwrap().len(), 59);
        assert_eq!(
            versions[1]["columns"],
            serde_json::json!([
                "customer_id",
                "signup",
                "month_sin",
                "month_cos",
                "spend_ratio"
            ])
        );
        // Version 0 as Python reads it: each customer's features equal mlx's.
        let ids = first.column("customer_id").unwrap().str().unwrap();
        let ratio = floats(&first, "spend_ratio");
        let sin = floats(&first, "month_sin");
        for row in r0.as_array().unwrap() {
            let id = row["customer_id"].as_str().unwrap();
            let i = (0..first.height())
                .find(|&i| ids.get(i) == Some(id))
                .unwrap();
            assert_eq!(row["spend_ratio"].as_f64(), ratio[i], "{id}");
            assert_eq!(row["month_sin"].as_f64(), sin[i], "{id}");
        }
        assert!(r1
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["customer_id"] != "c7"));
        assert!(r0
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["customer_id"] == "c7"));
    }

    /// Every version of a Delta table as Python's `deltalake` reads it
    /// (tests/clients/delta_read.py).
    fn python_versions(uri: &Path, env: &[(&str, &str)]) -> Vec<Value> {
        let python = std::env::var("MLX_TEST_CLIENTS_PYTHON")
            .expect("MLX_TEST_CLIENTS_PYTHON: source tests/services/clients.sh");
        let out = std::process::Command::new(python)
            .arg(root().join("tests/clients/delta_read.py"))
            .arg(uri)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["versions"].as_array().unwrap().clone()
    }

    /// `format: delta` on object storage: commits through conditional writes on S3
    /// (moto), materialized from there, and read by Python there.
    #[test]
    #[ignore = "needs an S3-compatible server and the deltalake package (tests/run.sh)"]
    fn delta_offline_store_on_s3() {
        let endpoint = std::env::var("MLX_TEST_S3_ENDPOINT").expect("MLX_TEST_S3_ENDPOINT");
        let bucket = std::env::var("MLX_TEST_S3_BUCKET").expect("MLX_TEST_S3_BUCKET");
        let dir = churn_dir();
        let d = dir.path();
        let uri = format!("s3://{bucket}/delta-store-{}", std::process::id());
        std::fs::write(d.join("mlx.yaml"), delta_config(Some(&uri))).unwrap();
        let env = [
            ("AWS_ENDPOINT", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ];
        let run = |args: &[&str]| {
            let mut c = bin(d);
            c.envs(env.iter().copied()).args(args);
            c.assert().success()
        };
        run(&["--data", "customers.csv"]);
        drop_c7(d);
        run(&["--data", "customers.csv"]);
        assert_eq!(view_versions(d)[0].1, Some(1));
        assert!(
            !d.join(".mlx/feature-store/offline").exists(),
            "nothing written locally"
        );
        run(&["materialize"]).stdout(predicate::str::contains("view customers: 59 entities"));
        let versions = python_versions(Path::new(&format!("{uri}/customers")), &env);
        let rows: Vec<usize> = versions
            .iter()
            .map(|v| v["rows"].as_array().unwrap().len())
            .collect();
        assert_eq!(rows, vec![60, 59]);
    }

    #[test]
    #[ignore = "needs an S3-compatible server (tests/run.sh starts moto and sets MLX_TEST_S3_*)"]
    fn offline_store_on_s3() {
        let endpoint = std::env::var("MLX_TEST_S3_ENDPOINT").expect("MLX_TEST_S3_ENDPOINT");
        let bucket = std::env::var("MLX_TEST_S3_BUCKET").expect("MLX_TEST_S3_BUCKET");
        let dir = churn_dir();
        let d = dir.path();
        let uri = format!("s3://{bucket}/feature-store-{}", std::process::id());
        let cfg = CHURN.replace("  store:\n", &format!("  store:\n    offline: {uri}\n"));
        std::fs::write(d.join("mlx.yaml"), cfg).unwrap();
        let s3 = |c: &mut Command| {
            c.env("AWS_ENDPOINT", &endpoint)
                .env("AWS_ALLOW_HTTP", "true")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_REGION", "us-east-1");
        };
        let mut run = bin(d);
        s3(&mut run);
        run.args(["--data", "customers.csv"]).assert().success();
        assert!(
            !d.join(".mlx/feature-store/offline").exists(),
            "nothing written locally"
        );
        let mut m = bin(d);
        s3(&mut m);
        m.arg("materialize")
            .assert()
            .success()
            .stdout(predicate::str::contains("view customers: 60 entities"));
        let out = bin(d)
            .args(["get", "--entity", "c7", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

mod point_in_time {
    use super::*;

    /// A small deterministic generator (SplitMix64).
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn millis_frame(entity: Vec<i64>, t: Vec<i64>, extra: Option<Vec<f64>>) -> DataFrame {
        let ts = Column::new("ts".into(), t)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .unwrap();
        let mut cols = vec![Column::new("id".into(), entity), ts];
        if let Some(v) = extra {
            cols.push(Column::new("value".into(), v));
        }
        DataFrame::new_infer_height(cols).unwrap()
    }

    #[test]
    fn the_join_equals_a_brute_force_reference() {
        for seed in 0..20u64 {
            let mut g = Gen(seed);
            let entities = 1 + g.below(6) as i64;
            // Feature rows: unique (id, ts) pairs.
            let mut pairs = std::collections::BTreeSet::new();
            for _ in 0..g.below(60) {
                pairs.insert((g.below(entities as u64) as i64, g.below(100) as i64 * 1000));
            }
            let mut rows: Vec<(i64, i64)> = pairs.into_iter().collect();
            // Shuffle so the join cannot rely on input order.
            for i in (1..rows.len()).rev() {
                rows.swap(i, g.below(i as u64 + 1) as usize);
            }
            let values: Vec<f64> = rows.iter().map(|_| g.below(1000) as f64 / 10.0).collect();
            let features = millis_frame(
                rows.iter().map(|r| r.0).collect(),
                rows.iter().map(|r| r.1).collect(),
                Some(values.clone()),
            );
            let labels_n = 1 + g.below(40) as usize;
            let lid: Vec<i64> = (0..labels_n)
                .map(|_| g.below(entities as u64 + 1) as i64)
                .collect();
            let lt: Vec<i64> = (0..labels_n).map(|_| g.below(110) as i64 * 1000).collect();
            let labels = millis_frame(lid.clone(), lt.clone(), None);
            let ttl = [None, Some(5_000i64), Some(30_000)][(seed % 3) as usize];
            let joined = store::pit_join(
                &labels,
                &["id".into()],
                "ts",
                &features,
                &["id".into()],
                "ts",
                &["value".into()],
                ttl,
            )
            .unwrap();
            let got = floats(&joined, "value");
            for i in 0..labels_n {
                // The latest feature row of the entity at or before the label time.
                let best = rows
                    .iter()
                    .zip(&values)
                    .filter(|((id, t), _)| {
                        *id == lid[i] && *t <= lt[i] && ttl.is_none_or(|w| lt[i] - t <= w)
                    })
                    .max_by_key(|((_, t), _)| *t)
                    .map(|(_, v)| *v);
                assert_eq!(
                    got[i], best,
                    "seed {seed} label {i}: id {} t {}",
                    lid[i], lt[i]
                );
            }
            assert_eq!(floats(&joined, "id").len(), labels_n);
        }
    }

    #[test]
    fn the_stage_joins_views_and_versions_them() {
        let dir = dir_with(&[("labels.csv", "user,ts,clicked\nu1,2024-01-05,1\nu1,2024-01-20,0\nu2,2024-01-03,1\nu3,2024-01-10,0\n"), ("activity.csv", "user,day,visits\nu1,2024-01-01,3\nu1,2024-01-06,9\nu2,2024-01-04,5\nu3,2023-12-01,7\n"), ("mlx.yaml", "data:\n  target: clicked\n  time_column: ts\n  entity_columns: [user]\npipeline:\n  problem_type: classification\nsplit:\n  strategy: random\n  test: 0.25\n  validation: 0.0\n  train: 0.75\nfeatures:\n  exclude: [user]\n  store:\n    views:\n      - {name: activity, source: activity.csv, timestamp: day, features: [visits], ttl: 30d}\n")]);
        let d = dir.path();
        bin(d).args(["--data", "labels.csv"]).assert().success();
        let f = read(&d.join(".mlx/features/features.parquet"));
        // u2's only visit row is after its label; u3's is older than the TTL.
        let by_user: BTreeMap<String, Option<f64>> = f
            .column("user")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .zip(floats(&f, "visits"))
            .zip(
                f.column("ts")
                    .unwrap()
                    .cast(&DataType::String)
                    .unwrap()
                    .str()
                    .unwrap()
                    .iter(),
            )
            .map(|((u, v), t)| (format!("{}@{}", u.unwrap(), t.unwrap()), v))
            .collect();
        assert_eq!(by_user["u1@2024-01-05"], Some(3.0));
        assert_eq!(by_user["u1@2024-01-20"], Some(9.0));
        assert_eq!(by_user["u2@2024-01-03"], None);
        assert_eq!(by_user["u3@2024-01-10"], None);
        let (_, rep) = record(d);
        assert_eq!(rep.views[0].unmatched, 2);
        let version = &rep.views[0].version;
        assert!(d
            .join(format!(
                ".mlx/feature-store/offline/activity/{version}.parquet"
            ))
            .is_file());
    }

    #[test]
    fn standalone_join_and_duplicate_keys() {
        let dir = dir_with(&[
            ("labels.csv", "id,ts\n1,2024-01-05\n2,2024-01-05\n"),
            (
                "f.csv",
                "id,ts,x\n1,2024-01-04,10\n1,2024-01-05,11\n2,2024-01-06,12\n",
            ),
        ]);
        let d = dir.path();
        let out = bin(d)
            .args([
                "join",
                "--labels",
                "labels.csv",
                "--features",
                "f.csv",
                "--entity",
                "id",
                "--timestamp",
                "ts",
                "--out",
                "out.parquet",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["unmatched"], 1);
        assert_eq!(
            floats(&read(&d.join("out.parquet")), "x"),
            vec![Some(11.0), None]
        );
        std::fs::write(
            d.join("dup.csv"),
            "id,ts,x\n1,2024-01-04,10\n1,2024-01-04,11\n",
        )
        .unwrap();
        bin(d)
            .args([
                "join",
                "--labels",
                "labels.csv",
                "--features",
                "dup.csv",
                "--entity",
                "id",
                "--timestamp",
                "ts",
                "--out",
                "o2.parquet",
            ])
            .assert()
            .code(3)
            .stderr(predicate::str::contains(
                "1 duplicated (id, ts) pairs, e.g. (1, 2024-01-04)",
            ));
        assert!(!d.join("o2.parquet").exists());
    }
}

mod bad_input {
    use super::*;

    fn run_with(features: &str) -> assert_cmd::assert::Assert {
        let cfg = PANEL.split("  derived:\n").next().unwrap().to_string() + features;
        let dir = panel_dir(&cfg);
        let a = bin(dir.path()).args(["--data", "panel.csv"]).assert();
        drop(dir);
        a
    }

    #[test]
    fn unknown_columns_are_named_with_a_suggestion() {
        run_with("  derived:\n    - {name: l, kind: lag, column: sale}\n")
            .code(2)
            .stderr(predicate::str::contains(
                "feature `l` reads column `sale`, which the dataset does not have; did you mean `sales`?",
            ));
        run_with("  derived:\n    - {name: r, kind: expr, expr: price / competitor}\n")
            .code(2)
            .stderr(predicate::str::contains("column `competitor`"));
    }

    #[test]
    fn a_window_longer_than_the_data_says_so() {
        run_with(
            "  derived:\n    - {name: m, kind: rolling, column: price, window: 60, agg: mean}\n",
        )
        .code(2)
        .stderr(
            predicate::str::contains("feature `m` is missing on every row")
                .and(predicate::str::contains("longest entity history has (40)")),
        );
    }

    #[test]
    fn duplicated_entity_timestamps_are_refused_for_lags() {
        let cfg = PANEL.split("  derived:\n").next().unwrap().to_string()
            + "  derived:\n    - {name: l, kind: lag, column: sales}\n";
        let dir = panel_dir(&cfg);
        let d = dir.path();
        let mut csv = std::fs::read_to_string(d.join("panel.csv")).unwrap();
        csv.push_str("2024-01-03,s1,1.0,1.0,1.0\n");
        std::fs::write(d.join("panel.csv"), csv).unwrap();
        bin(d)
            .args(["--data", "panel.csv"])
            .assert()
            .code(3)
            .stderr(predicate::str::contains(
                "1 rows repeating the (store, date) of an earlier row, e.g. (s1, 2024-01-03)",
            ));
        assert!(!d.join(".mlx/features/features.parquet").exists());
    }

    #[test]
    fn config_mistakes_point_at_the_key() {
        let dir = panel_dir(&(PANEL.to_string() + "    - {name: w, kind: rolling, column: sales, window: 7x, agg: mean}\n    - {name: g, kind: group_agg, column: sales, agg: mean}\n"));
        bin(dir.path())
            .args(["--data", "panel.csv"])
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("features.derived[15].window")
                    .and(predicate::str::contains("`7x` is not a window"))
                    .and(predicate::str::contains("leaks test labels into training")),
            );
    }

    #[test]
    fn text_inputs_without_an_encoder_are_one_hot_encoded_with_a_note() {
        let dir = dir_with(&[
            (
                "d.csv",
                "x,city,y\n1,a,0\n2,b,1\n3,a,0\n4,b,1\n5,a,0\n6,b,1\n",
            ),
            (
                "mlx.yaml",
                "data:\n  target: y\npipeline:\n  problem_type: regression\n",
            ),
        ]);
        let d = dir.path();
        bin(d)
            .args(["--data", "d.csv"])
            .assert()
            .success()
            .stderr(predicate::str::contains(
                "note: text column `city` has no encoder",
            ));
        let (_, report) = record(d);
        assert_eq!(report.outputs, ["x", "city_a", "city_b", "city__unknown"]);
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert!(report.notes[0].contains("one-hot encoded by default into 3 columns"));
    }

    #[test]
    fn get_without_a_config_says_what_it_needs() {
        let dir = tempfile::tempdir().unwrap();
        bin(dir.path())
            .args(["get", "--entity", "1"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "reads the feature views and stores from mlx.yaml",
            ));
    }
}
