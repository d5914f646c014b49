//! Every call mlx makes to GitHub's REST API, on octocrab.
//!
//! The client reads `GITHUB_TOKEN`, `GITHUB_API_URL` (so GitHub Enterprise Server
//! works) and `GITHUB_REPOSITORY`. Requests go through octocrab's raw methods with the
//! JSON bodies GitHub documents, so what is sent is exactly what the tests assert. The
//! token is only ever handed to octocrab; no message mlx prints contains it.

use std::collections::BTreeMap;

use mlx_contracts::config::Permission;
use mlx_core::{Error, Result};
use octocrab::Octocrab;
use serde_json::{json, Value};

/// The default of `GITHUB_API_URL`.
pub const PUBLIC_API: &str = "https://api.github.com";

/// A client bound to one repository.
pub struct GitHub {
    octo: Octocrab,
    rt: tokio::runtime::Runtime,
    repo: String,
}

/// A pull request, as far as mlx needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// Its number.
    pub number: u64,
    /// Who opened it.
    pub author: String,
    /// The head commit.
    pub head_sha: String,
    /// The head branch.
    pub head_ref: String,
    /// Whether the head branch lives in this repository (not a fork).
    pub same_repo: bool,
}

/// An issue or PR comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// Its text.
    pub body: String,
    /// When it was last edited (RFC 3339).
    pub updated_at: String,
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

impl GitHub {
    /// A client from `GITHUB_TOKEN`, `GITHUB_API_URL` and `GITHUB_REPOSITORY`.
    pub fn from_env() -> Result<Self> {
        let token = env("GITHUB_TOKEN").ok_or_else(|| {
            Error::Usage(
                "GITHUB_TOKEN is not set: in a workflow pass `env: GITHUB_TOKEN: ${{ \
                 github.token }}` to this step"
                    .into(),
            )
        })?;
        let repo = env("GITHUB_REPOSITORY").ok_or_else(|| {
            Error::Usage(
                "GITHUB_REPOSITORY is not set: it names the repository as OWNER/NAME (set \
                 by GitHub Actions; set it yourself outside Actions)"
                    .into(),
            )
        })?;
        let api = env("GITHUB_API_URL").unwrap_or_else(|| PUBLIC_API.into());
        Self::new(&api, &token, &repo)
    }

    /// A client for `repo` (`OWNER/NAME`) at the API root `api`.
    pub fn new(api: &str, token: &str, repo: &str) -> Result<Self> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        match repo.split_once('/') {
            Some((o, n)) if valid(o) && valid(n) => {}
            _ => {
                return Err(Error::Usage(format!(
                    "GITHUB_REPOSITORY `{repo}` is not OWNER/NAME"
                )))
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(format!("starting the HTTP runtime: {e}")))?;
        let octo = rt.block_on(async {
            Octocrab::builder()
                .base_uri(api)
                .map_err(|e| Error::Usage(format!("GITHUB_API_URL `{api}` is not a URL: {e}")))?
                .personal_token(token.to_owned())
                .build()
                .map_err(|e| Error::Runtime(format!("GitHub client: {e}")))
        })?;
        Ok(Self {
            octo,
            rt,
            repo: repo.to_owned(),
        })
    }

    /// `OWNER/NAME`.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    fn call(&self, method: &str, route: &str, body: Option<&Value>) -> Result<Value> {
        let route = format!("/repos/{}{route}", self.repo);
        let octo = &self.octo;
        let result = self.rt.block_on(async {
            let response = match method {
                "GET" => octo._get(route.as_str()).await,
                "POST" => octo._post(route.as_str(), body).await,
                "PATCH" => octo._patch(route.as_str(), body).await,
                _ => unreachable!("mlx only GETs, POSTs and PATCHes"),
            }?;
            let response = octocrab::map_github_error(response).await?;
            octo.body_to_string(response).await
        });
        match result {
            Ok(text) if text.trim().is_empty() => Ok(Value::Null),
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Error::Runtime(format!(
                    "GitHub answered {method} {route} with bad JSON: {e}"
                ))
            }),
            Err(octocrab::Error::GitHub { source, .. }) => {
                let hint = match source.status_code.as_u16() {
                    401 => " (the token is missing, expired or wrong)",
                    403 => {
                        " (the token lacks a permission: check the workflow's `permissions:` \
                         block)"
                    }
                    404 => " (no such resource, or the token cannot see it)",
                    _ => "",
                };
                Err(Error::Runtime(format!(
                    "GitHub refused {method} {route}: {} {}{hint}",
                    source.status_code, source.message
                )))
            }
            Err(e) => Err(Error::Runtime(format!(
                "GitHub request {method} {route} failed: {e}"
            ))),
        }
    }

    fn get(&self, route: &str) -> Result<Value> {
        self.call("GET", route, None)
    }

    fn post(&self, route: &str, body: Value) -> Result<Value> {
        self.call("POST", route, Some(&body))
    }

    fn patch(&self, route: &str, body: Value) -> Result<Value> {
        self.call("PATCH", route, Some(&body))
    }

    /// A user's permission on the repository; `None` when they have none.
    pub fn permission(&self, user: &str) -> Result<Option<Permission>> {
        let v = self.get(&format!("/collaborators/{user}/permission"))?;
        // `role_name` tells maintain and triage apart; `permission` folds them into
        // write and read.
        let name = v["role_name"]
            .as_str()
            .or_else(|| v["permission"].as_str())
            .unwrap_or("none");
        Ok(parse_permission(name).or_else(|| v["permission"].as_str().and_then(parse_permission)))
    }

    /// A pull request.
    pub fn pull(&self, number: u64) -> Result<Pull> {
        let v = self.get(&format!("/pulls/{number}"))?;
        Ok(Pull {
            number,
            author: str_at(&v, "/user/login"),
            head_sha: str_at(&v, "/head/sha"),
            head_ref: str_at(&v, "/head/ref"),
            same_repo: v.pointer("/head/repo/full_name").and_then(Value::as_str)
                == Some(self.repo.as_str()),
        })
    }

    /// The comments of an issue or PR, oldest first.
    pub fn comments(&self, issue: u64) -> Result<Vec<Comment>> {
        let mut out = Vec::new();
        for page in 1.. {
            let v = self.get(&format!(
                "/issues/{issue}/comments?per_page=100&page={page}"
            ))?;
            let items = v.as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items.iter().map(|c| Comment {
                id: c["id"].as_u64().unwrap_or_default(),
                body: c["body"].as_str().unwrap_or_default().to_owned(),
                updated_at: c["updated_at"].as_str().unwrap_or_default().to_owned(),
            }));
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// Posts a comment; returns its id.
    pub fn comment(&self, issue: u64, body: &str) -> Result<u64> {
        let v = self.post(
            &format!("/issues/{issue}/comments"),
            json!({ "body": body }),
        )?;
        Ok(v["id"].as_u64().unwrap_or_default())
    }

    /// Updates the comment that contains `marker`, or posts one; returns its id and
    /// whether it is new.
    pub fn upsert_comment(&self, issue: u64, marker: &str, body: &str) -> Result<(u64, bool)> {
        match self
            .comments(issue)?
            .into_iter()
            .find(|c| c.body.contains(marker))
        {
            Some(c) => {
                self.patch(
                    &format!("/issues/comments/{}", c.id),
                    json!({ "body": body }),
                )?;
                Ok((c.id, false))
            }
            None => Ok((self.comment(issue, body)?, true)),
        }
    }

    /// Reacts to a comment (`+1`, `-1`, `confused`, `eyes`, ...).
    pub fn react(&self, comment: u64, content: &str) -> Result<()> {
        self.post(
            &format!("/issues/comments/{comment}/reactions"),
            json!({ "content": content }),
        )
        .map(drop)
    }

    /// Sets a commit status.
    pub fn status(
        &self,
        sha: &str,
        state: &str,
        context: &str,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<()> {
        let mut body = json!({
            "state": state,
            "context": context,
            // GitHub rejects descriptions over 140 characters.
            "description": truncate(description, 140),
        });
        if let Some(u) = target_url {
            body["target_url"] = json!(u);
        }
        self.post(&format!("/statuses/{sha}"), body).map(drop)
    }

    /// Records a deployment of `git_ref` to `environment` with its outcome; returns the
    /// deployment's id.
    pub fn deployment(
        &self,
        git_ref: &str,
        environment: &str,
        description: &str,
        payload: Value,
        state: &str,
        log_url: Option<&str>,
    ) -> Result<u64> {
        let v = self.post(
            "/deployments",
            json!({
                "ref": git_ref,
                "environment": environment,
                "description": truncate(description, 140),
                "payload": payload,
                // The model, not the commit, is what is deployed: the commit's other
                // statuses do not gate it, and no merge is attempted.
                "auto_merge": false,
                "required_contexts": [],
                "production_environment": environment == "production",
            }),
        )?;
        let id = v["id"].as_u64().ok_or_else(|| {
            Error::Runtime(format!(
                "GitHub created no deployment: {}",
                v["message"].as_str().unwrap_or("no id in the answer")
            ))
        })?;
        let mut status = json!({
            "state": state,
            "environment": environment,
            "description": truncate(description, 140),
        });
        if let Some(u) = log_url {
            status["log_url"] = json!(u);
        }
        self.post(&format!("/deployments/{id}/statuses"), status)?;
        Ok(id)
    }

    /// Starts a `workflow_dispatch` run of `workflow` (a file name or id) on `git_ref`.
    pub fn dispatch(
        &self,
        workflow: &str,
        git_ref: &str,
        inputs: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.post(
            &format!("/actions/workflows/{workflow}/dispatches"),
            json!({ "ref": git_ref, "inputs": inputs }),
        )
        .map(drop)
    }

    /// Updates the open issue labelled `label` (adding a comment so watchers hear of
    /// it) or opens one; returns its number and whether it is new.
    pub fn upsert_issue(
        &self,
        label: &str,
        title: &str,
        body: &str,
        note: &str,
    ) -> Result<(u64, bool)> {
        let open = self.get(&format!("/issues?labels={label}&state=open&per_page=100"))?;
        let existing = open.as_array().and_then(|items| {
            items
                .iter()
                // The issues endpoint also lists pull requests.
                .find(|i| i.get("pull_request").is_none())
                .and_then(|i| i["number"].as_u64())
        });
        match existing {
            Some(n) => {
                self.patch(
                    &format!("/issues/{n}"),
                    json!({ "title": title, "body": body }),
                )?;
                self.comment(n, note)?;
                Ok((n, false))
            }
            None => {
                let v = self.post(
                    "/issues",
                    json!({ "title": title, "body": body, "labels": [label] }),
                )?;
                Ok((v["number"].as_u64().unwrap_or_default(), true))
            }
        }
    }

    /// The newest successful run of `workflow` on commit `sha`.
    pub fn latest_run(&self, workflow: &str, sha: &str) -> Result<Option<u64>> {
        let v = self.get(&format!(
            "/actions/workflows/{workflow}/runs?head_sha={sha}&status=success&per_page=1"
        ))?;
        Ok(v.pointer("/workflow_runs/0/id").and_then(Value::as_u64))
    }
}

fn str_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A permission or role name; `None` for `none` and unknown custom roles.
pub fn parse_permission(name: &str) -> Option<Permission> {
    Some(match name {
        "admin" => Permission::Admin,
        "maintain" => Permission::Maintain,
        "write" | "push" => Permission::Write,
        "triage" => Permission::Triage,
        "read" | "pull" => Permission::Read,
        _ => return None,
    })
}

/// The permission's name as GitHub spells it.
pub fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::Read => "read",
        Permission::Triage => "triage",
        Permission::Write => "write",
        Permission::Maintain => "maintain",
        Permission::Admin => "admin",
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_both_spellings() {
        assert_eq!(parse_permission("maintain"), Some(Permission::Maintain));
        assert_eq!(parse_permission("push"), Some(Permission::Write));
        assert_eq!(parse_permission("none"), None);
        assert!(Permission::Maintain > Permission::Write);
        assert!(Permission::Triage < Permission::Write);
    }

    #[test]
    fn descriptions_are_cut_to_what_github_accepts() {
        let long = "x".repeat(200);
        assert_eq!(truncate(&long, 140).chars().count(), 140);
        assert_eq!(truncate("short", 140), "short");
    }

    #[test]
    fn a_malformed_repository_is_refused() {
        for bad in ["", "owner", "owner/", "a/b/c", "own er/x"] {
            assert!(GitHub::new(PUBLIC_API, "t", bad).is_err(), "{bad}");
        }
    }
}
