//! A local runner for the GitHub workflows: runs a workflow's jobs and steps as a GitHub
//! runner would, so the workflows themselves are tested, not a copy of them.
//!
//! What it does: each job gets a fresh copy of the repository as its workspace;
//! `run:` steps run in bash with `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH`,
//! `GITHUB_STEP_SUMMARY` and `GITHUB_EVENT_PATH`; `${{ }}` expressions are evaluated
//! over the `github`, `inputs`, `env`, `steps`, `needs`, `jobs`, `runner` and
//! `secrets` contexts; `if:`, `needs:`, `continue-on-error:` and job outputs work as on
//! GitHub. Reusable workflows (`uses: OWNER/REPO/.github/workflows/X.yml@REF`) and the
//! composite action (`uses: ./PATH`) run from this repository. Of the marketplace
//! actions, `actions/checkout` (mlx's own checkout becomes a link to this repository),
//! `actions/upload-artifact`, `actions/download-artifact` (by run id too) and
//! `actions/cache` (always a miss) are emulated; any other `uses:` is an error, so a
//! workflow cannot silently depend on something this runner skips. Environments are
//! recorded (their protection rules are GitHub's, and are taken as approved).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Map, Value};

/// The outcome of one job.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// `success`, `failure` or `skipped`.
    pub result: String,
    /// Its outputs.
    pub outputs: BTreeMap<String, String>,
    /// Every step's output, for failure messages.
    pub log: String,
    /// What the steps wrote to `$GITHUB_STEP_SUMMARY`.
    pub summary: String,
    /// The environment the job ran in (`environment:`).
    pub environment: Option<String>,
}

/// The outcome of a workflow run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The run id (artifacts are kept per run).
    pub id: u64,
    /// The jobs by id; a called workflow's jobs appear as `caller/callee`.
    pub jobs: BTreeMap<String, Job>,
}

impl Run {
    /// A job, panicking with the run's logs when it is missing.
    pub fn job(&self, id: &str) -> &Job {
        self.jobs
            .get(id)
            .unwrap_or_else(|| panic!("no job `{id}`; jobs: {:?}", self.jobs.keys()))
    }

    /// All logs, for assertion messages.
    pub fn logs(&self) -> String {
        self.jobs
            .iter()
            .map(|(k, j)| format!("=== {k} ({})\n{}", j.result, j.log))
            .collect()
    }
}

/// The runner.
pub struct Runner {
    /// This repository: `action.yml`, `.github/workflows/`.
    pub mlx_root: PathBuf,
    /// The user's repository, copied into each job's workspace.
    pub repo: PathBuf,
    /// Scratch space: workspaces, artifacts, temp.
    pub scratch: PathBuf,
    /// Prepended to `PATH` (where `mlx` is).
    pub bin_dir: PathBuf,
    /// `GITHUB_API_URL`.
    pub api_url: String,
    /// `github.token`.
    pub token: String,
    /// `GITHUB_REPOSITORY`.
    pub repository: String,
    /// Extra environment for every step.
    pub env: BTreeMap<String, String>,
    /// The repository's secrets (`secrets`; `GITHUB_TOKEN` is `token`).
    pub secrets: BTreeMap<String, String>,
    /// The repository's variables (`vars`).
    pub vars: BTreeMap<String, String>,
    next_run: u64,
}

type Ctx = Map<String, Value>;

impl Runner {
    /// A runner over `repo`, keeping its scratch files in `scratch`.
    pub fn new(mlx_root: &Path, repo: &Path, scratch: &Path, bin_dir: &Path) -> Self {
        Self {
            mlx_root: mlx_root.to_path_buf(),
            repo: repo.to_path_buf(),
            scratch: scratch.to_path_buf(),
            bin_dir: bin_dir.to_path_buf(),
            api_url: String::new(),
            token: String::new(),
            repository: "acme/churn".into(),
            env: BTreeMap::new(),
            secrets: BTreeMap::new(),
            vars: BTreeMap::new(),
            next_run: 0,
        }
    }

    /// Runs `workflow` (a path in the user's repository) for an event.
    pub fn run(&mut self, workflow: &str, event_name: &str, payload: Value, sha: &str) -> Run {
        self.next_run += 1;
        let id = 7000 + self.next_run;
        let doc = load_yaml(&self.repo.join(workflow));
        let event_path = self.scratch.join(format!("event-{id}.json"));
        std::fs::create_dir_all(&self.scratch).expect("scratch");
        std::fs::write(&event_path, serde_json::to_vec(&payload).unwrap()).expect("event");
        let github = json!({
            "event_name": event_name,
            "event": payload,
            "repository": self.repository,
            "repository_owner": self.repository.split('/').next(),
            "sha": sha,
            "ref": "refs/heads/main",
            "actor": payload.pointer("/sender/login").and_then(Value::as_str).unwrap_or("octocat"),
            "token": self.token,
            "run_id": id.to_string(),
            "server_url": "https://github.com",
            "api_url": self.api_url,
        });
        let mut run = Run {
            id,
            jobs: BTreeMap::new(),
        };
        let inputs = match event_name {
            "workflow_dispatch" => payload.get("inputs").cloned().unwrap_or(json!({})),
            _ => json!({}),
        };
        let wf = WorkflowRun {
            github,
            event_path,
            id,
        };
        let mut secrets: Map<String, Value> = self
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        secrets.insert("GITHUB_TOKEN".into(), json!(self.token));
        self.jobs(&wf, &doc, inputs, &Value::Object(secrets), "", &mut run);
        run
    }

    fn jobs(
        &self,
        wf: &WorkflowRun,
        doc: &Value,
        inputs: Value,
        secrets: &Value,
        prefix: &str,
        run: &mut Run,
    ) {
        let jobs = doc["jobs"].as_object().cloned().unwrap_or_default();
        let mut done: BTreeMap<String, Job> = BTreeMap::new();
        let mut order: Vec<String> = jobs.keys().cloned().collect();
        // Jobs in an order that respects `needs`.
        let mut sorted = Vec::new();
        while !order.is_empty() {
            let pos = order
                .iter()
                .position(|j| needs(&jobs[j]).iter().all(|n| sorted.contains(n)))
                .expect("a cycle in needs");
            sorted.push(order.remove(pos));
        }
        for name in sorted {
            let job = &jobs[&name];
            let mut needs_ctx = Map::new();
            for n in needs(job) {
                let j = &done[&n];
                needs_ctx.insert(
                    n.clone(),
                    json!({ "result": j.result, "outputs": j.outputs }),
                );
            }
            let needs_ok = needs(job).iter().all(|n| done[n].result == "success");
            let mut ctx = Ctx::new();
            ctx.insert("github".into(), wf.github.clone());
            ctx.insert("inputs".into(), inputs.clone());
            ctx.insert("needs".into(), Value::Object(needs_ctx));
            ctx.insert("env".into(), json!({}));
            ctx.insert("vars".into(), json!(self.vars));
            ctx.insert("secrets".into(), secrets.clone());
            let runs = match job.get("if") {
                Some(cond) => truthy(&eval_condition(cond, &ctx, !needs_ok)),
                None => needs_ok,
            };
            let full = format!("{prefix}{name}");
            if !runs {
                let j = Job {
                    result: "skipped".into(),
                    ..Job::default()
                };
                run.jobs.insert(full, j.clone());
                done.insert(name, j);
                continue;
            }
            let result = if let Some(uses) = job["uses"].as_str() {
                self.call(wf, uses, job, &ctx, &format!("{full}/"), run)
            } else {
                self.steps_job(wf, doc, job, &ctx, &full)
            };
            run.jobs.insert(full, result.clone());
            done.insert(name, result);
        }
    }

    /// A job that calls a reusable workflow of this repository.
    fn call(
        &self,
        wf: &WorkflowRun,
        uses: &str,
        job: &Value,
        ctx: &Ctx,
        prefix: &str,
        run: &mut Run,
    ) -> Job {
        let file = uses
            .split('@')
            .next()
            .and_then(|p| p.split("/.github/workflows/").nth(1))
            .unwrap_or_else(|| panic!("`{uses}` is not a reusable workflow"));
        let callee = load_yaml(&self.mlx_root.join(".github/workflows").join(file));
        let declared = callee
            .pointer("/on/workflow_call/inputs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut inputs = Map::new();
        for (k, spec) in &declared {
            if let Some(d) = spec.get("default") {
                inputs.insert(k.clone(), d.clone());
            }
        }
        for (k, v) in job["with"].as_object().cloned().unwrap_or_default() {
            assert!(declared.contains_key(&k), "{file} has no input `{k}`");
            inputs.insert(k, interpolate_value(&v, ctx));
        }
        for (k, spec) in &declared {
            assert!(
                inputs.contains_key(k) || spec["required"] != json!(true),
                "{file} needs input `{k}`"
            );
        }
        // A called workflow sees the secrets passed to it (or all, with `inherit`), and
        // the token; one it does not declare is an error, as on GitHub.
        let declared_secrets = callee
            .pointer("/on/workflow_call/secrets")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut secrets = Map::new();
        match &job["secrets"] {
            Value::String(s) if s == "inherit" => {
                secrets = ctx["secrets"].as_object().cloned().unwrap_or_default();
            }
            Value::Object(passed) => {
                for (k, v) in passed {
                    assert!(
                        declared_secrets.contains_key(k),
                        "{file} has no secret `{k}`"
                    );
                    secrets.insert(k.clone(), interpolate_value(v, ctx));
                }
            }
            _ => {}
        }
        secrets.insert("GITHUB_TOKEN".into(), json!(self.token));
        let before: Vec<String> = run.jobs.keys().cloned().collect();
        self.jobs(
            wf,
            &callee,
            Value::Object(inputs),
            &Value::Object(secrets),
            prefix,
            run,
        );
        let mut jobs_ctx = Map::new();
        let mut failed = false;
        for (k, j) in &run.jobs {
            if let Some(short) = k.strip_prefix(prefix).filter(|_| !before.contains(k)) {
                failed |= j.result == "failure";
                jobs_ctx.insert(
                    short.to_owned(),
                    json!({ "result": j.result, "outputs": j.outputs }),
                );
            }
        }
        let mut c = ctx.clone();
        c.insert("jobs".into(), Value::Object(jobs_ctx));
        let outputs = callee
            .pointer("/on/workflow_call/outputs")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, spec)| {
                        (
                            k.clone(),
                            interpolate(spec["value"].as_str().unwrap_or(""), &c),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Job {
            result: if failed { "failure" } else { "success" }.into(),
            outputs,
            ..Job::default()
        }
    }

    fn steps_job(&self, wf: &WorkflowRun, doc: &Value, job: &Value, ctx: &Ctx, name: &str) -> Job {
        let workspace = self
            .scratch
            .join(format!("run-{}/{}", wf.id, name.replace('/', "-")));
        let _ = std::fs::remove_dir_all(&workspace);
        copy_dir(&self.repo, &workspace);
        let temp = self
            .scratch
            .join(format!("run-{}/tmp-{}", wf.id, name.replace('/', "-")));
        std::fs::create_dir_all(&temp).expect("temp");
        let mut ctx = ctx.clone();
        let mut env = Map::new();
        for scope in [&doc["env"], &job["env"]] {
            for (k, v) in scope.as_object().cloned().unwrap_or_default() {
                env.insert(k, json!(interpolate_value(&v, &ctx)));
            }
        }
        ctx.insert("env".into(), Value::Object(env));
        ctx.insert("steps".into(), json!({}));
        ctx.insert(
            "runner".into(),
            json!({ "os": "Linux", "arch": "X64", "temp": temp, "tool_cache": temp.join("tool-cache") }),
        );
        if let Some(g) = ctx.get_mut("github") {
            g["workspace"] = json!(workspace);
        }
        let mut state = JobState {
            wf,
            workspace,
            temp,
            failed: false,
            log: String::new(),
            summary: String::new(),
            path: Vec::new(),
        };
        let environment = job.get("environment").map(|e| match e {
            Value::Object(o) => interpolate_value(&o["name"], &ctx)
                .as_str()
                .unwrap_or("")
                .to_owned(),
            v => interpolate_value(v, &ctx).as_str().unwrap_or("").to_owned(),
        });
        for step in job["steps"].as_array().cloned().unwrap_or_default() {
            self.step(&mut state, &step, &mut ctx);
        }
        let outputs = job["outputs"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), interpolate(v.as_str().unwrap_or(""), &ctx)))
                    .collect()
            })
            .unwrap_or_default();
        Job {
            result: if state.failed { "failure" } else { "success" }.into(),
            outputs,
            log: state.log,
            summary: state.summary,
            environment,
        }
    }

    /// Runs one step; updates `steps` in `ctx`.
    fn step(&self, st: &mut JobState, step: &Value, ctx: &mut Ctx) {
        let cond = step.get("if").cloned().unwrap_or(json!("success()"));
        let id = step["id"].as_str().map(str::to_owned);
        if !truthy(&eval_condition(&cond, ctx, st.failed)) {
            if let Some(id) = id {
                ctx["steps"][&id] =
                    json!({ "outputs": {}, "outcome": "skipped", "conclusion": "skipped" });
            }
            return;
        }
        let mut env = ctx["env"].as_object().cloned().unwrap_or_default();
        for (k, v) in step["env"].as_object().cloned().unwrap_or_default() {
            env.insert(k, json!(interpolate_value(&v, ctx)));
        }
        let name = step["name"]
            .as_str()
            .or(step["uses"].as_str())
            .or(step["run"].as_str())
            .unwrap_or("step");
        st.log.push_str(&format!("--- {name}\n"));
        let (ok, outputs) = if let Some(script) = step["run"].as_str() {
            let script = interpolate(script, ctx);
            self.bash(st, &script, &env, step["working-directory"].as_str())
        } else if let Some(uses) = step["uses"].as_str() {
            let with: Map<String, Value> = step["with"]
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, interpolate_value(&v, ctx)))
                .collect();
            self.uses(st, uses, &with, &env, ctx)
        } else {
            panic!("a step with neither run nor uses: {step}");
        };
        let continue_on_error = truthy(
            &step
                .get("continue-on-error")
                .map_or(json!(false), |v| interpolate_value(v, ctx)),
        );
        let outcome = if ok { "success" } else { "failure" };
        let conclusion = if ok || continue_on_error {
            "success"
        } else {
            "failure"
        };
        if !ok && !continue_on_error {
            st.failed = true;
        }
        if let Some(id) = id {
            ctx["steps"][&id] =
                json!({ "outputs": outputs, "outcome": outcome, "conclusion": conclusion });
        }
    }

    fn uses(
        &self,
        st: &mut JobState,
        uses: &str,
        with: &Map<String, Value>,
        env: &Map<String, Value>,
        ctx: &Ctx,
    ) -> (bool, Map<String, Value>) {
        let action = uses.split('@').next().unwrap_or_default();
        let text = |k: &str| with.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        match action {
            "actions/checkout" => {
                if let Some(repo) = with
                    .get("repository")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty() && *r != self.repository)
                {
                    let dest = st.workspace.join(text("path"));
                    st.log.push_str(&format!(
                        "checked out {repo} (this repository) at {}\n",
                        dest.display()
                    ));
                    let _ = std::fs::remove_dir_all(&dest);
                    std::os::unix::fs::symlink(&self.mlx_root, &dest).expect("link mlx");
                }
                (true, Map::new())
            }
            "actions/cache" => (true, Map::from_iter([("cache-hit".into(), json!("false"))])),
            "actions/upload-artifact" => {
                let dir = self
                    .scratch
                    .join(format!("artifacts/{}/{}", st.wf.id, text("name")));
                if dir.exists() && text("overwrite") != "true" {
                    st.log.push_str("an artifact with this name exists\n");
                    return (false, Map::new());
                }
                let _ = std::fs::remove_dir_all(&dir);
                let src = st.workspace.join(text("path"));
                if src.exists() {
                    copy_dir(&src, &dir);
                }
                (true, Map::from_iter([("artifact-id".into(), json!("1"))]))
            }
            "actions/download-artifact" => {
                let run = match text("run-id") {
                    r if r.is_empty() => st.wf.id.to_string(),
                    r => r,
                };
                let dir = self
                    .scratch
                    .join(format!("artifacts/{run}/{}", text("name")));
                if !dir.exists() {
                    st.log
                        .push_str(&format!("no artifact {} in run {run}\n", text("name")));
                    return (false, Map::new());
                }
                copy_dir(&dir, &st.workspace.join(text("path")));
                (true, Map::new())
            }
            local if local.starts_with("./") => self.composite(st, local, with, env, ctx),
            other => panic!("the local runner does not emulate `{other}`"),
        }
    }

    fn composite(
        &self,
        st: &mut JobState,
        path: &str,
        with: &Map<String, Value>,
        env: &Map<String, Value>,
        outer: &Ctx,
    ) -> (bool, Map<String, Value>) {
        let dir = st.workspace.join(path);
        let action = load_yaml(&dir.join("action.yml"));
        let declared = action["inputs"].as_object().cloned().unwrap_or_default();
        let mut inputs = Map::new();
        for (k, spec) in &declared {
            if let Some(d) = spec.get("default") {
                inputs.insert(k.clone(), interpolate_value(d, outer));
            }
        }
        for (k, v) in with {
            assert!(declared.contains_key(k), "action {path} has no input `{k}`");
            inputs.insert(k.clone(), v.clone());
        }
        let mut ctx = outer.clone();
        ctx.insert("inputs".into(), Value::Object(inputs));
        ctx.insert("steps".into(), json!({}));
        ctx.insert("env".into(), Value::Object(env.clone()));
        ctx["github"]["action_path"] = json!(dir);
        let failed_before = st.failed;
        st.failed = false;
        for step in action["runs"]["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            assert!(
                step.get("run").is_none() || step.get("shell").is_some(),
                "composite run steps need `shell:`"
            );
            self.step(st, &step, &mut ctx);
        }
        let ok = !st.failed;
        st.failed = failed_before;
        let outputs = action["outputs"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, spec)| {
                        (
                            k.clone(),
                            json!(interpolate(spec["value"].as_str().unwrap_or(""), &ctx)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (ok, outputs)
    }

    fn bash(
        &self,
        st: &mut JobState,
        script: &str,
        env: &Map<String, Value>,
        workdir: Option<&str>,
    ) -> (bool, Map<String, Value>) {
        let files = ["output", "env", "path", "summary"]
            .map(|f| st.temp.join(format!("{f}-{}", st.log.len())));
        for f in &files {
            std::fs::write(f, "").expect("env file");
        }
        let script_path = st.temp.join("step.sh");
        std::fs::write(&script_path, script).expect("script");
        let mut path = st.path.clone();
        path.push(self.bin_dir.display().to_string());
        path.push(std::env::var("PATH").unwrap_or_default());
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_path)
            .current_dir(workdir.map_or(st.workspace.clone(), |w| st.workspace.join(w)))
            .env_clear()
            .env("PATH", path.join(":"))
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", &self.api_url)
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", &self.repository)
            .env("GITHUB_RUN_ID", st.wf.id.to_string())
            .env(
                "GITHUB_EVENT_NAME",
                st.wf.github["event_name"].as_str().unwrap_or(""),
            )
            .env("GITHUB_EVENT_PATH", &st.wf.event_path)
            .env("GITHUB_SHA", st.wf.github["sha"].as_str().unwrap_or(""))
            .env("GITHUB_ACTOR", st.wf.github["actor"].as_str().unwrap_or(""))
            .env("GITHUB_WORKSPACE", &st.workspace)
            .env("GITHUB_OUTPUT", &files[0])
            .env("GITHUB_ENV", &files[1])
            .env("GITHUB_PATH", &files[2])
            .env("GITHUB_STEP_SUMMARY", &files[3])
            .env("RUNNER_TEMP", &st.temp)
            .env("RUNNER_TOOL_CACHE", st.temp.join("tool-cache"));
        for (k, v) in &self.env {
            c.env(k, v);
        }
        for (k, v) in env {
            c.env(k, v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        }
        let out = c.output().expect("bash");
        st.log.push_str(&String::from_utf8_lossy(&out.stdout));
        st.log.push_str(&String::from_utf8_lossy(&out.stderr));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        st.summary.push_str(&read(&files[3]));
        for line in read(&files[2]).lines().filter(|l| !l.is_empty()) {
            st.path.insert(0, line.to_owned());
        }
        (out.status.success(), parse_env_file(&read(&files[0])))
    }
}

struct WorkflowRun {
    github: Value,
    event_path: PathBuf,
    id: u64,
}

struct JobState<'a> {
    wf: &'a WorkflowRun,
    workspace: PathBuf,
    temp: PathBuf,
    failed: bool,
    log: String,
    summary: String,
    path: Vec<String>,
}

fn needs(job: &Value) -> Vec<String> {
    match &job["needs"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut v: Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // YAML 1.1 reads the key `on` as the boolean true.
    if let Some(o) = v.as_object_mut() {
        if let Some(on) = o.remove("true") {
            o.insert("on".into(), on);
        }
    }
    v
}

/// Copies a directory tree (following links).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = entry.path();
        let dest = to.join(entry.file_name());
        let meta = std::fs::metadata(&p).expect("metadata");
        if meta.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

/// Parses `$GITHUB_OUTPUT` / `$GITHUB_ENV`: `k=v` lines and `k<<DELIM` blocks.
pub fn parse_env_file(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((k, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(k.to_owned(), json!(value.join("\n")));
        } else if let Some((k, v)) = line.split_once('=') {
            out.insert(k.to_owned(), json!(v));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// expressions

/// GitHub's truthiness: false, 0, "", null are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// An `if:` condition (with or without `${{ }}`).
fn eval_condition(cond: &Value, ctx: &Ctx, failed: bool) -> Value {
    let text = match cond {
        Value::Bool(b) => return json!(b),
        v => to_text(v),
    };
    let t = text.trim();
    let inner = t
        .strip_prefix("${{")
        .and_then(|s| s.strip_suffix("}}"))
        .unwrap_or(t);
    // A condition that calls no status function implies `success() &&`.
    let status_fn = ["success()", "failure()", "always()", "cancelled()"]
        .iter()
        .any(|f| inner.contains(f));
    let v = Expr::new(inner, ctx, failed).eval();
    if status_fn || !failed {
        v
    } else {
        json!(false)
    }
}

/// Replaces every `${{ expr }}` in `s`.
pub fn interpolate(s: &str, ctx: &Ctx) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let j = after
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed ${{{{ in `{s}`"));
        out.push_str(&to_text(&Expr::new(after[..j].trim(), ctx, false).eval()));
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

fn interpolate_value(v: &Value, ctx: &Ctx) -> Value {
    match v {
        Value::String(s) => {
            let t = s.trim();
            // A value that is one expression keeps the expression's type.
            if t.starts_with("${{") && t.ends_with("}}") && t.matches("${{").count() == 1 {
                let e = Expr::new(t[3..t.len() - 2].trim(), ctx, false).eval();
                return match e {
                    Value::Null => json!(""),
                    Value::Number(_) | Value::Bool(_) => json!(to_text(&e)),
                    other => other,
                };
            }
            json!(interpolate(s, ctx))
        }
        Value::Number(_) | Value::Bool(_) => json!(to_text(v)),
        other => other.clone(),
    }
}

struct Expr<'a> {
    src: &'a str,
    pos: usize,
    ctx: &'a Ctx,
    failed: bool,
}

impl<'a> Expr<'a> {
    fn new(src: &'a str, ctx: &'a Ctx, failed: bool) -> Self {
        Self {
            src,
            pos: 0,
            ctx,
            failed,
        }
    }

    fn eval(mut self) -> Value {
        let v = self.or();
        self.ws();
        assert!(
            self.pos == self.src.len(),
            "cannot parse `{}` at {}",
            self.src,
            self.pos
        );
        v
    }

    fn ws(&mut self) {
        while self.src[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.src[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Value {
        let mut v = self.and();
        while self.eat("||") {
            let r = self.and();
            if !truthy(&v) {
                v = r;
            }
        }
        v
    }

    fn and(&mut self) -> Value {
        let mut v = self.cmp();
        while self.eat("&&") {
            let r = self.cmp();
            if truthy(&v) {
                v = r;
            }
        }
        v
    }

    fn cmp(&mut self) -> Value {
        let l = self.unary();
        for op in ["==", "!="] {
            if self.eat(op) {
                let r = self.unary();
                let eq = loose_eq(&l, &r);
                return json!(if op == "==" { eq } else { !eq });
            }
        }
        l
    }

    fn unary(&mut self) -> Value {
        if self.eat("!") {
            return json!(!truthy(&self.unary()));
        }
        self.primary()
    }

    fn primary(&mut self) -> Value {
        self.ws();
        let rest = &self.src[self.pos..];
        if self.eat("(") {
            let v = self.or();
            assert!(self.eat(")"), "missing ) in `{}`", self.src);
            return v;
        }
        if let Some(r) = rest.strip_prefix('\'') {
            let end = r
                .find('\'')
                .unwrap_or_else(|| panic!("unclosed string in `{}`", self.src));
            self.pos += end + 2;
            return json!(&r[..end]);
        }
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
            .collect();
        assert!(
            !word.is_empty(),
            "cannot parse `{}` at {}",
            self.src,
            self.pos
        );
        self.pos += word.len();
        if let Ok(n) = word.parse::<f64>() {
            return json!(n);
        }
        match word.as_str() {
            "true" => return json!(true),
            "false" => return json!(false),
            "null" => return Value::Null,
            _ => {}
        }
        if self.eat("(") {
            let mut args = Vec::new();
            if !self.eat(")") {
                loop {
                    args.push(self.or());
                    if self.eat(")") {
                        break;
                    }
                    assert!(self.eat(","), "expected , in `{}`", self.src);
                }
            }
            return self.call(&word, &args);
        }
        let mut v = Value::Object(self.ctx.clone());
        for part in word.split('.') {
            v = v.get(part).cloned().unwrap_or(Value::Null);
        }
        v
    }

    fn call(&self, f: &str, args: &[Value]) -> Value {
        let s = |i: usize| to_text(&args[i]).to_lowercase();
        match f {
            "success" => json!(!self.failed),
            "failure" => json!(self.failed),
            "always" => json!(true),
            "cancelled" => json!(false),
            "startsWith" => json!(s(0).starts_with(&s(1))),
            "endsWith" => json!(s(0).ends_with(&s(1))),
            "contains" => match &args[0] {
                Value::Array(a) => json!(a.iter().any(|x| loose_eq(x, &args[1]))),
                _ => json!(s(0).contains(&s(1))),
            },
            "toJSON" => json!(args[0].to_string()),
            "fromJSON" => serde_json::from_str(&to_text(&args[0])).unwrap_or(Value::Null),
            other => panic!("the local runner has no function `{other}`"),
        }
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Null, Value::Null) => true,
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            let n = |v: &Value| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                Value::Bool(b) => Some(f64::from(u8::from(*b))),
                Value::Null => Some(0.0),
                _ => None,
            };
            matches!((n(a), n(b)), (Some(x), Some(y)) if x == y)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        json!({
            "github": { "event_name": "issue_comment", "event": { "comment": { "body": "/mlx approve" }, "issue": { "number": 7, "pull_request": {} } } },
            "steps": { "find": { "outcome": "success", "outputs": { "workflow_run_id": "42" } } },
            "inputs": { "command-prefix": "/mlx", "reason": "" },
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn expressions_as_github_evaluates_them() {
        let c = ctx();
        let e = |s: &str| Expr::new(s, &c, false).eval();
        assert_eq!(
            e("github.event.issue.number || github.event.pull_request.number"),
            json!(7)
        );
        assert_eq!(
            e("startsWith(github.event.comment.body, inputs.command-prefix)"),
            json!(true)
        );
        assert_eq!(e("steps.find.outcome == 'SUCCESS'"), json!(true));
        assert_eq!(e("inputs.reason != ''"), json!(false));
        assert_eq!(
            e("github.event_name == 'issue_comment' && github.event.issue.pull_request && true"),
            json!(true)
        );
        assert_eq!(
            e("steps.nope.outcome == 'failure' && '--failed' || ''"),
            json!("")
        );
        assert_eq!(
            interpolate("run ${{ steps.find.outputs.workflow_run_id }}!", &c),
            "run 42!"
        );
    }

    #[test]
    fn conditions_imply_success() {
        let c = ctx();
        assert_eq!(eval_condition(&json!("true"), &c, true), json!(false));
        assert_eq!(
            eval_condition(&json!("${{ always() }}"), &c, true),
            json!(true)
        );
        assert_eq!(eval_condition(&json!("failure()"), &c, false), json!(false));
    }

    #[test]
    fn output_files_with_heredocs() {
        let m = parse_env_file("a=1\nmd<<EOF\nline 1\nline 2\nEOF\nb=x=y\n");
        assert_eq!(m["a"], "1");
        assert_eq!(m["md"], "line 1\nline 2");
        assert_eq!(m["b"], "x=y");
    }
}
