//! `mlx export kubernetes`: the manifests pass Kubernetes' own API schemas (PyPI's
//! kubernetes-validate, strict, for the two newest versions it carries), say what the
//! config says, keep hostile values as values, and refuse what a pod cannot have
//! (the corpus in tests/hostile/kubernetes).

use std::path::Path;
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Digest;

const CONFIG: &str = "\
project: { name: Ad_Sales, owner: forecasting-team }
data:
  sources:
    - { name: sales, uri: \"s3://${LAKE:-lake}/sales.csv\" }
    - name: prices
      uri: postgres://reader:${PG_PASSWORD}@db:5432/shop
      query: select * from prices
  merge: { on: [date], how: left }
  target: sales
pipeline: { problem_type: regression }
models: [{ name: linear, type: linear }]
explain: { enabled: false }
registry: { uri: \"s3://models/registry\" }
deploy: { port: 9000, auth_token_env: MLX_SERVE_TOKEN, prediction_log: logs/predictions }
orchestration: { schedule: \"0 2 * * 1\", retries: 4 }
monitoring: { schedule: \"30 6 * * *\" }
";

fn mlx(dir: &Path, args: &[&str]) -> Output {
    mlx_testkit::std_command("mlx")
        .current_dir(dir)
        .env("PG_PASSWORD", "hunter2")
        .args(args)
        .output()
        .unwrap()
}

fn project(config: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("mlx.yaml"), config).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every document of a YAML stream.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn exported(config: &str, extra: &[&str]) -> Vec<Value> {
    let d = project(config);
    let mut args = vec![
        "export",
        "kubernetes",
        "--image",
        "registry.example.com/ml/mlx:1.4",
    ];
    args.extend_from_slice(extra);
    let out = mlx(d.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    documents(&String::from_utf8(out.stdout).unwrap())
}

fn kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {docs:#?}"))
}

fn env_of(container: &Value, name: &str) -> Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn the_manifests_say_what_the_config_says() {
    let docs = exported(CONFIG, &[]);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "PersistentVolumeClaim",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "CronJob",
            "CronJob"
        ]
    );
    // The config travels as written, ${VAR} references and all; its hash rolls pods.
    let cm = kind(&docs, "ConfigMap", "ad-sales-config");
    assert_eq!(cm["data"]["mlx.yaml"], CONFIG);
    let sha = sha2::Sha256::digest(CONFIG.as_bytes());
    let sha: String = sha.iter().map(|b| format!("{b:02x}")).collect();

    let dep = kind(&docs, "Deployment", "ad-sales-serve");
    let pod = &dep["spec"]["template"];
    assert_eq!(pod["metadata"]["annotations"]["mlx/config-sha256"], sha);
    assert_eq!(dep["spec"]["replicas"], 2);
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example.com/ml/mlx:1.4");
    assert_eq!(c["command"], json!(["mlx", "serve", "--host", "0.0.0.0"]));
    assert_eq!(c["ports"][0]["containerPort"], 9000);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "500m", "memory": "512Mi"})
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(pod["spec"]["securityContext"]["runAsUser"], 65532);
    // Secrets by reference: required, optional (it has a default), and the token.
    assert_eq!(env_of(c, "MLX_CONFIG")["value"], "/srv/mlx/mlx.yaml");
    let pg = &env_of(c, "PG_PASSWORD")["valueFrom"]["secretKeyRef"];
    assert_eq!(
        *pg,
        json!({"name": "ad-sales-secrets", "key": "PG_PASSWORD", "optional": false})
    );
    assert_eq!(
        env_of(c, "LAKE")["valueFrom"]["secretKeyRef"]["optional"],
        true
    );
    assert_eq!(
        env_of(c, "MLX_SERVE_TOKEN")["valueFrom"]["secretKeyRef"]["optional"],
        true
    );
    let all = serde_json::to_string(&docs).unwrap();
    assert!(
        !all.contains("hunter2"),
        "a secret's value is in the manifests"
    );
    // The prediction log is the shared claim, where the config puts it.
    let log_mount = |c: &Value| {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "predictions")
            .map(|m| m["mountPath"].clone())
    };
    assert_eq!(log_mount(c), Some(json!("/srv/mlx/logs/predictions")));
    assert_eq!(
        kind(&docs, "PersistentVolumeClaim", "ad-sales-predictions")["spec"]["accessModes"],
        json!(["ReadWriteMany"])
    );
    let hpa = kind(&docs, "HorizontalPodAutoscaler", "ad-sales-serve");
    assert_eq!(
        (
            hpa["spec"]["minReplicas"].clone(),
            hpa["spec"]["maxReplicas"].clone()
        ),
        (json!(2), json!(10))
    );

    for (name, schedule, command, log) in [
        (
            "ad-sales-training",
            "0 2 * * 1",
            json!(["mlx", "run"]),
            None,
        ),
        (
            "ad-sales-monitoring",
            "30 6 * * *",
            json!(["mlx", "monitor"]),
            Some(json!("/srv/mlx/logs/predictions")),
        ),
    ] {
        let cj = kind(&docs, "CronJob", name);
        assert_eq!(cj["spec"]["schedule"], schedule);
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
        let job = &cj["spec"]["jobTemplate"]["spec"];
        assert_eq!(job["backoffLimit"], 4);
        let rule = &job["podFailurePolicy"]["rules"][0];
        assert_eq!(rule["action"], "FailJob");
        assert_eq!(rule["onExitCodes"]["values"], json!([1, 2]));
        let c = &job["template"]["spec"]["containers"][0];
        assert_eq!(c["command"], command);
        assert_eq!(rule["onExitCodes"]["containerName"], c["name"]);
        assert_eq!(log_mount(c), log);
        assert_eq!(job["template"]["spec"]["restartPolicy"], "Never");
    }
}

#[test]
fn a_baked_image_serves_its_own_bundle() {
    let docs = exported(CONFIG, &["--baked"]);
    let c =
        &kind(&docs, "Deployment", "ad-sales-serve")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["command"],
        json!([
            "mlx",
            "serve",
            "--host",
            "0.0.0.0",
            "--bundle",
            "/opt/mlx/bundle.tar"
        ])
    );
}

#[test]
fn a_directory_holds_the_same_objects_and_a_kustomization() {
    let d = project(CONFIG);
    let args = [
        "export",
        "kubernetes",
        "--image",
        "registry.example.com/ml/mlx:1.4",
        "--namespace",
        "ml",
    ];
    let stream = mlx(d.path(), &args);
    assert!(stream.status.success(), "{}", stderr(&stream));
    let out = mlx(d.path(), &[&args[..], &["--output", "k8s"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kubectl apply -k k8s"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("PG_PASSWORD"), "{}", stderr(&out));
    let dir = d.path().join("k8s");
    let k = documents(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap());
    assert_eq!(k[0]["namespace"], "ml");
    let files: Vec<String> = k[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    let from_files: Vec<Value> = files
        .iter()
        .flat_map(|f| documents(&std::fs::read_to_string(dir.join(f)).unwrap()))
        .collect();
    assert_eq!(
        from_files,
        documents(&String::from_utf8(stream.stdout).unwrap())
    );
    assert!(from_files
        .iter()
        .all(|d| d["metadata"]["namespace"] == "ml"));
    let text = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    assert!(
        text.starts_with("# Written by `mlx export kubernetes` from mlx.yaml"),
        "{text}"
    );
    assert!(
        text.contains("kubectl create secret generic ad-sales-secrets"),
        "{text}"
    );
}

#[test]
fn hostile_values_stay_values() {
    // Config text that would break YAML or a shell, and a program path that
    // Kubernetes would expand: the text is a value, `$` is written `$$`.
    let config = CONFIG.replace(
        "owner: forecasting-team",
        "owner: forecasting-team, description: \"x\\\"\\n---\\nkind: Secret\\n$(rm -rf /)\"",
    );
    assert!(config.contains("description: \"x\\\"\\n---"), "{config}");
    let docs = exported(&config, &["--mlx", "/opt/$(whoami)/mlx"]);
    assert_eq!(docs.len(), 8);
    let dep = kind(&docs, "Deployment", "ad-sales-serve");
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"][0], "/opt/$$(whoami)/mlx");
    assert_eq!(docs.iter().filter(|d| d["kind"] == "Secret").count(), 0);
    assert_eq!(
        kind(&docs, "ConfigMap", "ad-sales-config")["data"]["mlx.yaml"],
        config
    );

    let d = project(CONFIG);
    for (flag, value, says) in [
        (
            "--image",
            "ml/mlx:1\nkind: Secret",
            "is not an image reference",
        ),
        ("--image", "--privileged", "is not an image reference"),
        ("--namespace", "Prod_NS", "is not a Kubernetes namespace"),
        ("--cpu", "lots", "is not a Kubernetes quantity"),
        ("--memory", "1Gi; rm", "is not a Kubernetes quantity"),
        ("--replicas", "0", "need 1 <= replicas <= max-replicas"),
    ] {
        let given = format!("{flag}={value}");
        let mut args = vec!["export", "kubernetes", given.as_str()];
        if flag != "--image" {
            args.extend(["--image", "ml/mlx:1"]);
        }
        let out = mlx(d.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(says),
            "{flag} {value:?}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
}

/// Each config of tests/hostile/kubernetes says on its first line what the refusal
/// names (`# refused: <text>`): exit 2, nothing written.
#[test]
fn what_a_pod_cannot_have_is_refused() {
    let corpus = mlx_testkit::root().join("tests/hostile/kubernetes");
    let mut cases = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let says = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# refused: "))
            .unwrap_or_else(|| panic!("{} has no `# refused:` line", path.display()));
        let d = project(&text);
        let out = mlx(
            d.path(),
            &[
                "export",
                "kubernetes",
                "--image",
                "ml/mlx:1",
                "--output",
                "k8s",
            ],
        );
        let name = path.display();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(says),
            "{name}: wanted `{says}` in {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("hunter2"),
            "{name}: {}",
            stderr(&out)
        );
        assert!(!d.path().join("k8s").exists(), "{name}: wrote manifests");
        cases += 1;
    }
    assert!(cases >= 5, "{cases} cases in {}", corpus.display());
}

fn validator() -> String {
    std::env::var("MLX_TEST_KUBERNETES_VALIDATE")
        .expect("MLX_TEST_KUBERNETES_VALIDATE (set by tests/run.sh: tests/kubernetes/validate.sh)")
}

/// Kubernetes' API schemas, strict (no field they do not define), for the two newest
/// versions kubernetes-validate carries.
#[test]
#[ignore = "needs kubernetes-validate: run `bash tests/run.sh`"]
fn the_manifests_pass_the_kubernetes_schemas() {
    let validate = validator();
    let d = project(CONFIG);
    let out = mlx(
        d.path(),
        &[
            "export",
            "kubernetes",
            "--image",
            "registry.example.com/ml/mlx:1.4",
            "--namespace",
            "ml",
            "--storage-class",
            "efs",
            "--output",
            "k8s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = d.path().join("k8s");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "{files:?}");
    for version in ["1.37.0", "1.36.0"] {
        let out = Command::new(&validate)
            .args(["--strict", "--kubernetes-version", version])
            .args(&files)
            .output()
            .expect("kubernetes-validate");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "Kubernetes {version}: {said}{}",
            stderr(&out)
        );
        assert_eq!(
            said.matches("INFO").count(),
            8,
            "Kubernetes {version}: {said}"
        );
    }
    // The schemas are not a rubber stamp: a field they do not define is refused.
    let bad = dir.join("deployment.yaml");
    let text = std::fs::read_to_string(&bad).unwrap();
    std::fs::write(&bad, text.replace("readinessProbe:", "readinessProbes:")).unwrap();
    let out = Command::new(&validate)
        .args(["--strict", "--kubernetes-version", "1.37.0"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
