//! The Spark engine of mlx (`engine: {kind: spark}`): a session on a Spark Connect
//! server (gRPC; Apache's Rust client, so no JVM in mlx), the reads and writes the
//! stages need, SQL text built safely, and results as plain values.
//!
//! The only crate that names the Spark client's types in its API, as `mlx-data` is
//! for Polars: a client upgrade stays here. What runs on the cluster is Spark SQL that
//! the stages build (with [`sql`]) and send; only its small results come back.

pub mod sql;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use spark_connect::row::Value;
use spark_connect::types::DataType;
use spark_connect::SparkSession;

/// Why a Spark operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SparkError {
    /// `engine.remote` is not a Spark Connect URL.
    #[error("engine.remote `{remote}` is not a Spark Connect URL ({message}); write it as sc://HOST:PORT, with `/;token=...` or `/;use_ssl=true` after it where the server needs them")]
    BadRemote {
        /// The URL, secrets masked.
        remote: String,
        /// What the client said.
        message: String,
    },
    /// No Spark Connect server answered, or it went away during the work.
    #[error("the Spark Connect server at {remote} cannot be reached ({message}); check that it runs, that `engine.remote` names it, and that this machine may connect to it")]
    Unreachable {
        /// The URL, secrets masked.
        remote: String,
        /// What gRPC said.
        message: String,
    },
    /// The server failed on its side (its driver ran out of memory, an internal
    /// error): nothing the query can fix.
    #[error("the Spark server at {remote} failed: {message}{hint}")]
    Failed {
        /// The URL, secrets masked.
        remote: String,
        /// What the server said.
        message: String,
        /// What to do about it, when known.
        hint: &'static str,
    },
    /// Spark refused the query: a table, column or function it does not know, SQL it
    /// cannot parse, a value it cannot cast.
    #[error("{message}")]
    Rejected {
        /// Spark's error condition (`TABLE_OR_VIEW_NOT_FOUND`, `UNRESOLVED_COLUMN...`).
        condition: Option<String>,
        /// Spark's message.
        message: String,
    },
}

impl SparkError {
    /// Spark's error condition, for a refused query.
    pub fn condition(&self) -> Option<&str> {
        match self {
            SparkError::Rejected { condition, .. } => condition.as_deref(),
            _ => None,
        }
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, SparkError>;

/// A value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer type.
    Int(i64),
    /// Float or double.
    Float(f64),
    /// Text, and decimals as Spark prints them (exact).
    Text(String),
    /// A date (days since 1970-01-01).
    Date(i32),
    /// A timestamp (microseconds since 1970-01-01 UTC).
    Timestamp(i64),
}

impl Scalar {
    /// As an integer (integers, and decimals without a fraction).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Int(i) => Some(*i),
            Scalar::Text(t) => t.parse().ok(),
            _ => None,
        }
    }
    /// As a float (any number).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Text(t) => t.parse().ok(),
            _ => None,
        }
    }
    /// As text (text and decimals).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Text(t) => Some(t),
            _ => None,
        }
    }
    /// Whether it is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Scalar::Null)
    }
}

fn scalar(v: &Value) -> Scalar {
    match v {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Byte(i) => Scalar::Int(i64::from(*i)),
        Value::Short(i) => Scalar::Int(i64::from(*i)),
        Value::Integer(i) => Scalar::Int(i64::from(*i)),
        Value::Long(i) => Scalar::Int(*i),
        Value::Float(f) => Scalar::Float(f64::from(*f)),
        Value::Double(f) => Scalar::Float(*f),
        Value::String(s) => Scalar::Text(s.clone()),
        Value::Decimal { value, .. } => Scalar::Text(value.clone()),
        Value::Date(d) => Scalar::Date(*d),
        Value::Timestamp(t) => Scalar::Timestamp(*t),
        other => Scalar::Text(format!("{other:?}")),
    }
}

/// What a column holds, in the terms the stages compare by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integers, floats and decimals.
    Numeric,
    /// Text and booleans.
    Categorical,
    /// Dates and timestamps.
    Temporal,
    /// Anything else (binary, nested, intervals).
    Other,
}

/// One column of a dataset on the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Spark's name of its type (`bigint`, `double`, `string`, `date`, `timestamp`).
    pub spark_type: String,
    /// What it holds.
    pub kind: Kind,
    /// Whether it is an integer type.
    pub integer: bool,
}

fn field(name: &str, t: &DataType) -> Field {
    let (kind, integer) = match t {
        DataType::Byte | DataType::Short | DataType::Integer | DataType::Long => {
            (Kind::Numeric, true)
        }
        DataType::Float | DataType::Double | DataType::Decimal { .. } => (Kind::Numeric, false),
        DataType::String { .. }
        | DataType::Char { .. }
        | DataType::Varchar { .. }
        | DataType::Boolean => (Kind::Categorical, false),
        DataType::Date | DataType::Timestamp | DataType::TimestampNtz => (Kind::Temporal, false),
        _ => (Kind::Other, false),
    };
    Field {
        name: name.to_owned(),
        spark_type: t.simple_string(),
        kind,
        integer,
    }
}

/// Where a dataset is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// Files the cluster can read (a path on its storage, or a directory of them).
    Path {
        /// The path or URL, as the cluster names it (`s3a://`, `abfss://`, `dbfs:/`, `/mnt/...`).
        path: String,
        /// Spark's format name: `parquet`, `csv`, `json`, `orc`, `delta`, `avro`, ...
        format: String,
        /// Reader options (`header`, `sep`, `nullValue`, ...).
        options: BTreeMap<String, String>,
    },
    /// A table of the cluster's catalog (`catalog.schema.table`).
    Table(String),
    /// A Spark SQL query over the catalog's tables.
    Query(String),
}

/// One stage of the running Spark job, as the server reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Tasks of the stage.
    pub tasks: i64,
    /// Tasks done.
    pub done: i64,
}

type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// A session on a Spark Connect server.
pub struct Cluster {
    session: SparkSession,
    remote: String,
    progress: Arc<Mutex<Option<ProgressFn>>>,
}

/// A dataset on the cluster: a plan Spark runs when a result is asked for.
pub struct Frame<'c> {
    cluster: &'c Cluster,
    df: spark_connect::DataFrame,
}

impl Cluster {
    /// Connects to `remote` (`sc://host:port/;token=...`); `masked` is how messages name
    /// it (the caller masks secrets). The server is asked for its version, so a server
    /// that does not answer is an error here rather than at the first query.
    pub fn connect(remote: &str, masked: &str) -> Result<Cluster> {
        let unreachable = |message: String| SparkError::Unreachable {
            remote: masked.to_owned(),
            message,
        };
        // The client retries an unavailable server for about ten minutes (PySpark's
        // policy, right for a server that restarts mid-job); one that is not there at
        // all is said at once.
        let (host, port) = authority(remote).map_err(|message| SparkError::BadRemote {
            remote: masked.to_owned(),
            message,
        })?;
        probe(&host, port).map_err(unreachable)?;
        let session = SparkSession::builder()
            .remote(remote)
            .get_or_create()
            .map_err(|e| {
                if e.error_class.contains("URL") || e.message.contains("URL") {
                    SparkError::BadRemote {
                        remote: masked.to_owned(),
                        message: e.get_message(),
                    }
                } else {
                    SparkError::Unreachable {
                        remote: masked.to_owned(),
                        message: e.get_message(),
                    }
                }
            })?;
        let cluster = Cluster {
            session,
            remote: masked.to_owned(),
            progress: Arc::new(Mutex::new(None)),
        };
        cluster.session.version().map_err(|e| cluster.error(e))?;
        // Times without a zone are UTC, as the local engine reads them.
        cluster
            .session
            .conf()
            .set("spark.sql.session.timeZone", "UTC")
            .map_err(|e| cluster.error(e))?;
        let progress = Arc::clone(&cluster.progress);
        cluster.session.register_progress_handler(move |p| {
            let report = progress.lock().ok().and_then(|g| g.clone());
            if let Some(report) = report {
                let (tasks, done) = p.stages.iter().fold((0, 0), |(t, d), s| {
                    (t + s.num_tasks, d + s.num_completed_tasks)
                });
                report(Progress { tasks, done });
            }
        });
        Ok(cluster)
    }

    /// Calls `f` with the job's progress while queries run.
    pub fn on_progress(&self, f: impl Fn(Progress) + Send + Sync + 'static) {
        if let Ok(mut g) = self.progress.lock() {
            *g = Some(Arc::new(f));
        }
    }

    /// The Spark version of the server.
    pub fn version(&self) -> Result<String> {
        self.session.version().map_err(|e| self.error(e))
    }

    /// A configuration value of the session (`spark.ui.reverseProxyUrl`, ...), if set.
    pub fn conf(&self, key: &str) -> Option<String> {
        self.session.conf().get(key).ok().flatten()
    }

    /// The Spark UI of the server's driver, where its configuration tells: the
    /// reverse-proxy URL when one is set, else the driver's host and UI port.
    pub fn ui_url(&self) -> Option<String> {
        if let Some(u) = self.conf("spark.ui.reverseProxyUrl") {
            return Some(u);
        }
        if self.conf("spark.ui.enabled").as_deref() == Some("false") {
            return None;
        }
        let host = self.conf("spark.driver.host")?;
        let port = self.conf("spark.ui.port").unwrap_or_else(|| "4040".into());
        Some(format!("http://{host}:{port}"))
    }

    fn error(&self, e: spark_connect::SparkError) -> SparkError {
        // gRPC UNAVAILABLE (14), CANCELLED (1) and DEADLINE_EXCEEDED (4) without an
        // error class: the server is gone, not the query wrong.
        let transport = e.error_class.is_empty() && matches!(e.grpc_code, Some(14 | 1 | 4));
        if transport || (e.grpc_code.is_none() && e.error_class.is_empty()) {
            return SparkError::Unreachable {
                remote: self.remote.clone(),
                message: e.get_message(),
            };
        }
        let message = first_lines(&e.get_message());
        if message.contains("Java heap space") || message.contains("OutOfMemoryError") {
            return SparkError::Failed {
                remote: self.remote.clone(),
                message,
                hint: "; its driver ran out of memory: give it more (`spark.driver.memory`), or send it less at once (fewer or shallower trees, for a model scored there)",
            };
        }
        SparkError::Rejected {
            condition: e.get_condition(),
            message,
        }
    }

    /// A dataset read as `read` says.
    pub fn read(&self, read: &Read) -> Result<Frame<'_>> {
        let df = match read {
            Read::Path {
                path,
                format,
                options,
            } => {
                let mut r = self.session.read().format(format);
                for (k, v) in options {
                    r = r.option(k, v);
                }
                r.load(Some(path))
            }
            Read::Table(t) => self.session.table(t).map_err(|e| self.error(e))?,
            Read::Query(q) => self.session.sql(q).map_err(|e| self.error(e))?,
        };
        Ok(Frame { cluster: self, df })
    }

    /// The dataset of a Spark SQL query.
    pub fn sql(&self, query: &str) -> Result<Frame<'_>> {
        self.read(&Read::Query(query.to_owned()))
    }

    /// The rows of a query (for summaries: small results only).
    pub fn rows(&self, query: &str) -> Result<Vec<Vec<Scalar>>> {
        self.sql(query)?.rows()
    }
}

impl<'c> Frame<'c> {
    /// Its columns; asking for them makes Spark resolve the plan (so a missing table or
    /// column is reported here).
    pub fn schema(&self) -> Result<Vec<Field>> {
        match self.df.schema().map_err(|e| self.cluster.error(e))? {
            DataType::Struct { fields } => Ok(fields
                .iter()
                .map(|f| field(&f.name, &f.data_type))
                .collect()),
            other => Ok(vec![field("value", &other)]),
        }
    }

    /// The frame with Spark SQL expressions as columns: `(name, expression)`, each
    /// replacing the column of that name or added after the others.
    pub fn with_columns(&self, columns: &[(String, String)]) -> Frame<'c> {
        if columns.is_empty() {
            return Frame {
                cluster: self.cluster,
                df: self.df.clone(),
            };
        }
        let cols = columns
            .iter()
            .map(|(n, e)| (n.clone(), spark_connect::functions::expr(e)))
            .collect();
        Frame {
            cluster: self.cluster,
            df: self.df.with_columns(cols),
        }
    }

    /// Names the frame for the queries that follow (a temporary view of the session).
    pub fn view(&self, name: &str) -> Result<()> {
        self.df
            .create_or_replace_temp_view(name)
            .map_err(|e| self.cluster.error(e))
    }

    /// Writes the frame as Parquet under `location`, which must not exist yet: Spark's
    /// committer moves the files into place and writes `_SUCCESS` only when every task
    /// has finished, so a failed job leaves nothing a reader would take for a dataset.
    pub fn write_parquet(&self, location: &str) -> Result<()> {
        self.df
            .write()
            .mode("errorifexists")
            .parquet(location)
            .map_err(|e| self.cluster.error(e))
    }

    /// Its number of rows.
    pub fn count(&self) -> Result<u64> {
        let n = self.df.count().map_err(|e| self.cluster.error(e))?;
        Ok(n.max(0) as u64)
    }

    /// Every row (small results only).
    pub fn rows(&self) -> Result<Vec<Vec<Scalar>>> {
        let rows = self.df.collect().map_err(|e| self.cluster.error(e))?;
        Ok(rows
            .iter()
            .map(|r| r.values().iter().map(scalar).collect())
            .collect())
    }
}

/// Whether the cluster reads `path` as this machine means it: absolute (`/mnt/lake`)
/// or a URL (`s3a://`, `abfss://`, `dbfs:/`). The cluster resolves a relative path
/// against a directory of its own.
pub fn is_cluster_path(path: &str) -> bool {
    path.starts_with('/') || path.contains(":/")
}

/// A Spark Connect URL with the value of its `token` parameter hidden, for messages.
pub fn redact(remote: &str) -> String {
    let Some((base, params)) = remote.split_once(';') else {
        return remote.to_owned();
    };
    let params: Vec<String> = params
        .split(';')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("token") => format!("{k}=***"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{base};{}", params.join(";"))
}

/// The host and port of a Spark Connect URL (`sc://host[:port][/;params]`, port 15002
/// by default).
fn authority(remote: &str) -> std::result::Result<(String, u16), String> {
    let rest = remote
        .strip_prefix("sc://")
        .ok_or("it does not start with sc://")?;
    let authority = rest.split(['/', ';']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("it names no host".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("`{p}` is not a port number"))?,
        ),
        _ => (authority, 15002),
    };
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

/// A TCP connection to the server, within ten seconds.
fn probe(host: &str, port: u16) -> std::result::Result<(), String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .collect();
    let mut last = format!("`{host}` resolves to no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(10)) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(last)
}

/// Spark's messages carry the server's stack; the first lines say what is wrong.
fn first_lines(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .take_while(|l| !l.trim_start().starts_with("at ") && !l.contains("JVM stacktrace"))
        .take(6)
        .collect();
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_the_kinds_the_stages_compare_by() {
        let f = field("x", &DataType::Long);
        assert_eq!(
            (f.kind, f.integer, f.spark_type.as_str()),
            (Kind::Numeric, true, "bigint")
        );
        assert_eq!(field("x", &DataType::Double).kind, Kind::Numeric);
        assert_eq!(field("x", &DataType::Boolean).kind, Kind::Categorical);
        assert_eq!(field("x", &DataType::Date).kind, Kind::Temporal);
        assert_eq!(field("x", &DataType::Binary).kind, Kind::Other);
    }

    #[test]
    fn server_stacks_are_cut_from_messages() {
        let m = "[TABLE_OR_VIEW_NOT_FOUND] The table `nope` cannot be found.\nJVM stacktrace:\norg.apache...\n\tat x";
        assert_eq!(
            first_lines(m),
            "[TABLE_OR_VIEW_NOT_FOUND] The table `nope` cannot be found."
        );
    }

    #[test]
    fn the_authority_of_a_remote_has_spark_connect_s_default_port() {
        assert_eq!(
            authority("sc://spark.internal:15003/;token=x"),
            Ok(("spark.internal".into(), 15003))
        );
        assert_eq!(
            authority("sc://spark.internal"),
            Ok(("spark.internal".into(), 15002))
        );
        assert_eq!(authority("sc://[::1]:16000"), Ok(("::1".into(), 16000)));
        assert!(authority("sc://h:port").is_err());
        assert!(authority("sc:///;token=x").is_err());
    }

    #[test]
    fn a_token_never_reaches_a_message() {
        assert_eq!(
            redact("sc://h:1/;use_ssl=true;token=abc;user_id=u"),
            "sc://h:1/;use_ssl=true;token=***;user_id=u"
        );
        assert_eq!(redact("sc://h:1"), "sc://h:1");
    }

    #[test]
    fn a_malformed_remote_is_refused_before_any_connection() {
        let e = Cluster::connect("http://spark:15002", "http://spark:15002")
            .err()
            .expect("refused");
        assert!(matches!(e, SparkError::BadRemote { .. }), "{e}");
        assert!(e.to_string().contains("sc://HOST:PORT"), "{e}");
    }

    #[test]
    fn a_server_that_is_not_there_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("sc://127.0.0.1:{port}");
        let e = Cluster::connect(&url, &url).err().expect("refused");
        assert!(matches!(e, SparkError::Unreachable { .. }), "{e}");
    }
}
