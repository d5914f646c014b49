//! A JSON API as a source (`data.sources[].http`): the pages of an API read in order,
//! their records become the rows.
//!
//! - **Paging**: a next-page link at a JSON pointer, offset and limit parameters, or a
//!   cursor sent back; at most `max_pages` pages. A next link may be relative, and must
//!   stay on the first URL's origin: the headers (credentials) go nowhere else.
//! - **Failures**: 429 and 5xx answers, and requests not answered within
//!   `timeout_seconds`, are retried `retries` times, after the `Retry-After` the API
//!   asks for (seconds or an HTTP date, at most [`LONGEST_WAIT`]) or else after 0.5 s,
//!   1 s, 2 s, ...; any other answer but 2xx is an error at once. `rate_limit` spaces
//!   the requests.
//! - **Fingerprint**: the SHA-256 of every page's bytes in order, so the same answers
//!   give the same dataset version.
//! - **Secrets**: messages and records name the URL without its query string, and never
//!   the headers.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use mlx_contracts::config::{HttpMethod, HttpSource, Paginate, Source};
use mlx_contracts::record::FileDigest;
use serde_json::Value;
use sha2::Digest;

use crate::config::url_label;
use crate::error::{Error, Result};

/// The longest `Retry-After` waited for; an API asking for more is an error.
pub const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// The records of every page, as NDJSON in a temporary file (which must outlive the
/// reading), and the fingerprint of the answers.
pub(super) fn fetch(s: &Source, h: &HttpSource) -> Result<(tempfile::NamedTempFile, FileDigest)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the I/O runtime", e))?;
    rt.block_on(Pages::new(s, h)?.read_all())
}

struct Pages<'a> {
    source: &'a str,
    h: &'a HttpSource,
    /// Sends the configured headers with every request.
    client: reqwest::Client,
    first: url::Url,
    last_request: Option<Instant>,
}

/// What to ask for next.
enum Next {
    /// The first URL, with the configured parameters and these.
    Params(BTreeMap<String, String>),
    /// A next link, as the API gave it (its query holds what the API needs; the
    /// configured parameters are not added to it again).
    Link(url::Url),
}

impl<'a> Pages<'a> {
    fn new(s: &'a Source, h: &'a HttpSource) -> Result<Self> {
        let usage = |m: String| Error::Usage(format!("source `{}`: {m}", s.name));
        let first = url::Url::parse(h.url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                usage(format!(
                    "`http.url` `{}` is not an http(s) URL",
                    url_label(&h.url)
                ))
            })?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &h.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| usage(format!("`http.headers`: `{k}` is not a header name")))?;
            let mut value = reqwest::header::HeaderValue::from_str(v).map_err(|_| {
                usage(format!(
                    "`http.headers.{k}`: the value is not a valid header value (no line breaks or control characters)"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(h.timeout_seconds.max(0.001)))
            .user_agent(concat!("mlx/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .build()
            .map_err(|e| Error::Runtime(format!("source `{}`: {e}", s.name)))?;
        Ok(Self {
            source: &s.name,
            h,
            client,
            first,
            last_request: None,
        })
    }

    fn fail(&self, page: u64, url: &url::Url, m: impl std::fmt::Display) -> Error {
        Error::Runtime(format!(
            "source `{}`: page {page} ({}): {m}",
            self.source,
            url_label(url.as_str())
        ))
    }

    async fn read_all(mut self) -> Result<(tempfile::NamedTempFile, FileDigest)> {
        let mut out = tempfile::Builder::new()
            .suffix(".ndjson")
            .tempfile()
            .map_err(|e| Error::io("creating a download file", e))?;
        let mut sha = sha2::Sha256::new();
        let (mut bytes, mut rows) = (0u64, 0u64);
        let mut next = match &self.h.paginate {
            Some(Paginate::Offset(o)) => Next::Params(BTreeMap::from([
                (o.param.clone(), o.start.to_string()),
                (o.limit_param.clone(), o.limit.to_string()),
            ])),
            _ => Next::Params(BTreeMap::new()),
        };
        let mut seen = std::collections::HashSet::new();
        let mut offset = match &self.h.paginate {
            Some(Paginate::Offset(o)) => o.start,
            _ => 0,
        };
        for page in 1.. {
            if page > self.h.max_pages {
                return Err(Error::Runtime(format!(
                    "source `{}`: more than {} pages (http.max_pages); raise it if the API really has more, or check the paging settings",
                    self.source, self.h.max_pages
                )));
            }
            let (url, query) = match &next {
                Next::Link(u) => (u.clone(), None),
                Next::Params(p) => (self.first.clone(), Some(p.clone())),
            };
            let body = self.get(page, &url, query.as_ref()).await?;
            sha.update(&body);
            bytes += body.len() as u64;
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|e| self.fail(page, &url, format!("the answer is not JSON: {e}")))?;
            let records = match doc.pointer(&self.h.records) {
                Some(Value::Array(a)) => a,
                Some(other) => {
                    return Err(self.fail(
                        page,
                        &url,
                        format!(
                            "`{}` (http.records) is {}, not a list of records",
                            pointer_label(&self.h.records),
                            super::json_kind(other)
                        ),
                    ))
                }
                None => {
                    return Err(self.fail(
                        page,
                        &url,
                        format!(
                            "the answer has no `{}` (http.records)",
                            pointer_label(&self.h.records)
                        ),
                    ))
                }
            };
            for (i, r) in records.iter().enumerate() {
                if !r.is_object() {
                    return Err(self.fail(
                        page,
                        &url,
                        format!(
                            "record {i} is {}, not an object of fields",
                            super::json_kind(r)
                        ),
                    ));
                }
                let mut line = serde_json::to_vec(r).expect("a JSON value serialises");
                line.push(b'\n');
                out.write_all(&line)
                    .map_err(|e| Error::io("writing the download", e))?;
            }
            rows += records.len() as u64;
            match self.after(page, &url, &doc, records.len(), &mut seen, &mut offset)? {
                Some(n) => next = n,
                None => break,
            }
        }
        if rows == 0 {
            return Err(Error::Runtime(format!(
                "source `{}`: the API answered no records ({}, `{}`); check http.url, http.params and http.records",
                self.source,
                url_label(self.first.as_str()),
                pointer_label(&self.h.records)
            )));
        }
        out.flush()
            .map_err(|e| Error::Runtime(format!("writing the download: {e}")))?;
        let digest = FileDigest {
            path: url_label(self.first.as_str()),
            sha256: crate::config::hex(&sha.finalize()),
            size: bytes,
        };
        Ok((out, digest))
    }

    /// What to read after `page` (`url`, which gave `doc` with `got` records); `None`
    /// after the last page.
    fn after(
        &self,
        page: u64,
        url: &url::Url,
        doc: &Value,
        got: usize,
        seen: &mut std::collections::HashSet<String>,
        offset: &mut u64,
    ) -> Result<Option<Next>> {
        Ok(Some(match &self.h.paginate {
            None => return Ok(None),
            Some(Paginate::NextLink(p)) => match text_at(doc, p) {
                None => return Ok(None),
                Some(link) => {
                    let to = url.join(&link).map_err(|e| {
                        self.fail(
                            page,
                            url,
                            format!("the next link `{}` is not a URL: {e}", url_label(&link)),
                        )
                    })?;
                    if to.origin() != self.first.origin() {
                        return Err(self.fail(
                            page,
                            url,
                            format!(
                                "the next link goes to {}, another site than http.url's; mlx sends the source's headers only to {}",
                                to.origin().ascii_serialization(),
                                self.first.origin().ascii_serialization()
                            ),
                        ));
                    }
                    if !seen.insert(to.to_string()) {
                        return Err(self.fail(
                            page,
                            url,
                            format!(
                                "the next link `{}` was read before: the API pages in a loop",
                                url_label(to.as_str())
                            ),
                        ));
                    }
                    Next::Link(to)
                }
            },
            Some(Paginate::Cursor(c)) => match text_at(doc, &c.pointer) {
                None => return Ok(None),
                Some(cursor) => {
                    if !seen.insert(cursor.clone()) {
                        return Err(self.fail(
                            page,
                            url,
                            "the API gave a cursor it gave before: it pages in a loop",
                        ));
                    }
                    Next::Params(BTreeMap::from([(c.param.clone(), cursor)]))
                }
            },
            Some(Paginate::Offset(o)) => {
                if (got as u64) < o.limit.max(1) {
                    return Ok(None);
                }
                *offset += got as u64;
                Next::Params(BTreeMap::from([
                    (o.param.clone(), offset.to_string()),
                    (o.limit_param.clone(), o.limit.to_string()),
                ]))
            }
        }))
    }

    /// One page's body, retried as the module says. `paging`: the paging parameters
    /// sent with the configured ones; `None` for a next link, whose query string is
    /// left as the API wrote it (a POST still sends the configured parameters).
    async fn get(
        &mut self,
        page: u64,
        url: &url::Url,
        paging: Option<&BTreeMap<String, String>>,
    ) -> Result<Vec<u8>> {
        let mut params = self.h.params.clone();
        params.extend(
            paging
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let timeout = self.h.timeout_seconds;
        for attempt in 0..=self.h.retries {
            if let (Some(rate), Some(last)) = (self.h.rate_limit, self.last_request) {
                let gap = Duration::from_secs_f64(1.0 / rate);
                tokio::time::sleep(gap.saturating_sub(last.elapsed())).await;
            }
            self.last_request = Some(Instant::now());
            let request = match self.h.method {
                HttpMethod::Get => {
                    let mut u = url.clone();
                    if paging.is_some() && !params.is_empty() {
                        u.query_pairs_mut().extend_pairs(&params);
                    }
                    self.client.get(u)
                }
                HttpMethod::Post => self.client.post(url.clone()).json(&params),
            };
            let backoff = Duration::from_millis(500 << attempt.min(6));
            let last = attempt == self.h.retries;
            let answered = request.send().await;
            let wait = match answered {
                Ok(r) if r.status().is_success() => match r.bytes().await {
                    Ok(b) => return Ok(b.to_vec()),
                    Err(e) if last => {
                        return Err(self.fail(page, url, reading_error(&e, timeout)));
                    }
                    Err(_) => backoff,
                },
                Ok(r) => {
                    let status = r.status();
                    let retry = status.as_u16() == 429 || status.is_server_error();
                    let asked = retry.then(|| retry_after(r.headers())).flatten();
                    if let Some(w) = asked.filter(|w| *w > LONGEST_WAIT) {
                        return Err(self.fail(
                            page,
                            url,
                            format!(
                                "the API answered {status} and asks to wait {} s (Retry-After), longer than mlx waits ({} s); run later",
                                w.as_secs(),
                                LONGEST_WAIT.as_secs()
                            ),
                        ));
                    }
                    if !retry || last {
                        let after = if retry {
                            format!(
                                " after {} tries (http.retries: {})",
                                attempt + 1,
                                self.h.retries
                            )
                        } else {
                            String::new()
                        };
                        let text = r.text().await.unwrap_or_default();
                        return Err(self.fail(
                            page,
                            url,
                            format!("the API answered {status}{after}: {}", excerpt(&text)),
                        ));
                    }
                    asked.unwrap_or(backoff)
                }
                Err(e) if last => {
                    let m = reading_error(&e, timeout);
                    return Err(self.fail(
                        page,
                        url,
                        format!(
                            "{m} after {} tries (http.retries: {})",
                            attempt + 1,
                            self.h.retries
                        ),
                    ));
                }
                Err(_) => backoff,
            };
            tokio::time::sleep(wait).await;
        }
        unreachable!("the last attempt returns")
    }
}

fn reading_error(e: &reqwest::Error, timeout: f64) -> String {
    if e.is_timeout() {
        format!("no whole answer within {timeout} s (http.timeout_seconds)")
    } else if e.is_connect() {
        "the server could not be reached".into()
    } else {
        // reqwest's message names the URL with its query; the caller names it without.
        let mut m = e.to_string();
        if let Some(u) = e.url() {
            m = m.replace(u.as_str(), &url_label(u.as_str()));
        }
        m
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (at.timestamp_millis() - chrono::Utc::now().timestamp_millis()).max(0);
    Some(Duration::from_millis(secs as u64))
}

/// The text at a JSON pointer (a string, or a number as text); `None` when missing,
/// null or empty: the last page.
fn text_at(doc: &Value, pointer: &str) -> Option<String> {
    match doc.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn pointer_label(p: &str) -> &str {
    if p.is_empty() {
        "the whole answer"
    } else {
        p
    }
}

/// The start of an error body, on one line.
fn excerpt(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 200 {
        format!("{}…", one.chars().take(200).collect::<String>())
    } else if one.is_empty() {
        "(no body)".into()
    } else {
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let soon = chrono::Utc::now() + chrono::Duration::seconds(30);
        h.insert(
            reqwest::header::RETRY_AFTER,
            soon.format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
                .parse()
                .unwrap(),
        );
        let w = retry_after(&h).unwrap();
        assert!(
            w > Duration::from_secs(28) && w <= Duration::from_secs(30),
            "{w:?}"
        );
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn the_last_page_has_no_link_or_cursor() {
        let doc = serde_json::json!({"next": null, "c": "", "n": 5, "s": "abc"});
        assert_eq!(text_at(&doc, "/next"), None);
        assert_eq!(text_at(&doc, "/c"), None);
        assert_eq!(text_at(&doc, "/missing"), None);
        assert_eq!(text_at(&doc, "/n").as_deref(), Some("5"));
        assert_eq!(text_at(&doc, "/s").as_deref(), Some("abc"));
    }
}
