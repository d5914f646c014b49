//! `mlx-version` end to end: add, status, push/pull with a remote directory (including
//! an interrupted push and corrupt objects), checkout across git revisions, diff, log,
//! gc, and the pipeline stage.

use std::path::Path;
use std::process::Command as Proc;

use assert_cmd::Command;
use mlx_contracts::version::{Pointer, PointerKind};
use predicates::prelude::*;
use serde_json::Value;

fn mlxv(d: &Path) -> Command {
    let mut c = Command::cargo_bin("mlx-version").unwrap();
    c.current_dir(d)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("MLX_CONFIG")
        .env_remove("MLX_WORKDIR");
    c
}

fn json(d: &Path, args: &[&str]) -> Value {
    let out = mlxv(d).args(args).arg("--json").arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn git(d: &Path, args: &[&str]) {
    let ok = Proc::new("git")
        .current_dir(d)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("mlx.yaml"),
        "data:\n  versioning:\n    remote: remote-store\n    cache: .mlx/cache\n",
    )
    .unwrap();
    std::fs::write(d.join("sales.csv"), "day,units\n1,10\n2,12\n").unwrap();
    std::fs::create_dir_all(d.join("images/sub")).unwrap();
    std::fs::write(d.join("images/a.bin"), b"aaaa").unwrap();
    std::fs::write(d.join("images/sub/b.bin"), b"bbbbbb").unwrap();
    dir
}

/// Writes new content the way data tools do: a new file renamed over the old one.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

fn pointer(d: &Path, p: &str) -> Pointer {
    Pointer::from_json(&std::fs::read_to_string(d.join(p)).unwrap()).unwrap()
}

#[test]
fn add_writes_pointers_cache_objects_and_gitignore() {
    let dir = project();
    let d = dir.path();
    mlxv(d)
        .args(["add", "sales.csv", "images"])
        .assert()
        .success();
    let p = pointer(d, "sales.csv.mlx");
    let (sha, size) = mlx_core::hash::sha256_file(&d.join("sales.csv")).unwrap();
    assert_eq!(
        (p.sha256.as_str(), p.size, p.kind, p.files),
        (sha.as_str(), size, PointerKind::File, 1)
    );
    assert!(d
        .join(".mlx/cache/sha256")
        .join(&sha[..2])
        .join(&sha[2..])
        .is_file());
    let dirp = pointer(d, "images.mlx");
    assert_eq!(
        (dirp.kind, dirp.files, dirp.size),
        (PointerKind::Directory, 2, 10)
    );
    let gi = std::fs::read_to_string(d.join(".gitignore")).unwrap();
    assert_eq!(gi, "/sales.csv\n/images\n");
    // Re-adding unchanged data changes nothing, not even the pointer's bytes.
    let before = std::fs::read(d.join("sales.csv.mlx")).unwrap();
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    assert_eq!(std::fs::read(d.join("sales.csv.mlx")).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(d.join(".gitignore")).unwrap(),
        gi,
        "no duplicate ignore line"
    );
    assert!(
        d.join(".mlx/cache/state.json").is_file(),
        "stat cache persisted"
    );
}

#[test]
fn status_push_pull_and_corruption() {
    let dir = project();
    let d = dir.path();
    mlxv(d)
        .args(["add", "sales.csv", "images"])
        .assert()
        .success();
    let s = json(d, &["status"]);
    assert!(
        s["status"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["state"] == "unchanged" && e["in_cache"] == true),
        "{s}"
    );

    // Push uploads file + manifest + 2 directory files = 4 objects; again: none.
    assert_eq!(json(d, &["push"])["uploaded"], 4);
    assert_eq!(json(d, &["push"])["uploaded"], 0);
    // An interrupted push: the remote lost one object; a re-run moves only that one.
    let sha = pointer(d, "sales.csv.mlx").sha256;
    std::fs::remove_file(
        d.join("remote-store/sha256")
            .join(&sha[..2])
            .join(&sha[2..]),
    )
    .unwrap();
    let again = json(d, &["push"]);
    assert_eq!(
        (
            again["uploaded"].as_u64(),
            again["already_present"].as_u64()
        ),
        (Some(1), Some(3))
    );

    // A fresh clone: no data, no cache. Pull restores both.
    std::fs::remove_dir_all(d.join(".mlx")).unwrap();
    std::fs::remove_file(d.join("sales.csv")).unwrap();
    std::fs::remove_dir_all(d.join("images")).unwrap();
    let s = json(d, &["status"]);
    assert_eq!(s["status"][0]["state"], "missing");
    let pulled = json(d, &["pull"]);
    assert_eq!(
        (pulled["downloaded"].as_u64(), pulled["restored"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(
        std::fs::read_to_string(d.join("sales.csv")).unwrap(),
        "day,units\n1,10\n2,12\n"
    );
    assert_eq!(
        std::fs::read(d.join("images/sub/b.bin")).unwrap(),
        b"bbbbbb"
    );

    // A corrupt cache object is detected and re-fetched, never used.
    let obj = d.join(".mlx/cache/sha256").join(&sha[..2]).join(&sha[2..]);
    std::fs::write(&obj, "garbage").unwrap();
    std::fs::remove_file(d.join("sales.csv")).unwrap();
    mlxv(d)
        .arg("checkout")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("is corrupt"));
    assert!(!d.join("sales.csv").exists(), "nothing half-written");
    mlxv(d).arg("pull").assert().success();
    assert_eq!(
        std::fs::read_to_string(d.join("sales.csv")).unwrap(),
        "day,units\n1,10\n2,12\n"
    );

    // A modified working file shows up in status.
    replace(&d.join("sales.csv"), "day,units\n1,11\n");
    assert_eq!(
        json(d, &["status", "sales.csv"])["status"][0]["state"],
        "modified"
    );
    // A corrupt remote copy is refused on pull.
    std::fs::remove_dir_all(d.join(".mlx")).unwrap();
    std::fs::write(
        d.join("remote-store/sha256")
            .join(&sha[..2])
            .join(&sha[2..]),
        "bad",
    )
    .unwrap();
    mlxv(d)
        .args(["pull", "sales.csv"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("holds a corrupt copy"));
}

#[test]
fn git_history_checkout_diff_log_and_gc() {
    let dir = project();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    git(d, &["add", "sales.csv.mlx", ".gitignore", "mlx.yaml"]);
    git(d, &["commit", "-q", "-m", "dataset v1"]);
    git(d, &["tag", "v1"]);
    // New data arrives as a new file (added files are read-only hard links into the
    // cache, so tools replace them rather than write into them).
    replace(
        &d.join("sales.csv"),
        "day,units,price\n1,10,2.5\n2,12,2.5\n3,9,2.0\n",
    );
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    git(d, &["commit", "-q", "-am", "dataset v2"]);

    let diff = json(d, &["diff", "v1", "main"]);
    let change = &diff["changes"][0];
    assert_eq!(change["path"], "sales.csv");
    let table = change["table"].as_str().unwrap();
    assert!(
        table.contains("rows 2 -> 3 (+1)") && table.contains("+column price (f64)"),
        "{table}"
    );

    let log = json(d, &["log", "sales.csv"]);
    let entries = log["log"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["subject"], "dataset v2");

    // Back to v1: the pointer changes with git, checkout restores the data.
    git(d, &["checkout", "-q", "v1"]);
    mlxv(d).arg("checkout").assert().success();
    assert_eq!(
        std::fs::read_to_string(d.join("sales.csv")).unwrap(),
        "day,units\n1,10\n2,12\n"
    );
    git(d, &["checkout", "-q", "main"]);

    // gc keeps what the working tree and the named revisions reference.
    let kept_v1 = json(d, &["gc", "--rev", "v1", "--dry-run"]);
    assert_eq!(kept_v1["removed"], 0);
    let gc = json(d, &["gc"]);
    assert_eq!(gc["removed"], 1, "v1's object is unreferenced on main");
    mlxv(d)
        .args(["diff", "v1", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`nope` is not a git revision"));
}

#[test]
fn the_stage_versions_the_ingested_dataset_in_mlx_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.csv"), "x,y\n1,2\n3,4\n").unwrap();
    std::fs::write(
        d.join("mlx.yaml"),
        "data:\n  sources:\n    - { name: a, uri: a.csv }\n",
    )
    .unwrap();
    let mut mlx = Command::cargo_bin("mlx").unwrap();
    mlx.current_dir(d)
        .args(["run", "--to", "version"])
        .assert()
        .success();
    let rec = mlx_contracts::StageRecord::from_json(
        &std::fs::read_to_string(d.join(".mlx/version.json")).unwrap(),
    )
    .unwrap();
    let (sha, _) = mlx_core::hash::sha256_file(&d.join(".mlx/data/raw.parquet")).unwrap();
    assert_eq!(rec.outputs_kv["dataset_sha256"], sha);
    assert!(d.join(".mlx/data/raw.parquet.mlx").is_file());
}

/// Push and pull through a real S3 API (moto on loopback, started by tests/run.sh),
/// including an interrupted push.
#[test]
#[ignore = "needs the S3 service: run `bash tests/run.sh`"]
fn s3_remote_round_trip() {
    let endpoint =
        std::env::var("MLX_TEST_S3_ENDPOINT").expect("MLX_TEST_S3_ENDPOINT (set by tests/run.sh)");
    let bucket = std::env::var("MLX_TEST_S3_BUCKET").expect("MLX_TEST_S3_BUCKET");
    let dir = project();
    let d = dir.path();
    let prefix = format!("run-{}", std::process::id());
    std::fs::write(
        d.join("mlx.yaml"),
        format!("data:\n  versioning:\n    remote: s3://{bucket}/{prefix}\n"),
    )
    .unwrap();
    let s3 = |c: &mut Command| {
        c.env("AWS_ENDPOINT", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
    };
    let run = |args: &[&str]| -> Value {
        let mut c = mlxv(d);
        s3(&mut c);
        let out = c.args(args).arg("--json").arg("-q").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    run(&["add", "sales.csv", "images"]);
    // A push that got only as far as the first file: the full re-run moves the rest.
    assert_eq!(run(&["push", "sales.csv"])["uploaded"], 1);
    let again = run(&["push"]);
    assert_eq!(
        (
            again["uploaded"].as_u64(),
            again["already_present"].as_u64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(run(&["push"])["uploaded"], 0, "a re-run moves nothing");
    std::fs::remove_dir_all(d.join(".mlx")).unwrap();
    std::fs::remove_file(d.join("sales.csv")).unwrap();
    let pulled = run(&["pull"]);
    assert_eq!(pulled["downloaded"], 4);
    assert_eq!(
        std::fs::read_to_string(d.join("sales.csv")).unwrap(),
        "day,units\n1,10\n2,12\n"
    );
}

#[test]
fn copy_mode_keeps_the_file_writable_and_separate() {
    let dir = project();
    let d = dir.path();
    std::fs::write(d.join("mlx.yaml"), "data:\n  versioning:\n    link: copy\n").unwrap();
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    let sha = pointer(d, "sales.csv.mlx").sha256;
    let object = d.join(".mlx/cache/sha256").join(&sha[..2]).join(&sha[2..]);
    std::fs::write(d.join("sales.csv"), "changed in place\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(object).unwrap(),
        "day,units\n1,10\n2,12\n",
        "the cached version is untouched"
    );
    assert!(!std::fs::metadata(d.join("sales.csv"))
        .unwrap()
        .permissions()
        .readonly());
}
