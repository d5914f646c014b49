//! The webhook events the workflows react to, read from `GITHUB_EVENT_PATH`, and the
//! `/mlx` commands in PR comments.
//!
//! Only the fields mlx uses are read; everything else in GitHub's payload is ignored.

use std::path::Path;

use mlx_core::{Error, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

#[derive(Debug, Deserialize)]
struct IssueCommentPayload {
    action: String,
    comment: CommentPayload,
    issue: IssuePayload,
}

#[derive(Debug, Deserialize)]
struct CommentPayload {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: User,
    html_url: String,
    created_at: String,
}

#[derive(Debug, Deserialize)]
struct IssuePayload {
    number: u64,
    user: User,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ReviewPayload {
    action: String,
    review: ReviewBody,
    pull_request: PullPayload,
}

#[derive(Debug, Deserialize)]
struct ReviewBody {
    #[serde(default)]
    body: Option<String>,
    state: String,
    user: User,
    html_url: String,
    #[serde(default)]
    submitted_at: Option<String>,
    #[serde(default)]
    commit_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PullPayload {
    number: u64,
    user: User,
    head: Head,
}

#[derive(Debug, Deserialize)]
struct Head {
    sha: String,
}

#[derive(Debug, Deserialize)]
struct PullRequestPayload {
    pull_request: PullPayload,
}

/// Someone said something on a pull request that may be a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// Who said it.
    pub actor: String,
    /// The pull request.
    pub pr: u64,
    /// Who opened the pull request.
    pub pr_author: String,
    /// The text (a comment body, or a review's state and body).
    pub what: Words,
    /// Where it was said.
    pub url: String,
    /// When (RFC 3339).
    pub at: String,
    /// The comment to react to (reviews cannot carry reactions).
    pub comment_id: Option<u64>,
    /// The commit a review was made on.
    pub commit: Option<String>,
}

/// What was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Words {
    /// A comment body.
    Comment(String),
    /// A review: its state (`approved`, `changes_requested`, `commented`) and body.
    Review {
        /// The review's state, lower case.
        state: String,
        /// Its text.
        body: String,
    },
}

/// The event a workflow step runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new comment or review on a pull request.
    Said(Said),
    /// A pull request was opened or pushed to: its number and head commit.
    PullRequest {
        /// The PR number.
        number: u64,
        /// Its head commit.
        head_sha: String,
    },
    /// Anything else (a schedule, a dispatch, an edited comment, a comment on an
    /// issue): nothing for a reviewer to decide.
    Other(String),
}

fn login_ok(login: &str) -> bool {
    !login.is_empty()
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '[' || c == ']')
}

/// Reads the event `name` (`GITHUB_EVENT_NAME`) from its payload file.
pub fn load(name: &str, path: &Path) -> Result<Event> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the event payload {} ({e}); GITHUB_EVENT_PATH must name the \
             webhook payload GitHub Actions wrote",
            path.display()
        ))
    })?;
    parse(name, &text)
}

/// Parses an event payload.
pub fn parse(name: &str, text: &str) -> Result<Event> {
    let bad = |e: serde_json::Error| {
        Error::Usage(format!(
            "the `{name}` event payload is not what GitHub sends: {e}"
        ))
    };
    let event = match name {
        "issue_comment" => {
            let p: IssueCommentPayload = serde_json::from_str(text).map_err(bad)?;
            if p.action != "created" {
                return Ok(Event::Other(format!("issue_comment {}", p.action)));
            }
            if p.issue.pull_request.is_none() {
                return Ok(Event::Other("a comment on an issue, not a PR".into()));
            }
            Event::Said(Said {
                actor: p.comment.user.login,
                pr: p.issue.number,
                pr_author: p.issue.user.login,
                what: Words::Comment(p.comment.body.unwrap_or_default()),
                url: p.comment.html_url,
                at: p.comment.created_at,
                comment_id: Some(p.comment.id),
                commit: None,
            })
        }
        "pull_request_review" => {
            let p: ReviewPayload = serde_json::from_str(text).map_err(bad)?;
            if p.action != "submitted" {
                return Ok(Event::Other(format!("pull_request_review {}", p.action)));
            }
            Event::Said(Said {
                actor: p.review.user.login,
                pr: p.pull_request.number,
                pr_author: p.pull_request.user.login,
                what: Words::Review {
                    state: p.review.state.to_ascii_lowercase(),
                    body: p.review.body.unwrap_or_default(),
                },
                url: p.review.html_url,
                at: p.review.submitted_at.unwrap_or_default(),
                comment_id: None,
                commit: p.review.commit_id,
            })
        }
        "pull_request" | "pull_request_target" => {
            let p: PullRequestPayload = serde_json::from_str(text).map_err(bad)?;
            Event::PullRequest {
                number: p.pull_request.number,
                head_sha: p.pull_request.head.sha,
            }
        }
        other => Event::Other(other.to_owned()),
    };
    if let Event::Said(s) = &event {
        for login in [&s.actor, &s.pr_author] {
            if !login_ok(login) {
                return Err(Error::Usage(format!(
                    "`{login}` in the event payload is not a GitHub login"
                )));
            }
        }
    }
    Ok(event)
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/mlx approve [notes]`, or an approving review.
    Approve(String),
    /// `/mlx reject <reason>`, or a review requesting changes.
    Reject(String),
    /// `/mlx defer <notes>`: retrain with the notes.
    Defer(String),
}

/// What a comment or review amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not addressed to mlx.
    NotCommand,
    /// Addressed to mlx but not understood: what to tell the commenter.
    Invalid(String),
    /// A decision.
    Command(Command),
}

/// How to address mlx, for replies.
pub fn usage(prefix: &str) -> String {
    format!("`{prefix} approve [notes]`, `{prefix} reject <reason>` or `{prefix} defer <notes>`")
}

/// Reads a decision from what was said. A command is the first non-blank line of a
/// comment, starting with `prefix`; notes run to the end of the comment.
pub fn parse_said(what: &Words, prefix: &str) -> Parsed {
    match what {
        Words::Review { state, body } => match state.as_str() {
            "approved" => Parsed::Command(Command::Approve(body.trim().to_owned())),
            "changes_requested" => Parsed::Command(Command::Reject(if body.trim().is_empty() {
                "changes requested in a review".into()
            } else {
                body.trim().to_owned()
            })),
            // A plain review comment may still carry a command.
            _ => parse_command(body, prefix),
        },
        Words::Comment(body) => parse_command(body, prefix),
    }
}

/// Parses a `/mlx ...` command.
pub fn parse_command(body: &str, prefix: &str) -> Parsed {
    let text = body.trim_start();
    let Some(rest) = text.strip_prefix(prefix) else {
        return Parsed::NotCommand;
    };
    // `/mlxfoo` is not addressed to `/mlx`.
    if rest.chars().next().is_some_and(|c| !c.is_whitespace()) {
        return Parsed::NotCommand;
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (verb, notes) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let notes = notes.to_owned();
    let needs = |what: &str| {
        Parsed::Invalid(format!(
            "`{prefix} {verb}` needs {what}: `{prefix} {verb} <{what}>`"
        ))
    };
    match verb.to_ascii_lowercase().as_str() {
        "approve" => Parsed::Command(Command::Approve(notes)),
        "reject" if notes.is_empty() => needs("reason"),
        "reject" => Parsed::Command(Command::Reject(notes)),
        "defer" if notes.is_empty() => needs("notes"),
        "defer" => Parsed::Command(Command::Defer(notes)),
        "" => Parsed::Invalid(format!("say what to do: {}", usage(prefix))),
        // The word is echoed only when it is a plain word: anything else could break
        // out of the code span.
        other
            if other
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Parsed::Invalid(format!(
                "`{prefix} {other}` is not a command; use {}",
                usage(prefix)
            ))
        }
        _ => Parsed::Invalid(format!(
            "that is not a `{prefix}` command; use {}",
            usage(prefix)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(body: &str) -> Parsed {
        parse_command(body, "/mlx")
    }

    #[test]
    fn commands_and_their_notes() {
        assert_eq!(
            cmd("/mlx approve"),
            Parsed::Command(Command::Approve(String::new()))
        );
        assert_eq!(
            cmd("  /mlx APPROVE looks good\nslices checked"),
            Parsed::Command(Command::Approve("looks good\nslices checked".into()))
        );
        assert_eq!(
            cmd("/mlx reject leaks the label"),
            Parsed::Command(Command::Reject("leaks the label".into()))
        );
        assert_eq!(
            cmd("/mlx defer\nadd March data"),
            Parsed::Command(Command::Defer("add March data".into()))
        );
    }

    #[test]
    fn what_is_not_a_command() {
        assert_eq!(cmd("LGTM"), Parsed::NotCommand);
        assert_eq!(cmd("please /mlx approve"), Parsed::NotCommand);
        assert_eq!(cmd("/mlxapprove"), Parsed::NotCommand);
        assert_eq!(cmd(""), Parsed::NotCommand);
    }

    #[test]
    fn unknown_and_incomplete_commands_say_how() {
        let Parsed::Invalid(m) = cmd("/mlx ship it") else {
            panic!()
        };
        assert!(m.contains("`/mlx ship` is not a command"), "{m}");
        assert!(m.contains("/mlx approve"), "{m}");
        let Parsed::Invalid(m) = cmd("/mlx reject") else {
            panic!()
        };
        assert!(m.contains("needs reason"), "{m}");
        assert!(matches!(cmd("/mlx"), Parsed::Invalid(_)));
        let Parsed::Invalid(m) = cmd("/mlx `@org/team`![x](https://e.com/i.png)") else {
            panic!()
        };
        assert!(!m.contains('@') && !m.contains("https"), "{m}");
    }

    #[test]
    fn reviews_map_to_decisions() {
        let r = |state: &str, body: &str| Words::Review {
            state: state.into(),
            body: body.into(),
        };
        assert_eq!(
            parse_said(&r("approved", ""), "/mlx"),
            Parsed::Command(Command::Approve(String::new()))
        );
        assert_eq!(
            parse_said(&r("changes_requested", ""), "/mlx"),
            Parsed::Command(Command::Reject("changes requested in a review".into()))
        );
        assert_eq!(
            parse_said(&r("commented", "nice"), "/mlx"),
            Parsed::NotCommand
        );
        assert_eq!(
            parse_said(&r("commented", "/mlx defer more data"), "/mlx"),
            Parsed::Command(Command::Defer("more data".into()))
        );
    }

    #[test]
    fn issue_comments_outside_prs_and_edits_are_other_events() {
        let on_issue = r#"{"action":"created","comment":{"id":1,"body":"/mlx approve","user":{"login":"a"},"html_url":"u","created_at":"t"},"issue":{"number":3,"user":{"login":"b"}}}"#;
        assert!(matches!(
            parse("issue_comment", on_issue),
            Ok(Event::Other(_))
        ));
        let edited = on_issue.replace("created\"", "edited\"");
        assert!(matches!(
            parse("issue_comment", &edited),
            Ok(Event::Other(_))
        ));
        assert!(parse("issue_comment", "{}").is_err());
        let evil = on_issue
            .replace("\"b\"", "\"b/../x\"")
            .replace("}}}", "},\"pull_request\":{}}}");
        assert!(parse("issue_comment", &evil).is_err());
    }
}
