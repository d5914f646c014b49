//! A Kinesis data stream as a source (`data.sources[].kinesis`): a bounded read of every
//! shard, from its start position up to the records that arrived by the time the stage
//! started, so a run reads a fixed set of records; the last sequence number read per
//! shard is the checkpoint the ingest record keeps, and `start: checkpoint` goes on
//! after it. The record is written after `raw.parquet` is in place, so a run that fails
//! before then reads the same records again: nothing is skipped.
//!
//! Kinesis's JSON API (`Kinesis_20131202.*`) is called over HTTPS, signed with AWS
//! SigV4 by `object_store`'s signer (the one the S3 stores use). Credentials come from
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; the endpoint
//! from `AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL` or `AWS_ENDPOINT`, else the
//! region's.

use std::time::Duration;

use base64::Engine;
use mlx_contracts::config::{KinesisSource, Source};
use mlx_contracts::ingest::{KinesisRead, ShardCheckpoint};
use mlx_contracts::record::FileDigest;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use serde_json::{json, Value};

use super::records::Records;
use crate::error::{Error, Result};

/// Records per `GetRecords` call (Kinesis's largest).
const LIMIT: u64 = 10_000;

/// The records read, as NDJSON in a temporary file (which must outlive the reading),
/// their fingerprint, and the checkpoints.
pub(super) fn read(
    s: &Source,
    k: &KinesisSource,
    previous: Option<&KinesisRead>,
) -> Result<(tempfile::NamedTempFile, FileDigest, KinesisRead)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the I/O runtime", e))?;
    let client = Client::new(s, k)?;
    rt.block_on(client.read_all(k, previous))
}

struct Client<'a> {
    source: &'a str,
    stream: &'a str,
    endpoint: url::Url,
    region: String,
    credential: AwsCredential,
    http: reqwest::Client,
}

impl<'a> Client<'a> {
    fn new(s: &'a Source, k: &'a KinesisSource) -> Result<Self> {
        let usage = |m: String| Error::Usage(format!("source `{}`: {m}", s.name));
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let region = k
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .ok_or_else(|| {
                usage("Kinesis needs a region: set `kinesis.region` or AWS_REGION".into())
            })?;
        let endpoint = env("AWS_ENDPOINT_URL_KINESIS")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .or_else(|| env("AWS_ENDPOINT"))
            .unwrap_or_else(|| format!("https://kinesis.{region}.amazonaws.com"));
        let endpoint = url::Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                usage(format!(
                    "the Kinesis endpoint `{endpoint}` is not an http(s) URL"
                ))
            })?;
        let credential = AwsCredential {
            key_id: env("AWS_ACCESS_KEY_ID").ok_or_else(|| {
                usage("Kinesis needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)".into())
            })?,
            secret_key: env("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
                usage("Kinesis needs credentials: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into())
            })?,
            token: env("AWS_SESSION_TOKEN"),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Runtime(format!("source `{}`: {e}", s.name)))?;
        Ok(Self {
            source: &s.name,
            stream: &k.stream,
            endpoint,
            region,
            credential,
            http,
        })
    }

    fn fail(&self, m: String) -> Error {
        Error::Runtime(format!(
            "source `{}`: Kinesis stream `{}`: {m}",
            self.source, self.stream
        ))
    }

    /// One call of Kinesis's JSON API, retried (after 0.5 s, 1 s, 2 s, ...) when
    /// Kinesis says to slow down or fails on its side.
    async fn call(&self, action: &str, body: Value) -> Result<Value> {
        let bytes = serde_json::to_vec(&body).map_err(|e| self.fail(e.to_string()))?;
        let mut wait = Duration::from_millis(500);
        for attempt in 0..6 {
            let mut request = axum::http::Request::builder()
                .method("POST")
                .uri(self.endpoint.as_str())
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", format!("Kinesis_20131202.{action}"))
                .body(object_store::client::HttpRequestBody::from(bytes.clone()))
                .map_err(|e| self.fail(e.to_string()))?;
            AwsAuthorizer::new(&self.credential, "kinesis", &self.region)
                .authorize(&mut request, None);
            let mut send = self.http.post(self.endpoint.as_str()).body(bytes.clone());
            for (name, value) in request.headers() {
                send = send.header(name.as_str(), value.as_bytes());
            }
            let answer = send.send().await.map_err(|e| {
                self.fail(format!(
                    "{action}: cannot reach {}: {}",
                    self.endpoint,
                    crate::error::chain(&e)
                ))
            })?;
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            if status.is_success() {
                return serde_json::from_str(&text)
                    .map_err(|e| self.fail(format!("{action}: the answer is not JSON: {e}")));
            }
            let kind = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v["__type"]
                        .as_str()
                        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                })
                .unwrap_or_default();
            let retry = status.is_server_error()
                || matches!(
                    kind.as_str(),
                    "ProvisionedThroughputExceededException" | "LimitExceededException"
                );
            if retry && attempt < 5 {
                tokio::time::sleep(wait).await;
                wait *= 2;
                continue;
            }
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v["message"]
                        .as_str()
                        .or(v["Message"].as_str())
                        .map(str::to_string)
                })
                .unwrap_or(text);
            let hint = match kind.as_str() {
                "ResourceNotFoundException" => "; check `kinesis.stream` and the region",
                "UnrecognizedClientException" | "InvalidSignatureException" | "AccessDeniedException" => {
                    "; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the stream's permissions (kinesis:ListShards, GetShardIterator, GetRecords)"
                }
                _ => "",
            };
            return Err(self.fail(format!(
                "{action} answered {status} {kind}: {message}{hint}"
            )));
        }
        unreachable!("the last attempt returns")
    }

    async fn shards(&self) -> Result<Vec<String>> {
        let mut shards = Vec::new();
        let mut body = json!({ "StreamName": self.stream });
        loop {
            let page = self.call("ListShards", body).await?;
            for shard in page["Shards"].as_array().into_iter().flatten() {
                if let Some(id) = shard["ShardId"].as_str() {
                    shards.push(id.to_string());
                }
            }
            match page["NextToken"].as_str() {
                Some(token) => body = json!({ "NextToken": token }),
                None => break,
            }
        }
        shards.sort();
        Ok(shards)
    }

    async fn read_all(
        &self,
        k: &KinesisSource,
        previous: Option<&KinesisRead>,
    ) -> Result<(tempfile::NamedTempFile, FileDigest, KinesisRead)> {
        // The bound: what had arrived when the stage started.
        let until = chrono::Utc::now();
        let mut rows = Records::new(k.bad_records)?;
        let mut checkpoints = Vec::new();
        for shard in self.shards().await? {
            let after = match (k.start.as_str(), previous) {
                ("checkpoint", Some(p)) => p
                    .shards
                    .iter()
                    .find(|c| c.shard == shard)
                    .and_then(|c| c.sequence.clone()),
                _ => None,
            };
            let mut iterator_request = json!({ "StreamName": self.stream, "ShardId": shard });
            match (&after, k.start.as_str()) {
                (Some(seq), _) => {
                    iterator_request["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER".into();
                    iterator_request["StartingSequenceNumber"] = seq.as_str().into();
                }
                (None, "trim_horizon" | "checkpoint") => {
                    iterator_request["ShardIteratorType"] = "TRIM_HORIZON".into();
                }
                (None, time) => {
                    let t = chrono::DateTime::parse_from_rfc3339(time).map_err(|e| {
                        Error::Usage(format!(
                            "source `{}`: `kinesis.start: {time}` is not trim_horizon, checkpoint or an RFC 3339 time: {e}",
                            self.source
                        ))
                    })?;
                    iterator_request["ShardIteratorType"] = "AT_TIMESTAMP".into();
                    iterator_request["Timestamp"] = (t.timestamp_millis() as f64 / 1000.0).into();
                }
            }
            let answer = self.call("GetShardIterator", iterator_request).await?;
            let mut iterator = answer["ShardIterator"].as_str().map(str::to_string);
            let mut last = after.clone();
            let before = rows.rows;
            'shard: while let Some(it) = iterator.take() {
                let page = self
                    .call("GetRecords", json!({ "ShardIterator": it, "Limit": LIMIT }))
                    .await?;
                let batch = page["Records"].as_array().cloned().unwrap_or_default();
                for r in &batch {
                    let seq = r["SequenceNumber"].as_str().unwrap_or_default().to_string();
                    let arrived = r["ApproximateArrivalTimestamp"].as_f64().unwrap_or(0.0);
                    if arrived * 1000.0 > until.timestamp_millis() as f64 {
                        break 'shard;
                    }
                    let data = r["Data"].as_str().unwrap_or_default();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .map_err(|e| {
                            self.fail(format!(
                                "shard {shard}, sequence {seq}: the data is not base64: {e}"
                            ))
                        })?;
                    rows.push(&bytes, || format!("shard {shard}, sequence {seq}"))
                        .map_err(|why| {
                            self.fail(format!(
                                "shard {shard}, sequence {seq}: the record is {why}; fix the producer, or set `kinesis.bad_records: skip` to leave such records out (counted in the record)"
                            ))
                        })?;
                    last = Some(seq);
                }
                let caught_up = page["MillisBehindLatest"].as_u64() == Some(0);
                iterator = page["NextShardIterator"].as_str().map(str::to_string);
                if batch.is_empty() && caught_up {
                    break;
                }
            }
            checkpoints.push(ShardCheckpoint {
                shard,
                sequence: last,
                records: rows.rows - before,
            });
        }
        let read = KinesisRead {
            stream: self.stream.to_string(),
            until: until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            shards: checkpoints,
            skipped: rows.skipped,
            skipped_sample: rows.sample.clone(),
        };
        let (out, digest) = rows.finish(format!("kinesis://{}", self.stream))?;
        Ok((out, digest, read))
    }
}
