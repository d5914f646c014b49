//! `mlx export kubernetes`: the served model and the scheduled jobs as Kubernetes
//! manifests, as `mlx export airflow` writes them for Airflow.
//!
//! - serving: a Deployment running `mlx serve` (readiness `/readyz`, liveness and
//!   start-up `/healthz`, resources, a non-root user, a read-only root file system, no
//!   capabilities), a Service, a HorizontalPodAutoscaler on CPU and a
//!   PodDisruptionBudget;
//! - the config as a ConfigMap, mounted as a file of the pod's project directory, so its
//!   relative paths mean there what they mean here; the pod template carries the
//!   config's SHA-256, so a changed config rolls the Deployment out;
//! - the prediction log on a ReadWriteMany PersistentVolumeClaim shared by every
//!   replica and the monitoring job;
//! - CronJobs for training (`mlx run` on `orchestration.schedule`) and monitoring
//!   (`mlx monitor` on `monitoring.schedule`), with `orchestration.retries` as the
//!   backoff limit; a check that said no (exit 1: the gate refused, a trigger fired) or a
//!   usage error (exit 2) fails the Job at once instead of being retried.
//!
//! Secrets are references, never values: every `${VAR}` of the config becomes an
//! environment variable read from the Secret `<name>-secrets` (required unless the
//! reference has a default), and the whole Secret is offered as environment too (the
//! object store's `AWS_*`, `GOOGLE_*`, `AZURE_*` credentials). A config that holds a
//! password itself is refused: a ConfigMap is not secret.
//!
//! Manifests are built as data and serialised, so no config value can change their
//! structure; `$` in a command is written `$$`, which Kubernetes reads as a literal `$`
//! rather than a `$(VAR)` expansion. A deployment is a registry change, not a manifest
//! change: the pods follow `deploy.model` in the registry (canary and blue-green
//! included), so the manifests only change when the config or the image does.

use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::interpolate::{mask, Variable};
use crate::config::{LoadedConfig, ProcessEnv};
use crate::error::{Error, Result};
use crate::ingest::{is_database, is_remote};

/// Where the project directory is in every pod: the config file, and the work directory
/// beside it (an `emptyDir`).
pub const PROJECT: &str = "/srv/mlx";

/// The user and group every container runs as (not root; the usual "nonroot" id).
pub const USER: u64 = 65532;

/// What the command line chooses; the rest comes from the config.
#[derive(Debug, Clone)]
pub struct Options {
    /// The image whose `mlx` runs the stages (`registry.example.com/team/mlx:1.4`).
    pub image: String,
    /// The namespace the objects are placed in; none: the one `kubectl` uses.
    pub namespace: Option<String>,
    /// How the containers invoke mlx (a name on the image's `PATH`, or a path).
    pub mlx: String,
    /// Serving replicas at least, and at most (the autoscaler's range).
    pub replicas: u32,
    /// See `replicas`.
    pub max_replicas: u32,
    /// CPU requested per serving replica (a Kubernetes quantity: `500m`, `2`).
    pub cpu: String,
    /// Memory requested and the limit per replica (`512Mi`, `2Gi`).
    pub memory: String,
    /// Size of the prediction log's volume claim (`10Gi`).
    pub log_storage: String,
    /// The claim's storage class; none: the cluster's default (which must offer
    /// ReadWriteMany).
    pub storage_class: Option<String>,
    /// Serve the bundle baked into the image (`mlx image build`) instead of following
    /// the registry: a rollout is then an image change.
    pub baked: bool,
}

/// One manifest file.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Its file name (`deployment.yaml`).
    pub file: String,
    /// The object, as YAML would hold it.
    pub object: Value,
}

/// The manifests, and what the user must provide beside them.
#[derive(Debug, Clone)]
pub struct Export {
    /// The objects, in the order `kubectl apply` should meet them.
    pub manifests: Vec<Manifest>,
    /// The Secret the pods read their environment from.
    pub secret: String,
    /// The variables that Secret must hold (`optional`: the config has a default).
    pub variables: Vec<Variable>,
    /// The header every file starts with (YAML comments).
    pub header: String,
}

impl Export {
    /// One file's text: the header, then the object.
    pub fn text(&self, m: &Manifest) -> Result<String> {
        Ok(format!("{}{}", self.header, to_yaml(&m.object)?))
    }

    /// Every object in one stream of YAML documents, for `kubectl apply -f -`.
    pub fn stream(&self) -> Result<String> {
        let mut out = self.header.clone();
        for (i, m) in self.manifests.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(&to_yaml(&m.object)?);
        }
        Ok(out)
    }

    /// `kustomization.yaml`, listing every file (`kubectl apply -k DIR`).
    pub fn kustomization(&self, namespace: Option<&str>) -> Result<String> {
        let mut k = json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": self.manifests.iter().map(|m| m.file.clone()).collect::<Vec<_>>(),
        });
        if let Some(ns) = namespace {
            k["namespace"] = json!(ns);
        }
        Ok(format!("{}{}", self.header, to_yaml(&k)?))
    }
}

fn to_yaml(v: &Value) -> Result<String> {
    serde_norway::to_string(v).map_err(|e| Error::Runtime(format!("writing YAML: {e}")))
}

/// The manifests for the config in `config`.
pub fn kubernetes(config: &LoadedConfig, opts: &Options) -> Result<Export> {
    check_options(opts)?;
    let file = config_file_name(&config.path)?;
    check_config(config)?;
    let cfg = &config.config;
    let app = app_name(cfg.project.name.as_deref().unwrap_or("mlx"));
    let secret = format!("{app}-secrets");
    let written =
        crate::config::parse(&config.path, &config.source, &ProcessEnv).map_err(Error::Config)?;
    let log = Path::new(&written.config.deploy.prediction_log);
    let log = if log.is_absolute() {
        log.to_path_buf()
    } else {
        Path::new(PROJECT).join(log)
    };
    let k = Builder {
        app: app.clone(),
        opts,
        file: file.clone(),
        config_sha256: crate::config::hex(&Sha256::digest(config.source.as_bytes())),
        secret: secret.clone(),
        variables: config.variables.clone(),
        log: log.to_string_lossy().into_owned(),
        retries: cfg.orchestration.retries,
    };
    let d = &cfg.deploy;
    let token = (!d.auth_token_env.is_empty()).then_some(d.auth_token_env.as_str());
    let manifests = vec![
        k.manifest("configmap.yaml", k.config_map(&config.source)),
        k.manifest("predictions-pvc.yaml", k.log_claim()),
        k.manifest("deployment.yaml", k.deployment(d.port, token)),
        k.manifest("service.yaml", k.service()),
        k.manifest("hpa.yaml", k.autoscaler()),
        k.manifest("pdb.yaml", k.disruption_budget()),
        k.manifest(
            "cronjob-training.yaml",
            k.cron_job("training", &cfg.orchestration.schedule, &["run"], false),
        ),
        k.manifest(
            "cronjob-monitoring.yaml",
            k.cron_job("monitoring", &cfg.monitoring.schedule, &["monitor"], true),
        ),
    ];
    let header = header(&file, &secret, &config.variables);
    Ok(Export {
        manifests,
        secret,
        variables: config.variables.clone(),
        header,
    })
}

fn header(file: &str, secret: &str, variables: &[Variable]) -> String {
    let mut h = format!(
        "# Written by `mlx export kubernetes` from {file}; export again rather than edit.\n"
    );
    if !variables.is_empty() {
        let names: Vec<String> = variables
            .iter()
            .map(|v| {
                if v.optional {
                    format!("{} (optional)", v.name)
                } else {
                    v.name.clone()
                }
            })
            .collect();
        h.push_str(&format!(
            "# The pods read {} from the Secret {secret}:\n#   kubectl create secret generic {secret} {}\n",
            names.join(", "),
            variables
                .iter()
                .map(|v| format!("--from-literal={}=...", v.name))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    h
}

/// A name Kubernetes accepts for every object (an RFC 1123 label, short enough for a
/// CronJob's `-monitoring` suffix), made from the project's name.
pub fn app_name(project: &str) -> String {
    let mut s = String::new();
    for c in project.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let mut s: String = s.trim_matches('-').chars().take(40).collect();
    while s.ends_with('-') {
        s.pop();
    }
    if s.is_empty() {
        "mlx".into()
    } else {
        s
    }
}

/// The config's file name, as the ConfigMap's key and the file in the pod (and in an
/// image, `mlx image build`).
pub(crate) fn config_file_name(path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(Error::Usage(format!(
            "the config's file name `{name}` cannot be a file in a container or a ConfigMap \
             key: rename it to letters, digits, `-`, `_` and `.` (e.g. mlx.yaml)"
        )))
    }
}

fn is_quantity(q: &str) -> bool {
    let digits = q.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &q[digits.len()..];
    let number = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.');
    number
        && ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&unit)
        && digits.parse::<f64>().is_ok_and(|n| n > 0.0)
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check_options(o: &Options) -> Result<()> {
    let usage = |m: String| Err(Error::Usage(m));
    let image_ok = !o.image.is_empty()
        && !o.image.starts_with('-')
        && o.image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    if !image_ok {
        return usage(format!(
            "--image `{}` is not an image reference: give one such as \
             registry.example.com/team/mlx:1.4 (letters, digits and `._-/:@`)",
            o.image.escape_debug()
        ));
    }
    if let Some(ns) = &o.namespace {
        if !is_label(ns) {
            return usage(format!(
                "--namespace `{}` is not a Kubernetes namespace: lower-case letters, digits \
                 and `-`, at most 63, starting and ending with a letter or digit",
                ns.escape_debug()
            ));
        }
    }
    if o.mlx.is_empty() || o.mlx.chars().any(char::is_control) {
        return usage("--mlx must name the mlx program in the image (e.g. mlx)".into());
    }
    if o.replicas == 0 || o.max_replicas < o.replicas {
        return usage(format!(
            "--replicas {} and --max-replicas {}: need 1 <= replicas <= max-replicas",
            o.replicas, o.max_replicas
        ));
    }
    for (flag, q) in [
        ("--cpu", &o.cpu),
        ("--memory", &o.memory),
        ("--log-storage", &o.log_storage),
    ] {
        if !is_quantity(q) {
            return usage(format!(
                "{flag} `{}` is not a Kubernetes quantity: e.g. 500m or 2 for CPU, 512Mi or \
                 10Gi for memory and storage",
                q.escape_debug()
            ));
        }
    }
    if let Some(class) = &o.storage_class {
        if !is_label(class) {
            return usage(format!(
                "--storage-class `{}` is not a storage class name",
                class.escape_debug()
            ));
        }
    }
    Ok(())
}

/// What a pod cannot have: state on this machine, a fixed port missing, a password in
/// the ConfigMap.
fn check_config(config: &LoadedConfig) -> Result<()> {
    if config.source.is_empty() {
        return Err(Error::Usage(format!(
            "{} is empty or missing: the manifests carry the config, so export from one",
            config.path.display()
        )));
    }
    if config.source.len() > 1_000_000 {
        return Err(Error::Usage(format!(
            "{} is {} bytes; a ConfigMap holds at most 1 MiB",
            config.path.display(),
            config.source.len()
        )));
    }
    let cfg = &config.config;
    let local = |uri: &str| !(is_remote(uri) || is_database(uri));
    let where_to = "an object store URL the cluster can reach (s3://, gs://, az://, https://)";
    let mut problems = Vec::new();
    if !cfg.registry.uri.contains("://") || cfg.registry.uri.starts_with("file://") {
        problems.push(config.diagnostic(
            "registry.uri",
            format!(
                "`{}` is a directory on this machine; every pod and job must share the \
                 registry: set it to an object store URL (s3://, gs://, az://)",
                cfg.registry.uri
            ),
        ));
    }
    for (i, s) in cfg.data.sources.iter().enumerate() {
        let uri = s.delta.as_ref().map_or(&s.uri, |d| &d.uri);
        if s.http.is_none() && local(uri) {
            problems.push(config.diagnostic(
                &format!("data.sources[{i}].uri"),
                format!(
                    "`{}` is a file on this machine, which the training job cannot read: \
                     use {where_to} or a database URL",
                    uri
                ),
            ));
        }
    }
    let store = &cfg.features.store;
    if !store.views.is_empty() {
        if !store
            .online
            .as_deref()
            .is_some_and(|u| u.starts_with("redis://"))
        {
            problems.push(config.diagnostic(
                "features.store.online",
                "the serving pods must share the online store: set it to redis://host:port/db",
            ));
        }
        if !store.offline.as_deref().is_some_and(is_remote) {
            problems.push(config.diagnostic(
                "features.store.offline",
                format!("the jobs must share the offline store: set it to {where_to}"),
            ));
        }
    }
    let token = &cfg.deploy.auth_token_env;
    let variable = |n: &str| {
        n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !token.is_empty() && !variable(token) {
        problems.push(config.diagnostic(
            "deploy.auth_token_env",
            format!(
                "`{}` is not an environment variable name: letters, digits and `_`, not \
                 starting with a digit (e.g. MLX_SERVE_TOKEN)",
                token.escape_debug()
            ),
        ));
    }
    if cfg.deploy.port == 0 {
        problems.push(config.diagnostic(
            "deploy.port",
            "a pod needs a fixed port for its probes and Service: set deploy.port (e.g. 8080)",
        ));
    }
    // A password written into the config would be readable by anyone who can read the
    // ConfigMap: only `${VAR}` references (which masking keeps) may stand there.
    if let Some((n, line)) = config
        .source
        .lines()
        .enumerate()
        .find(|(_, l)| mask(l, &[]) != *l)
    {
        let masked = mask(line, &[]);
        let column = line
            .chars()
            .zip(masked.chars())
            .take_while(|(a, b)| a == b)
            .count();
        problems.push(
            crate::config::Diagnostic::new(
                &config.path,
                "",
                "the config holds a password or token in a URL, which the ConfigMap would \
                 show: write it as ${VAR} and put VAR in the Secret",
            )
            .at(n + 1, column + 1, &config.source),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(crate::config::Diagnostics(problems)))
    }
}

/// `$` doubled: Kubernetes expands `$(VAR)` in a container's command, `$$` is a `$`.
fn literal(s: &str) -> String {
    s.replace('$', "$$")
}

struct Builder<'a> {
    app: String,
    opts: &'a Options,
    file: String,
    config_sha256: String,
    secret: String,
    variables: Vec<Variable>,
    log: String,
    retries: u32,
}

impl Builder<'_> {
    fn manifest(&self, file: &str, object: Value) -> Manifest {
        Manifest {
            file: file.into(),
            object,
        }
    }

    fn labels(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": self.app,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": "mlx",
        })
    }

    fn metadata(&self, name: &str, component: &str) -> Value {
        let mut m = json!({ "name": name, "labels": self.labels(component) });
        if let Some(ns) = &self.opts.namespace {
            m["namespace"] = json!(ns);
        }
        m
    }

    fn config_map(&self, source: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.metadata(&format!("{}-config", self.app), "config"),
            "data": { self.file.clone(): source },
        })
    }

    fn log_claim(&self) -> Value {
        let mut spec = json!({
            "accessModes": ["ReadWriteMany"],
            "resources": { "requests": { "storage": self.opts.log_storage } },
        });
        if let Some(class) = &self.opts.storage_class {
            spec["storageClassName"] = json!(class);
        }
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": self.metadata(&format!("{}-predictions", self.app), "predictions"),
            "spec": spec,
        })
    }

    /// The environment: where the config is, each `${VAR}` from the Secret.
    fn env(&self, token: Option<&str>) -> Value {
        let mut env = vec![json!({
            "name": "MLX_CONFIG",
            "value": format!("{PROJECT}/{}", self.file),
        })];
        let mut from_secret = |name: &str, optional: bool| {
            env.push(json!({
                "name": name,
                "valueFrom": { "secretKeyRef": {
                    "name": self.secret, "key": name, "optional": optional,
                } },
            }));
        };
        for v in &self.variables {
            from_secret(&v.name, v.optional);
        }
        if let Some(t) = token.filter(|t| !self.variables.iter().any(|v| v.name == *t)) {
            from_secret(t, true);
        }
        json!(env)
    }

    fn container(&self, name: &str, args: &[&str], token: Option<&str>) -> Value {
        let mut command = vec![literal(&self.opts.mlx)];
        command.extend(args.iter().map(|a| literal(a)));
        let mut mounts = vec![
            json!({ "name": "project", "mountPath": PROJECT }),
            json!({
                "name": "config", "mountPath": format!("{PROJECT}/{}", self.file),
                "subPath": self.file, "readOnly": true,
            }),
            json!({ "name": "tmp", "mountPath": "/tmp" }),
        ];
        if name != "train" {
            mounts.push(json!({ "name": "predictions", "mountPath": self.log }));
        }
        json!({
            "name": name,
            "image": self.opts.image,
            "command": command,
            "workingDir": PROJECT,
            "env": self.env(token),
            "envFrom": [{ "secretRef": { "name": self.secret, "optional": true } }],
            "volumeMounts": mounts,
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": USER,
                "runAsGroup": USER,
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "capabilities": { "drop": ["ALL"] },
            },
        })
    }

    /// The pod around one container: the project directory, the config, `/tmp`, and
    /// the prediction log's claim unless it is the training job.
    fn pod(&self, component: &str, container: Value, restart: &str) -> Value {
        let mut volumes = vec![
            json!({ "name": "project", "emptyDir": {} }),
            json!({ "name": "config", "configMap": { "name": format!("{}-config", self.app) } }),
            json!({ "name": "tmp", "emptyDir": {} }),
        ];
        if component != "training" {
            volumes.push(json!({
                "name": "predictions",
                "persistentVolumeClaim": { "claimName": format!("{}-predictions", self.app) },
            }));
        }
        json!({
            "metadata": {
                "labels": self.labels(component),
                "annotations": { "mlx/config-sha256": self.config_sha256 },
            },
            "spec": {
                "restartPolicy": restart,
                "automountServiceAccountToken": false,
                "securityContext": {
                    "runAsNonRoot": true,
                    "runAsUser": USER,
                    "runAsGroup": USER,
                    "fsGroup": USER,
                    "seccompProfile": { "type": "RuntimeDefault" },
                },
                "containers": [container],
                "volumes": volumes,
            },
        })
    }

    fn deployment(&self, port: u16, token: Option<&str>) -> Value {
        let probe = |path: &str, period: u32, failures: u32| {
            json!({
                "httpGet": { "path": path, "port": "http" },
                "periodSeconds": period,
                "failureThreshold": failures,
            })
        };
        let mut args = vec!["serve", "--host", "0.0.0.0"];
        if self.opts.baked {
            args.extend(["--bundle", crate::image::BUNDLE]);
        }
        let mut c = self.container("serve", &args, token);
        c["ports"] = json!([{ "name": "http", "containerPort": port, "protocol": "TCP" }]);
        c["readinessProbe"] = probe("/readyz", 5, 3);
        c["livenessProbe"] = probe("/healthz", 10, 3);
        // The server listens once its model is loaded: up to two minutes for a large one.
        c["startupProbe"] = probe("/healthz", 2, 60);
        c["resources"] = json!({
            "requests": { "cpu": self.opts.cpu, "memory": self.opts.memory },
            "limits": { "memory": self.opts.memory },
        });
        let mut pod = self.pod("serve", c, "Always");
        // SIGTERM stops serving and flushes the prediction log.
        pod["spec"]["terminationGracePeriodSeconds"] = json!(30);
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.metadata(&format!("{}-serve", self.app), "serve"),
            "spec": {
                "replicas": self.opts.replicas,
                "selector": { "matchLabels": self.labels("serve") },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": { "maxUnavailable": 0, "maxSurge": 1 },
                },
                "template": pod,
            },
        })
    }

    fn service(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(&format!("{}-serve", self.app), "serve"),
            "spec": {
                "type": "ClusterIP",
                "selector": self.labels("serve"),
                "ports": [{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }],
            },
        })
    }

    fn autoscaler(&self) -> Value {
        json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": self.metadata(&format!("{}-serve", self.app), "serve"),
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "name": format!("{}-serve", self.app),
                },
                "minReplicas": self.opts.replicas,
                "maxReplicas": self.opts.max_replicas,
                "metrics": [{
                    "type": "Resource",
                    "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } },
                }],
            },
        })
    }

    fn disruption_budget(&self) -> Value {
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": self.metadata(&format!("{}-serve", self.app), "serve"),
            "spec": {
                "maxUnavailable": 1,
                "selector": { "matchLabels": self.labels("serve") },
            },
        })
    }

    /// A scheduled job: one pod running `mlx <args>`, never two at once (as the work
    /// directory's lock), retried `orchestration.retries` times on a run-time error.
    fn cron_job(&self, component: &str, schedule: &str, args: &[&str], monitor: bool) -> Value {
        let container = if monitor { "monitor" } else { "train" };
        let pod = self.pod(component, self.container(container, args, None), "Never");
        json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": self.metadata(&format!("{}-{component}", self.app), component),
            "spec": {
                "schedule": schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": { "labels": self.labels(component) },
                    "spec": {
                        "backoffLimit": self.retries,
                        "podFailurePolicy": { "rules": [{
                            "action": "FailJob",
                            "onExitCodes": { "containerName": container, "operator": "In", "values": [1, 2] },
                        }] },
                        "template": pod,
                    },
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_rfc_1123_labels_short_enough_for_every_suffix() {
        assert_eq!(app_name("Ad_Sales.v2"), "ad-sales-v2");
        assert_eq!(app_name("--churn--model--"), "churn-model");
        assert_eq!(app_name("___"), "mlx");
        // Cut at 40, then no trailing `-`.
        let long = app_name(&format!("{}-b-c", "a".repeat(39)));
        assert_eq!(long, "a".repeat(39));
        // CronJob names are limited to 52 characters.
        assert!(format!("{long}-monitoring").len() <= 52);
    }

    #[test]
    fn quantities_are_what_kubernetes_accepts() {
        for q in ["500m", "2", "0.5", "512Mi", "10Gi", "1k", "1.5G"] {
            assert!(is_quantity(q), "{q}");
        }
        for q in [
            "", "lots", "1.", ".5", "1..5", "10GB", "-1", "0", "1Gi; rm", "1e3",
        ] {
            assert!(!is_quantity(q), "{q}");
        }
    }

    #[test]
    fn a_dollar_in_a_command_is_literal_for_kubernetes() {
        assert_eq!(literal("/opt/$(whoami)/mlx"), "/opt/$$(whoami)/mlx");
        assert_eq!(literal("$$"), "$$$$");
        assert_eq!(literal("mlx"), "mlx");
    }
}
