//! Who is looking at `mlx ui`: reviewers' tokens, sessions and CSRF tokens.
//!
//! - A reviewer logs in with a token; the server knows only its SHA-256 (from
//!   `ui.tokens`), or the token itself from `MLX_UI_TOKENS` or a secrets file, and
//!   compares hashes in constant time.
//! - A session is a random id in an `HttpOnly`, `SameSite=Strict` cookie, held in
//!   memory (a restart logs everyone out). Every visitor gets one, logged in or not,
//!   so that the login form has a CSRF token too; logging in replaces it (no session
//!   fixation).
//! - Every POST form carries its session's CSRF token; a form without it, or with
//!   another session's, is refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// The session cookie's name.
pub const COOKIE: &str = "mlx_session";
/// A session's lifetime.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions held at once; past it the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// 32 random bytes from the operating system, in hex.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    crate::config::hex(&bytes)
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The reviewers who may log in, by the SHA-256 of their token.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_name: BTreeMap<String, [u8; 32]>,
}

impl Tokens {
    /// From `ui.tokens` (name: SHA-256 hex, optionally `sha256:`-prefixed) and the
    /// `name=token` lines of `secrets` (`MLX_UI_TOKENS`, a secrets file; `#` comments,
    /// blank lines and commas between entries allowed).
    pub fn new(hashes: &BTreeMap<String, String>, secrets: &[(String, String)]) -> Result<Self> {
        let mut by_name = BTreeMap::new();
        for (name, hash) in hashes {
            let hex = hash.strip_prefix("sha256:").unwrap_or(hash).trim();
            let bytes = decode_hex(hex).ok_or_else(|| {
                Error::Usage(format!(
                    "ui.tokens.{name}: `{}` is not a SHA-256 in hex (64 hex digits); make a \
                     token and its hash with `mlx ui token {name}`",
                    if hex.len() > 80 { &hex[..80] } else { hex }
                ))
            })?;
            check_name(name, "ui.tokens")?;
            by_name.insert(name.clone(), bytes);
        }
        for (name, token) in secrets {
            check_name(name, "the tokens")?;
            by_name.insert(name.clone(), sha256(token));
        }
        Ok(Self { by_name })
    }

    /// Parses `name=token` lines of a secrets file or `MLX_UI_TOKENS`; `origin` names
    /// where they came from in errors, which never repeat a token.
    pub fn parse_secrets(text: &str, origin: &str) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            for part in line.split(',') {
                let part = part.trim();
                if part.is_empty() || part.starts_with('#') {
                    continue;
                }
                let Some((name, token)) = part.split_once('=') else {
                    return Err(Error::Usage(format!(
                        "{origin}, line {}: write `name=token` (the token is not shown here)",
                        i + 1
                    )));
                };
                let (name, token) = (name.trim(), token.trim());
                if token.len() < 16 {
                    return Err(Error::Usage(format!(
                        "{origin}, line {}: the token of `{name}` is shorter than 16 \
                         characters; make one with `mlx ui token {name}`",
                        i + 1
                    )));
                }
                out.push((name.to_owned(), token.to_owned()));
            }
        }
        Ok(out)
    }

    /// Whether anyone may log in.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// How many reviewers may log in.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// The reviewer whose token this is.
    pub fn reviewer(&self, token: &str) -> Option<String> {
        let h = sha256(token.trim());
        // Every hash is compared, so the time says nothing about which matched.
        let mut found = None;
        for (name, want) in &self.by_name {
            if bool::from(want.ct_eq(&h)) {
                found = Some(name.clone());
            }
        }
        found
    }
}

/// Refuses a reviewer name that could not be one (`origin` says where it came from).
pub fn check_name(name: &str, origin: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 100
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(Error::Usage(format!(
            "{origin}: `{name}` is not a reviewer name (letters, digits, - _ . @; as in \
             approval_gate.reviewers)"
        )));
    }
    Ok(())
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `mlx ui token NAME`: a fresh token and the config line with its hash.
pub fn new_token() -> (String, String) {
    let token = random_hex();
    let hash = crate::config::hex(&sha256(&token));
    (token, hash)
}

/// One visitor's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id (the cookie's value).
    pub id: String,
    /// The reviewer logged in, if any.
    pub reviewer: Option<String>,
    /// The token every POST form of this session carries.
    pub csrf: String,
    created: Instant,
}

/// The sessions in memory.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The session a request's `Cookie` header names, if it is current.
    pub fn get(&self, cookie_header: Option<&str>) -> Option<Session> {
        let id = cookie_value(cookie_header?, COOKIE)?;
        let map = self.inner.lock().expect("sessions");
        map.get(id)
            .filter(|s| s.created.elapsed() < LIFETIME)
            .cloned()
    }

    /// A new session (a visitor's first request, or a login).
    pub fn create(&self, reviewer: Option<String>) -> Session {
        let s = Session {
            id: random_hex(),
            reviewer,
            csrf: random_hex(),
            created: Instant::now(),
        };
        let mut map = self.inner.lock().expect("sessions");
        map.retain(|_, s| s.created.elapsed() < LIFETIME);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.values().min_by_key(|s| s.created).map(|s| s.id.clone()) {
                map.remove(&oldest);
            }
        }
        map.insert(s.id.clone(), s.clone());
        s
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.inner.lock().expect("sessions").remove(id);
    }
}

/// Whether a form's CSRF token is its session's.
pub fn csrf_ok(session: &Session, form_token: Option<&str>) -> bool {
    form_token.is_some_and(|t| bool::from(session.csrf.as_bytes().ct_eq(t.as_bytes())))
}

/// The `Set-Cookie` value of a session.
pub fn set_cookie(session: &Session) -> String {
    format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        session.id,
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_known_by_its_hash_from_config_or_by_itself_from_secrets() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), 64);
        // Independent truth: sha256 of the token's text, as `sha256sum` computes it.
        let expected: String = Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hash, expected);
        let hashes = BTreeMap::from([("alice".to_string(), format!("sha256:{hash}"))]);
        let secrets = Tokens::parse_secrets(
            "# reviewers\nbob=bobs-secret-token-123, carol = carols-token-456789\n",
            "MLX_UI_TOKENS",
        )
        .unwrap();
        let t = Tokens::new(&hashes, &secrets).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.reviewer(&token).as_deref(), Some("alice"));
        assert_eq!(t.reviewer("bobs-secret-token-123").as_deref(), Some("bob"));
        assert_eq!(t.reviewer("carols-token-456789").as_deref(), Some("carol"));
        assert_eq!(t.reviewer(&hash), None, "the hash itself is not a token");
        assert_eq!(t.reviewer(""), None);
        assert_eq!(t.reviewer("bobs-secret-token-12"), None);
    }

    #[test]
    fn bad_tokens_and_names_are_refused_without_showing_the_secret() {
        let bad = BTreeMap::from([("alice".to_string(), "abc".to_string())]);
        let e = Tokens::new(&bad, &[]).unwrap_err().to_string();
        assert!(
            e.contains("ui.tokens.alice") && e.contains("mlx ui token"),
            "{e}"
        );
        let e = Tokens::parse_secrets("alice:secret-secret-secret", "tokens.txt")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tokens.txt, line 1") && !e.contains("secret-secret"),
            "{e}"
        );
        let e = Tokens::parse_secrets("alice=short", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("shorter than 16"), "{e}");
        let spaced = vec![("a b".to_string(), "x".repeat(20))];
        assert!(Tokens::new(&BTreeMap::new(), &spaced).is_err());
    }

    #[test]
    fn sessions_come_from_their_cookie_and_csrf_must_match_the_session() {
        let s = Sessions::default();
        let a = s.create(None);
        let b = s.create(Some("alice".into()));
        assert_ne!(a.id, b.id);
        assert_ne!(a.csrf, b.csrf);
        let header = format!("other=1; {COOKIE}={}; x=y", b.id);
        let got = s.get(Some(&header)).unwrap();
        assert_eq!(got.reviewer.as_deref(), Some("alice"));
        assert!(s.get(Some("mlx_session=deadbeef")).is_none());
        assert!(s.get(None).is_none());
        assert!(csrf_ok(&b, Some(&b.csrf)));
        assert!(!csrf_ok(&b, Some(&a.csrf)), "another session's token");
        assert!(!csrf_ok(&b, None), "no token");
        assert!(!csrf_ok(&b, Some("")), "an empty token");
        s.remove(&b.id);
        assert!(s.get(Some(&header)).is_none());
        assert!(set_cookie(&a).contains("HttpOnly; SameSite=Strict"));
    }
}
