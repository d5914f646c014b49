//! Reading query results from PostgreSQL (and Redshift, which speaks its protocol) and
//! MySQL/MariaDB into a frame. Rows are streamed from the server and converted in
//! batches, so the driver never holds the whole result as rows.

use polars::prelude::*;

/// Rows converted per batch.
pub const BATCH_ROWS: usize = 50_000;

/// A column being filled from rows.
enum Builder {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Text(Vec<Option<String>>),
    Date(Vec<Option<i32>>),
    Datetime(Vec<Option<i64>>),
}

impl Builder {
    fn into_column(self, name: &str) -> PolarsResult<Column> {
        let name: PlSmallStr = name.into();
        Ok(match self {
            Builder::Int(v) => Series::new(name, v).into_column(),
            Builder::Float(v) => Series::new(name, v).into_column(),
            Builder::Bool(v) => Series::new(name, v).into_column(),
            Builder::Text(v) => Series::new(name, v).into_column(),
            Builder::Date(v) => Series::new(name, v).cast(&DataType::Date)?.into_column(),
            Builder::Datetime(v) => Series::new(name, v)
                .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?
                .into_column(),
        })
    }
}

const EPOCH: chrono::NaiveDate = match chrono::NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

fn days(d: chrono::NaiveDate) -> i32 {
    (d - EPOCH).num_days() as i32
}

/// Turns the filled builders into a frame, appends it to `out`, and starts new ones.
fn flush(
    builders: &mut Vec<Builder>,
    fresh: Vec<Builder>,
    names: &[String],
    out: &mut Option<DataFrame>,
) -> Result<(), String> {
    let full = std::mem::replace(builders, fresh);
    let cols = full
        .into_iter()
        .zip(names)
        .map(|(b, name)| b.into_column(name))
        .collect::<PolarsResult<Vec<_>>>()
        .map_err(|e| e.to_string())?;
    let height = cols.first().map_or(0, Column::len);
    let batch = DataFrame::new(height, cols).map_err(|e| e.to_string())?;
    match out {
        Some(df) => {
            df.vstack_mut_owned(batch).map_err(|e| e.to_string())?;
        }
        None => *out = Some(batch),
    }
    Ok(())
}

/// What the server said (`password authentication failed for user "mlx"`, with its
/// SQLSTATE), or the error's whole chain: the client's own text is only "db error".
/// Neither holds the password.
fn pg_error(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Runs a query on PostgreSQL (`postgres://user:password@host:port/db`) and returns
/// the result. Integers, floats, `numeric` (as float), booleans, text types, dates and
/// timestamps are supported; other types are read as text when the server can cast
/// them (cast in the query, e.g. `uuid_col::text`).
pub fn read_postgres(url: &str, query: &str) -> Result<DataFrame, String> {
    use postgres::fallible_iterator::FallibleIterator;
    use postgres::types::Type;
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| format!("cannot connect: {}", pg_error(&e)))?;
    let stmt = client
        .prepare(query)
        .map_err(|e| format!("the query failed: {}", pg_error(&e)))?;
    let columns: Vec<(String, Type)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.type_().clone()))
        .collect();
    let new_builders = || -> Result<Vec<Builder>, String> {
        columns
            .iter()
            .map(|(name, t)| {
                Ok(match *t {
                    Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => Builder::Int(Vec::new()),
                    Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => Builder::Float(Vec::new()),
                    Type::BOOL => Builder::Bool(Vec::new()),
                    Type::DATE => Builder::Date(Vec::new()),
                    Type::TIMESTAMP | Type::TIMESTAMPTZ => Builder::Datetime(Vec::new()),
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Builder::Text(Vec::new()),
                    ref other => return Err(format!("column `{name}` has type {other}; cast it to text or a number in the query")),
                })
            })
            .collect()
    };
    let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let mut builders = new_builders()?;
    let mut out: Option<DataFrame> = None;
    let mut rows = client
        .query_raw(
            &stmt,
            std::iter::empty::<&(dyn postgres::types::ToSql + Sync)>(),
        )
        .map_err(|e| format!("the query failed: {}", pg_error(&e)))?;
    let mut n = 0usize;
    while let Some(row) = rows
        .next()
        .map_err(|e| format!("reading the result: {e}"))?
    {
        for (i, b) in builders.iter_mut().enumerate() {
            let t = &columns[i].1;
            let err = |e: postgres::Error| format!("column `{}`: {e}", columns[i].0);
            match b {
                Builder::Int(v) => v.push(match *t {
                    Type::INT2 => row
                        .try_get::<_, Option<i16>>(i)
                        .map_err(err)?
                        .map(i64::from),
                    Type::INT4 => row
                        .try_get::<_, Option<i32>>(i)
                        .map_err(err)?
                        .map(i64::from),
                    Type::OID => row
                        .try_get::<_, Option<u32>>(i)
                        .map_err(err)?
                        .map(i64::from),
                    _ => row.try_get::<_, Option<i64>>(i).map_err(err)?,
                }),
                Builder::Float(v) => v.push(match *t {
                    Type::FLOAT4 => row
                        .try_get::<_, Option<f32>>(i)
                        .map_err(err)?
                        .map(f64::from),
                    Type::NUMERIC => numeric(row.try_get::<_, Option<PgNumeric>>(i).map_err(err)?),
                    _ => row.try_get::<_, Option<f64>>(i).map_err(err)?,
                }),
                Builder::Bool(v) => v.push(row.try_get(i).map_err(err)?),
                Builder::Text(v) => v.push(row.try_get(i).map_err(err)?),
                Builder::Date(v) => v.push(
                    row.try_get::<_, Option<chrono::NaiveDate>>(i)
                        .map_err(err)?
                        .map(days),
                ),
                Builder::Datetime(v) => v.push(if *t == Type::TIMESTAMPTZ {
                    row.try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)
                        .map_err(err)?
                        .map(|d| d.timestamp_millis())
                } else {
                    row.try_get::<_, Option<chrono::NaiveDateTime>>(i)
                        .map_err(err)?
                        .map(|d| d.and_utc().timestamp_millis())
                }),
            }
        }
        n += 1;
        if n.is_multiple_of(BATCH_ROWS) {
            flush(&mut builders, new_builders()?, &names, &mut out)?;
        }
    }
    flush(&mut builders, new_builders()?, &names, &mut out)?;
    out.ok_or_else(|| "the query returned no result".into())
}

/// PostgreSQL `numeric` read through its text form.
struct PgNumeric(String);

impl<'a> postgres::types::FromSql<'a> for PgNumeric {
    fn from_sql(
        _: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgNumeric(decode_numeric(raw)?))
    }
    fn accepts(t: &postgres::types::Type) -> bool {
        *t == postgres::types::Type::NUMERIC
    }
}

fn numeric(v: Option<PgNumeric>) -> Option<f64> {
    v.and_then(|n| n.0.parse().ok())
}

/// Decodes PostgreSQL's binary `numeric`: base-10000 digits with a weight and sign.
fn decode_numeric(raw: &[u8]) -> Result<String, Box<dyn std::error::Error + Sync + Send>> {
    let be = |i: usize| -> Result<i16, Box<dyn std::error::Error + Sync + Send>> {
        raw.get(i..i + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let (ndigits, weight, sign) = (be(0)? as usize, be(2)?, be(4)? as u16);
    if sign == 0xC000 {
        return Ok("NaN".into());
    }
    let mut value = 0f64;
    for k in 0..ndigits {
        let digit = f64::from(be(8 + 2 * k)?);
        value += digit * 10000f64.powi(i32::from(weight) - k as i32);
    }
    if sign == 0x4000 {
        value = -value;
    }
    Ok(format!("{value}"))
}

/// Runs a query on MySQL or MariaDB (`mysql://user:password@host:port/db`).
pub fn read_mysql(url: &str, query: &str) -> Result<DataFrame, String> {
    use mysql::consts::ColumnType as T;
    use mysql::prelude::Queryable;
    let opts = mysql::Opts::from_url(url).map_err(|e| format!("not a valid MySQL URL: {e}"))?;
    let mut conn = mysql::Conn::new(opts).map_err(|e| format!("cannot connect: {e}"))?;
    let mut result = conn
        .query_iter(query)
        .map_err(|e| format!("the query failed: {e}"))?;
    let mut set = result
        .iter()
        .ok_or_else(|| "the query returned no result set".to_owned())?;
    let columns: Vec<(String, T)> = set
        .columns()
        .as_ref()
        .iter()
        .map(|c| (c.name_str().into_owned(), c.column_type()))
        .collect();
    let new_builders = || -> Vec<Builder> {
        columns
            .iter()
            .map(|(_, t)| match t {
                T::MYSQL_TYPE_TINY
                | T::MYSQL_TYPE_SHORT
                | T::MYSQL_TYPE_LONG
                | T::MYSQL_TYPE_LONGLONG
                | T::MYSQL_TYPE_INT24
                | T::MYSQL_TYPE_YEAR => Builder::Int(Vec::new()),
                T::MYSQL_TYPE_FLOAT
                | T::MYSQL_TYPE_DOUBLE
                | T::MYSQL_TYPE_DECIMAL
                | T::MYSQL_TYPE_NEWDECIMAL => Builder::Float(Vec::new()),
                T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE => Builder::Date(Vec::new()),
                T::MYSQL_TYPE_DATETIME | T::MYSQL_TYPE_TIMESTAMP => Builder::Datetime(Vec::new()),
                _ => Builder::Text(Vec::new()),
            })
            .collect()
    };
    let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let mut builders = new_builders();
    let mut out: Option<DataFrame> = None;
    let mut n = 0usize;
    for row in set.by_ref() {
        let row = row.map_err(|e| format!("reading the result: {e}"))?;
        for (i, b) in builders.iter_mut().enumerate() {
            let v: mysql::Value = row.as_ref(i).cloned().unwrap_or(mysql::Value::NULL);
            let name = &columns[i].0;
            let conv = |e: mysql::FromValueError| format!("column `{name}`: {e}");
            match b {
                Builder::Int(c) => c.push(mysql::from_value_opt::<Option<i64>>(v).map_err(conv)?),
                Builder::Float(c) => c.push(mysql::from_value_opt::<Option<f64>>(v).map_err(conv)?),
                Builder::Bool(c) => c.push(mysql::from_value_opt::<Option<bool>>(v).map_err(conv)?),
                Builder::Text(c) => {
                    c.push(mysql::from_value_opt::<Option<String>>(v).map_err(conv)?)
                }
                Builder::Date(c) => c.push(
                    mysql::from_value_opt::<Option<chrono::NaiveDate>>(v)
                        .map_err(conv)?
                        .map(days),
                ),
                Builder::Datetime(c) => c.push(
                    mysql::from_value_opt::<Option<chrono::NaiveDateTime>>(v)
                        .map_err(conv)?
                        .map(|d| d.and_utc().timestamp_millis()),
                ),
            }
        }
        n += 1;
        if n.is_multiple_of(BATCH_ROWS) {
            flush(&mut builders, new_builders(), &names, &mut out)?;
        }
    }
    flush(&mut builders, new_builders(), &names, &mut out)?;
    out.ok_or_else(|| "the query returned no result".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_binary_decoding() {
        // 12345.678 = digits [1, 2345, 6780], weight 1, scale 3, positive.
        let raw: Vec<u8> = [3i16, 1, 0, 3, 1, 2345, 6780]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(decode_numeric(&raw).unwrap(), "12345.678");
        let neg: Vec<u8> = [1i16, 0, 0x4000u16 as i16, 0, 42]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(decode_numeric(&neg).unwrap(), "-42");
    }
}
