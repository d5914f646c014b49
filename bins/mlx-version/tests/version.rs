//! `mlx-version` end to end: add, status, push/pull with a remote directory (including
//! an interrupted push and corrupt objects), checkout across git revisions, diff, log,
//! gc, and the pipeline stage.

use std::path::Path;
use std::process::Command as Proc;

use assert_cmd::Command;
use mlx_contracts::version::{Pointer, PointerKind};
use mlx_testkit::command_in;
use predicates::prelude::*;
use serde_json::Value;

fn mlxv(d: &Path) -> Command {
    command_in(d, "mlx-version")
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

fn project() -> mlx_testkit::Sandbox {
    let s = mlx_testkit::Sandbox::new();
    s.write(
        "mlx.yaml",
        "data:\n  versioning:\n    remote: remote-store\n    cache: .mlx/cache\n",
    );
    s.write("sales.csv", "day,units\n1,10\n2,12\n");
    s.write("images/a.bin", "aaaa");
    s.write("images/sub/b.bin", "bbbbbb");
    s
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
    command_in(d, "mlx")
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

/// A file large enough to be copied by the kernel while it is hashed: the object holds
/// its bytes, under their SHA-256 (computed here with sha2), and the file stays apart.
#[test]
fn a_large_file_is_copied_and_hashed_side_by_side() {
    use sha2::Digest as _;
    let dir = project();
    let d = dir.path();
    let bytes: Vec<u8> = (0..(9u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(d.join("big.bin"), &bytes).unwrap();
    mlxv(d).args(["add", "big.bin"]).assert().success();
    let sha = pointer(d, "big.bin.mlx").sha256;
    let want: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sha, want);
    let object = d.join(".mlx/cache/sha256").join(&sha[..2]).join(&sha[2..]);
    assert!(
        std::fs::read(&object).unwrap() == bytes,
        "the object is a full copy"
    );
    std::fs::write(d.join("big.bin"), b"changed").unwrap();
    assert_eq!(
        std::fs::metadata(&object).unwrap().len(),
        bytes.len() as u64
    );
}

/// A git repository whose commit tagged `v1` versions sales.csv; its hash.
fn dataset_v1(d: &Path) -> String {
    git(d, &["init", "-q", "-b", "main"]);
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    git(d, &["add", "sales.csv.mlx", ".gitignore", "mlx.yaml"]);
    git(d, &["commit", "-q", "-m", "dataset v1"]);
    git(d, &["tag", "v1"]);
    pointer(d, "sales.csv.mlx").sha256
}

/// The default link mode never loses a version, whatever writes to the working file:
/// here an in-place rewrite (`cp new.csv sales.csv` as root ignores the read-only bit
/// of a hard link, and so does `std::fs::write`).
#[test]
fn an_in_place_edit_never_loses_a_version() {
    let dir = project();
    let d = dir.path();
    let v1 = dataset_v1(d);
    let object = d.join(".mlx/cache/sha256").join(&v1[..2]).join(&v1[2..]);
    let mut perms = std::fs::metadata(d.join("sales.csv"))
        .unwrap()
        .permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false); // what root's writes amount to
    std::fs::set_permissions(d.join("sales.csv"), perms).unwrap();
    std::fs::write(d.join("sales.csv"), "day,units\n1,99\n").unwrap();
    assert_eq!(
        mlx_core::hash::sha256_file(&object).unwrap().0,
        v1,
        "the cached version is untouched by an in-place write"
    );
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    git(d, &["commit", "-q", "-am", "dataset v2"]);
    git(d, &["checkout", "-q", "v1"]);
    mlxv(d).arg("checkout").assert().success();
    assert_eq!(
        std::fs::read_to_string(d.join("sales.csv")).unwrap(),
        "day,units\n1,10\n2,12\n"
    );
}

/// `diff` reads the two versions' tables from the cache: a corrupt object is an error
/// naming it, never row counts read from the wrong bytes.
#[test]
fn diff_verifies_the_objects_it_reads() {
    let dir = project();
    let d = dir.path();
    let v1 = dataset_v1(d);
    replace(&d.join("sales.csv"), "day,units\n1,10\n2,12\n3,9\n");
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    git(d, &["commit", "-q", "-am", "v2"]);
    let object = d.join(".mlx/cache/sha256").join(&v1[..2]).join(&v1[2..]);
    std::fs::write(&object, "day,units\n1,10\n2,12\n4,4\n5,5\n").unwrap();
    mlxv(d)
        .args(["diff", "v1", "main"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("is corrupt"));
}

/// `add` keeps the cache and the work directory out of git, wherever the cache is.
#[test]
fn the_cache_stays_out_of_git() {
    let dir = project();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    std::fs::write(
        d.join("mlx.yaml"),
        "data:\n  versioning:\n    cache: store/cache\n",
    )
    .unwrap();
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    let status = Proc::new("git")
        .current_dir(d)
        .args(["status", "--porcelain", "--untracked-files=all"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        !status.contains("store/") && !status.contains("sales.csv\n"),
        "{status}"
    );
    assert!(status.contains("sales.csv.mlx"), "{status}");
}

/// With no remote configured (the default, as DVC), push says how to set one.
#[test]
fn push_without_a_remote_says_how_to_set_one() {
    let dir = project();
    let d = dir.path();
    std::fs::remove_file(d.join("mlx.yaml")).unwrap();
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    mlxv(d)
        .arg("push")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("data.versioning.remote"));
    assert!(!d.join(".mlx/remote").exists());
}

/// A corrupt remote copy: pull refuses it and names the repair, `push --verify`
/// replaces it, and pull then succeeds.
#[test]
fn push_verify_repairs_a_corrupt_remote_copy() {
    let dir = project();
    let d = dir.path();
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    mlxv(d).arg("push").assert().success();
    let sha = pointer(d, "sales.csv.mlx").sha256;
    let remote = d
        .join("remote-store/sha256")
        .join(&sha[..2])
        .join(&sha[2..]);
    std::fs::write(&remote, "tampered").unwrap();
    assert_eq!(
        json(d, &["push"])["uploaded"],
        0,
        "a plain push trusts the remote"
    );
    std::fs::remove_dir_all(d.join(".mlx/cache/sha256")).unwrap();
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(d.join("sales.csv"), copy.path().join("sales.csv")).unwrap();
    std::fs::remove_file(d.join("sales.csv")).unwrap();
    mlxv(d)
        .arg("pull")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("push --verify"));
    std::fs::copy(copy.path().join("sales.csv"), d.join("sales.csv")).unwrap();
    mlxv(d).args(["add", "sales.csv"]).assert().success();
    assert_eq!(json(d, &["push", "--verify"])["uploaded"], 1);
    assert_eq!(mlx_core::hash::sha256_file(&remote).unwrap().0, sha);
}

/// Every case of tests/hostile/version (see its README): refused with its message,
/// never a panic, and nothing written outside `data/`.
#[test]
fn hostile_pointers_and_manifests_are_refused() {
    let corpus = mlx_testkit::root().join("tests/hostile/version");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "corpus shrank: {cases:?}");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let spec: Value = serde_json::from_str(&std::fs::read_to_string(&case).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        let d = root.as_path();
        std::fs::create_dir_all(d.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(d.join("data")).unwrap();
        std::fs::write(
            d.join("mlx.yaml"),
            "data:\n  versioning:\n    cache: .mlx/cache\n",
        )
        .unwrap();
        let store = |bytes: &[u8]| -> String {
            let (sha, _) = mlx_core::hash::sha256_reader(bytes, |_| {}).unwrap();
            let p = d.join(".mlx/cache/sha256").join(&sha[..2]).join(&sha[2..]);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
            sha
        };
        let shas: Vec<String> = spec["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| store(o.as_str().unwrap().as_bytes()))
            .collect();
        let fill = |text: String| {
            shas.iter()
                .enumerate()
                .fold(text, |t, (i, s)| t.replace(&format!("OBJECT{i}"), s))
        };
        let mut ptr = fill(spec["pointer"].to_string());
        if !spec["manifest"].is_null() {
            let manifest = fill(spec["manifest"].to_string());
            ptr = ptr.replace("MANIFEST", &store(manifest.as_bytes()));
        }
        std::fs::write(d.join("data.mlx"), ptr).unwrap();
        for (link, target) in spec["symlinks"].as_object().into_iter().flatten() {
            std::os::unix::fs::symlink(target.as_str().unwrap(), d.join(link)).unwrap();
        }
        let before = files_outside_data(dir.path());
        let out = mlxv(d).args(["checkout", "data"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(2 | 3)),
            "{name}: exit {:?}\n{stderr}",
            out.status.code()
        );
        let expect = spec["expect"].as_str().unwrap();
        assert!(
            stderr.contains(expect) && !stderr.contains("panicked"),
            "{name}: {stderr}"
        );
        assert_eq!(
            files_outside_data(dir.path()),
            before,
            "{name} wrote outside data/"
        );
        assert!(
            !Path::new("/tmp/mlx-hostile-absolute-path").exists(),
            "{name}"
        );
    }
}

/// Every file below `dir`, except under `project/data` and mlx's own `.mlx`.
fn files_outside_data(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, p: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == "project/data" || rel == "project/.mlx" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
