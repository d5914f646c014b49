//! JSON serialisation that fails loudly. `serde_json` can refuse a value (a map whose
//! keys are not strings, a serialiser that reports an error); a file, a record or a
//! stage's details written from such a value must be an error naming the type, never
//! empty bytes that a later reader takes for a corrupt file.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

fn refused<T: ?Sized>(e: serde_json::Error) -> Error {
    // `alloc::vec::Vec<mlx_contracts::gate::Review>` is named `Vec`: the path before
    // its generic arguments, without its module.
    let name = std::any::type_name::<T>();
    let path = name.split('<').next().unwrap_or(name);
    let short = path.rsplit("::").next().unwrap_or(path);
    Error::Runtime(format!("cannot serialise {short} as JSON: {e}"))
}

/// The value as a JSON tree (a stage's `details`, a report's `--json`).
pub fn value<T: Serialize + ?Sized>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(refused::<T>)
}

/// The value as one line of compact JSON (an NDJSON record, a hash input).
pub fn line<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(refused::<T>)
}

/// The value as pretty JSON ending in a newline (a file mlx writes).
pub fn pretty<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(v).map_err(refused::<T>)?;
    s.push('\n');
    Ok(s)
}

/// [`pretty`] without the final newline: for the files that have always been written
/// so (the work directory's fitted preprocessor, a feature-store version record), whose
/// bytes, and so their hashes, stay what they were.
pub fn pretty_bare<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(refused::<T>)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn a_value_json_refuses_is_an_error_naming_its_type() {
        // JSON object keys must be strings; serde_json refuses a map keyed by pairs.
        let m: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        for text in [
            super::value(&m).unwrap_err().to_string(),
            super::line(&m).unwrap_err().to_string(),
            super::pretty(&m).unwrap_err().to_string(),
        ] {
            assert!(text.starts_with("cannot serialise BTreeMap"), "{text}");
            assert!(text.contains("key must be a string"), "{text}");
        }
        assert_eq!(super::pretty(&[1, 2]).unwrap(), "[\n  1,\n  2\n]\n");
        assert_eq!(super::pretty_bare(&[1, 2]).unwrap(), "[\n  1,\n  2\n]");
        assert_eq!(super::line(&[1, 2]).unwrap(), "[1,2]");
    }
}
