//! `mlx-validate` end to end: the standalone drift command against the scipy oracle
//! fixtures, the stage with a config (freeze, checks, drift, reports), and bad input.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mlx_contracts::validate::{CheckKind, ValidationReport};
use mlx_contracts::{StageRecord, Status};
use predicates::prelude::*;
use serde_json::Value;

fn bin() -> Command {
    mlx_testkit::command("mlx-validate")
}

fn fixture() -> Value {
    let path = mlx_testkit::root().join("tests/fixtures/stats/drift.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes one column as CSV; `null` in the fixture becomes an empty cell.
fn write_column(dir: &Path, file: &str, column: &str, values: &[Value]) -> PathBuf {
    let mut text = format!("{column}\n");
    for v in values {
        match v.as_f64() {
            Some(x) => text.push_str(&format!("{x:?}\n")),
            None => text.push('\n'),
        }
    }
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

fn close(what: &str, got: f64, want: f64) {
    assert!(
        ((got - want) / want).abs() <= 1e-9 || (got == 0.0 && want == 0.0),
        "{what}: got {got:e}, scipy {want:e}"
    );
}

/// Each `(statistic, fixture key)` of the mlx output `stats` against the fixture `case`.
fn agree(name: &str, stats: &Value, case: &Value, pairs: &[(&str, &str)]) {
    for (stat, key) in pairs {
        close(
            &format!("{name} {stat}"),
            stats[*stat].as_f64().unwrap(),
            case[*key].as_f64().unwrap(),
        );
    }
}

fn drift_json(reference: &Path, current: &Path, extra: &[&str]) -> Value {
    let out = bin()
        .args(["drift", "--json", "-q", "--reference"])
        .arg(reference)
        .arg("--current")
        .arg(current)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn standalone_drift_statistics_match_the_scipy_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    for name in [
        "ties",
        "with_nan",
        "empty_bins",
        "equal_sizes",
        "constant_shifted",
    ] {
        let case = f["numeric"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        // CSV cells must parse as floats everywhere, so write them with a decimal point.
        let r = write_column(
            dir.path(),
            &format!("{name}-r.csv"),
            "x",
            case["reference"].as_array().unwrap(),
        );
        let c = write_column(
            dir.path(),
            &format!("{name}-c.csv"),
            "x",
            case["current"].as_array().unwrap(),
        );
        let v = drift_json(&r, &c, &["--method", "ks"]);
        let col = &v["columns"][0];
        assert_eq!(col["column"], "x");
        assert_eq!(col["method"], "ks");
        let s = &col["statistics"];
        agree(
            name,
            s,
            case,
            &[
                ("psi", "psi_quantile"),
                ("ks_p_value", "ks_pvalue"),
                ("ks_statistic", "ks_statistic"),
                ("wasserstein", "wasserstein_normed"),
            ],
        );
        assert_eq!(col["value"], s["ks_p_value"]);
        // With Evidently's Sturges bins, PSI/KL/JS match Evidently's definitions when
        // the reference has more than 20 distinct values (below that Evidently bins
        // by value, as mlx does).
        let distinct: std::collections::BTreeSet<u64> = case["reference"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .map(f64::to_bits)
            .collect();
        if distinct.len() > 20 {
            let v = drift_json(&r, &c, &["--method", "psi", "--psi-bins", "sturges"]);
            let s = &v["columns"][0]["statistics"];
            agree(
                name,
                s,
                case,
                &[
                    ("psi", "psi_sturges"),
                    ("kl", "kl_sturges"),
                    ("js", "js_sturges"),
                ],
            );
        }
    }
}

#[test]
fn categorical_drift_matches_scipy_including_one_sided_categories() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    for case in f["categorical"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let keys: Vec<&str> = case["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        for (side, counts) in [("r", &case["ref_counts"]), ("c", &case["cur_counts"])] {
            let mut text = String::from("plan\n");
            for (k, n) in keys.iter().zip(counts.as_array().unwrap()) {
                for _ in 0..n.as_u64().unwrap() {
                    text.push_str(k);
                    text.push('\n');
                }
            }
            std::fs::write(dir.path().join(format!("{name}-{side}.csv")), text).unwrap();
        }
        let v = drift_json(
            &dir.path().join(format!("{name}-r.csv")),
            &dir.path().join(format!("{name}-c.csv")),
            &["--method", "chi2"],
        );
        let s = &v["columns"][0]["statistics"];
        agree(
            name,
            s,
            case,
            &[
                ("chi2_p_value", "chi2_pvalue"),
                ("psi", "psi"),
                ("js", "js"),
            ],
        );
        if let Some(z) = case.get("ztest_pvalue") {
            close(
                &format!("{name} z"),
                s["ztest_p_value"].as_f64().unwrap(),
                z.as_f64().unwrap(),
            );
        }
    }
}

#[test]
fn drift_exit_codes_and_column_selection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = |shift: i32| {
        (0..300)
            .map(|i| format!("{},{}\n", i + shift, if i % 3 == 0 { "a" } else { "b" }))
            .collect::<String>()
    };
    std::fs::write(d.join("r.csv"), format!("n,c\n{}", rows(0))).unwrap();
    std::fs::write(d.join("same.csv"), format!("n,c\n{}", rows(0))).unwrap();
    std::fs::write(d.join("shifted.csv"), format!("n,c\n{}", rows(400))).unwrap();
    bin()
        .current_dir(d)
        .args(["drift", "--reference", "r.csv", "--current", "same.csv"])
        .assert()
        .code(0);
    // The standalone command needs no config: a broken mlx.yaml beside the data is ignored.
    std::fs::write(d.join("mlx.yaml"), "trainng: {}\n").unwrap();
    bin()
        .current_dir(d)
        .args(["drift", "--reference", "r.csv", "--current", "same.csv"])
        .assert()
        .code(0);
    std::fs::remove_file(d.join("mlx.yaml")).unwrap();
    // One of two columns drifted: 50% reaches the default share, so exit 1.
    bin()
        .current_dir(d)
        .args(["drift", "--reference", "r.csv", "--current", "shifted.csv"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "1 of 2 columns drifted (50%, limit 50%): dataset drift",
        ));
    bin()
        .current_dir(d)
        .args([
            "drift",
            "--reference",
            "r.csv",
            "--current",
            "shifted.csv",
            "--drift-share",
            "0.6",
        ])
        .assert()
        .code(0);
    bin()
        .current_dir(d)
        .args([
            "drift",
            "--reference",
            "r.csv",
            "--current",
            "shifted.csv",
            "--columns",
            "c",
        ])
        .assert()
        .code(0);
    bin()
        .current_dir(d)
        .args([
            "drift",
            "--reference",
            "r.csv",
            "--current",
            "shifted.csv",
            "--columns",
            "nope",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "column `nope` is not in r.csv (it has: n, c)",
        ));
    bin()
        .current_dir(d)
        .args(["drift", "--reference", "r.csv", "--current", "missing.csv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.csv does not exist"));
    bin()
        .current_dir(d)
        .args([
            "drift",
            "--reference",
            "r.csv",
            "--current",
            "same.csv",
            "--method",
            "chi2",
            "--columns",
            "n",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`chi2` needs categorical data"));
    std::fs::write(d.join("nulls.csv"), "n,c\n,\n,\n").unwrap();
    bin()
        .current_dir(d)
        .args([
            "drift",
            "--reference",
            "r.csv",
            "--current",
            "nulls.csv",
            "--columns",
            "c",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "column `c` has no non-null values in the current data",
        ));
    std::fs::write(d.join("bad.csv"), "n,c\n1,a\n2,b,extra,fields\n").unwrap();
    bin()
        .current_dir(d)
        .args(["drift", "--reference", "r.csv", "--current", "bad.csv"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("bad.csv"));
}

fn stage_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("mlx.yaml"),
        "validation:\n  max_missing_fraction: 0.05\n  min_rows: 10\n  columns:\n    age: { dtype: int, min: 0, max: 120 }\n    plan: { allowed: [basic, pro] }\n    id: { unique: true, nullable: false }\n    email: { pattern: '[a-z]+@example\\.com' }\n",
    )
    .unwrap();
    let mut text = String::from("id,age,plan,email,score\n");
    for i in 0..200usize {
        text.push_str(&format!(
            "{i},{},{},u{}@example.com,{}\n",
            20 + i % 50,
            if i % 4 == 0 { "pro" } else { "basic" },
            "abcdefghij".chars().nth(i % 10).unwrap(),
            i as f64 * 0.5
        ));
    }
    text = text.replace("u0@", "u@").replace("u1@", "b@");
    std::fs::write(d.join("train.csv"), &text).unwrap();
    dir
}

fn report(d: &Path) -> (StageRecord, ValidationReport) {
    let r = StageRecord::from_json(&std::fs::read_to_string(d.join(".mlx/validate.json")).unwrap())
        .unwrap();
    let v: ValidationReport = serde_json::from_value(r.details.clone()).unwrap();
    (r, v)
}

#[test]
fn stage_freezes_then_validates_and_reports() {
    let dir = stage_project();
    let d = dir.path();
    bin()
        .current_dir(d)
        .args(["--data", "train.csv", "--freeze"])
        .assert()
        .success();
    assert!(d.join(".mlx/data/reference/reference.json").exists());
    assert!(d.join(".mlx/data/reference/values.parquet").exists());
    let (rec, v) = report(d);
    assert_eq!(rec.status, Status::Passed);
    assert_eq!((v.rows, v.columns), (200, 5));
    assert!(v.drift.is_none());

    // Same data: no drift, every check passes.
    bin()
        .current_dir(d)
        .args(["--data", "train.csv"])
        .assert()
        .success();
    let (_, v) = report(d);
    let drift = v.drift.unwrap();
    assert_eq!(drift.drifted_columns, 0);
    assert_eq!(drift.columns.len(), 5);

    // A batch with problems: out-of-range age, unknown plan, duplicate id, bad email,
    // nulls, a shifted score.
    let mut text = String::from("id,age,plan,email,score\n");
    for i in 0..100 {
        let id = if i == 5 { 4 } else { i };
        let age = if i == 7 {
            "150".to_owned()
        } else {
            (20 + i % 50).to_string()
        };
        let plan = if i == 9 { "gold" } else { "basic" };
        let email = if i == 11 { "nobody" } else { "x@example.com" };
        let score = if i % 10 == 0 {
            String::new()
        } else {
            (f64::from(i) + 500.0).to_string()
        };
        text.push_str(&format!("{id},{age},{plan},{email},{score}\n"));
    }
    std::fs::write(d.join("batch.csv"), text).unwrap();
    bin()
        .current_dir(d)
        .args(["--data", "batch.csv"])
        .assert()
        .code(1);
    let (rec, v) = report(d);
    assert_eq!(rec.status, Status::Failed);
    let failed = |kind: CheckKind, col: &str| {
        v.checks.iter().any(|c| {
            c.kind == kind && c.column.as_deref() == Some(col) && c.status == Status::Failed
        })
    };
    assert!(failed(CheckKind::Range, "age"));
    assert!(failed(CheckKind::AllowedValues, "plan"));
    assert!(failed(CheckKind::Unique, "id"));
    assert!(failed(CheckKind::Pattern, "email"));
    // 10 missing of 500 cells = 2%: below the 5% limit.
    let missing = v
        .checks
        .iter()
        .find(|c| c.kind == CheckKind::MissingFraction && c.column.is_none())
        .unwrap();
    assert_eq!(missing.status, Status::Passed);
    assert!((missing.value.unwrap() - 0.02).abs() < 1e-12);
    let score = v
        .drift
        .as_ref()
        .unwrap()
        .columns
        .iter()
        .find(|c| c.column == "score")
        .unwrap();
    assert!(score.drifted);
    assert_eq!(score.reference_count, 200);
    assert_eq!(score.current_count, 90, "nulls are not compared");

    let md = std::fs::read_to_string(d.join(".mlx/reports/validation.md")).unwrap();
    assert!(
        md.contains("```mermaid") && md.contains("| range | age |"),
        "{md}"
    );
    let html = std::fs::read_to_string(d.join(".mlx/reports/validation.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("score"),
        "report has histograms"
    );
}

#[test]
fn stage_errors_name_the_problem() {
    let dir = stage_project();
    let d = dir.path();
    bin()
        .current_dir(d)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            ".mlx/data/raw.parquet does not exist; run `mlx ingest` first, or pass --data FILE",
        ));
    bin()
        .current_dir(d)
        .args(["--data", "train.csv", "--freeze"])
        .assert()
        .success();
    // A reference written by a newer mlx.
    let p = d.join(".mlx/data/reference/reference.json");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"schema_version\": 1", "\"schema_version\": 2");
    std::fs::write(&p, text).unwrap();
    bin()
        .current_dir(d)
        .args(["--data", "train.csv"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "frozen reference has schema_version 2, but this mlx reads version 1",
        ));
    bin()
        .current_dir(d)
        .args(["--data", "train.csv", "--freeze"])
        .assert()
        .success();
    // A column of the reference is gone and another changed type.
    std::fs::write(
        d.join("drop.csv"),
        "id,age,plan,email\n1,x,basic,a@example.com\n",
    )
    .unwrap();
    bin()
        .current_dir(d)
        .args(["--data", "drop.csv"])
        .assert()
        .code(1);
    let (_, v) = report(d);
    let msgs: Vec<&str> = v
        .checks
        .iter()
        .filter(|c| c.status == Status::Failed)
        .map(|c| c.message.as_str())
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("column `score` of the frozen reference is missing")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("`age` should be int but is string")),
        "{msgs:?}"
    );
    // An empty dataset.
    std::fs::write(d.join("empty.csv"), "id,age,plan,email,score\n").unwrap();
    bin()
        .current_dir(d)
        .args(["--data", "empty.csv"])
        .assert()
        .code(1);
    let (_, v) = report(d);
    assert!(v
        .checks
        .iter()
        .any(|c| c.message.contains("the dataset has no rows")));
}

#[test]
fn freshness_of_the_time_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("mlx.yaml"),
        "data:\n  time_column: day\nvalidation:\n  max_staleness: 2d\n",
    )
    .unwrap();
    std::fs::write(d.join("old.csv"), "day,x\n2020-01-01,1\n2020-01-02,2\n").unwrap();
    std::fs::write(d.join("new.csv"), "day,x\n2020-01-01,1\n2999-01-02,2\n").unwrap();
    std::fs::write(d.join("text.csv"), "day,x\nyesterday,1\n").unwrap();
    bin()
        .current_dir(d)
        .args(["--data", "old.csv"])
        .assert()
        .code(1);
    let (_, v) = report(d);
    let c = v
        .checks
        .iter()
        .find(|c| c.kind == CheckKind::Freshness)
        .unwrap();
    assert_eq!(c.status, Status::Failed);
    assert!(
        c.message.contains("the newest `day` is") && c.message.contains("(limit 2d)"),
        "{}",
        c.message
    );
    assert_eq!(c.threshold, Some(48.0));
    bin()
        .current_dir(d)
        .args(["--data", "new.csv"])
        .assert()
        .success();
    bin()
        .current_dir(d)
        .args(["--data", "text.csv"])
        .assert()
        .code(1);
    let (_, v) = report(d);
    assert!(
        v.checks.iter().any(|c| c
            .message
            .contains("data.time_column `day` is str, not a date or datetime")),
        "{:?}",
        v.checks
    );
}
