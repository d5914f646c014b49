//! The config reference (`docs/config-reference.md`), generated from the JSON Schema
//! so that every key's type, default and description come from the types themselves.

use std::fmt::Write;

use serde_json::Value;

/// Markdown: one table per section, one row per key (nested keys dotted).
pub fn reference_markdown() -> crate::error::Result<String> {
    let text = super::schema_json()?;
    let schema: Value = serde_json::from_str(&text)
        .map_err(|e| crate::error::Error::Runtime(format!("reading back the schema: {e}")))?;
    let defs = schema.get("$defs").cloned().unwrap_or_default();
    let mut out = String::from(
        "# mlx.yaml reference\n\n\
         Generated from the config types by `MLX_UPDATE=1 cargo test -p mlx`; do not edit.\n\
         Every key is optional unless marked **required**. Defaults marked *by problem type* are filled in by\n\
         `mlx config show`. Any value may use `${VAR}` or `${VAR:-default}`.\n",
    );
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (section, prop) in props {
        let _ = write!(out, "\n## `{section}`\n\n");
        if let Some(d) = prop.get("description").and_then(Value::as_str) {
            let _ = write!(out, "{d}\n\n");
        }
        out.push_str("| key | type | default | description |\n|---|---|---|---|\n");
        let target = resolve(prop, &defs);
        match target.get("properties").and_then(Value::as_object) {
            Some(_) => rows(&mut out, section, &target, &defs, 0),
            None => {
                // A list section (`models`): document its item type.
                let item = target
                    .get("items")
                    .map(|i| resolve(i, &defs))
                    .unwrap_or_default();
                rows(&mut out, &format!("{section}[]"), &item, &defs, 0);
            }
        }
    }
    Ok(out)
}

/// Keys that `Config::resolve` fills from the problem type.
const RESOLVED: &[&str] = &[
    "split.strategy",
    "split.seed",
    "pipeline.model_type",
    "training.loss",
    "evaluation.primary_metric",
    "evaluation.direction",
    "approval_gate.primary_metric_threshold",
    "registry.model_name",
];

fn resolve(v: &Value, defs: &Value) -> Value {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return defs.get(name).cloned().unwrap_or_default();
    }
    if let Some(any) = v.get("anyOf").and_then(Value::as_array) {
        if let Some(non_null) = any
            .iter()
            .find(|a| a.get("type") != Some(&Value::from("null")))
        {
            return resolve(non_null, defs);
        }
    }
    v.clone()
}

fn rows(out: &mut String, prefix: &str, obj: &Value, defs: &Value, depth: usize) {
    let Some(props) = obj.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, prop) in props {
        let path = format!("{prefix}.{key}");
        let target = resolve(prop, defs);
        let nested = target.get("properties").is_some() && depth < 3;
        let ty = type_name(&target, defs);
        let required = obj
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|k| k == key.as_str()));
        let default = match prop.get("default") {
            None if required => "**required**".into(),
            None => String::new(),
            Some(Value::Null) if RESOLVED.contains(&path.as_str()) => "*by problem type*".into(),
            Some(Value::Null) => "unset".into(),
            Some(v) if nested => {
                let _ = v;
                String::new()
            }
            Some(v) => format!("`{v}`"),
        };
        let desc = prop
            .get("description")
            .or_else(|| target.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\n', " ")
            .replace('|', "\\|");
        let _ = writeln!(out, "| `{path}` | {ty} | {default} | {desc} |");
        if nested {
            rows(out, &path, &target, defs, depth + 1);
        } else if let Some(items) = target.get("items") {
            let item = resolve(items, defs);
            if item.get("properties").is_some() && depth < 3 {
                rows(out, &format!("{path}[]"), &item, defs, depth + 1);
            }
        }
    }
}

fn type_name(v: &Value, defs: &Value) -> String {
    if let Some(choices) = v.get("enum").and_then(Value::as_array) {
        return choices
            .iter()
            .filter_map(Value::as_str)
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    if let Some(one) = v.get("oneOf").and_then(Value::as_array) {
        let consts: Vec<String> = one
            .iter()
            .filter_map(|o| {
                o.get("const")
                    .and_then(Value::as_str)
                    .or_else(|| o.get("enum").and_then(|e| e.get(0)).and_then(Value::as_str))
            })
            .map(|c| format!("`{c}`"))
            .collect();
        if !consts.is_empty() {
            return consts.join(" \\| ");
        }
    }
    match v.get("type") {
        Some(Value::String(t)) => match t.as_str() {
            "array" => {
                let item = v.get("items").map(|i| resolve(i, defs)).unwrap_or_default();
                format!("list of {}", type_name(&item, defs))
            }
            "object" if v.get("properties").is_none() => "mapping".into(),
            "object" => "section".into(),
            "number" => "number".into(),
            "integer" => "integer".into(),
            other => other.to_owned(),
        },
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "value".into(),
    }
}
