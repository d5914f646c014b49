//! Features from the online store for requests that carry entity keys instead of
//! features: each view whose entity columns the record has is read, and its features
//! fill what the record lacks (values in the request win). The features then pass
//! through the bundle's preprocessing like any other record.

use mlx_contracts::config::Config;
use mlx_contracts::features::InputColumn;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::featurestore::{open_online, OnlineStore};
use crate::workdir::Workdir;

/// The online store and the views to read.
pub struct Online {
    store: Box<dyn OnlineStore + Send>,
    views: Vec<(String, Vec<String>)>,
}

impl Online {
    /// Opens the store of `features.store`; `None` when no view is configured.
    pub fn open(cfg: &Config, workdir: &Workdir) -> Result<Option<Self>> {
        let views: Vec<(String, Vec<String>)> = cfg
            .features
            .store
            .views
            .iter()
            .map(|v| {
                let entity = if v.entity.is_empty() {
                    cfg.data.entity_columns.clone()
                } else {
                    v.entity.clone()
                };
                (v.name.clone(), entity)
            })
            .filter(|(_, e)| !e.is_empty())
            .collect();
        if views.is_empty() {
            return Ok(None);
        }
        let uri = crate::featurestore::online_uri(cfg, workdir);
        Ok(Some(Self {
            store: open_online(&uri)?,
            views,
        }))
    }

    /// Fills the inputs a record lacks from the views its entity keys name.
    pub fn fill(
        &mut self,
        record: &mut Map<String, Value>,
        inputs: &[InputColumn],
    ) -> std::result::Result<(), String> {
        if inputs.iter().all(|i| record.contains_key(&i.name)) {
            return Ok(());
        }
        for (view, entity) in &self.views {
            let keys: Option<Vec<String>> = entity
                .iter()
                .map(|c| match record.get(c) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(Value::Bool(b)) => Some(b.to_string()),
                    _ => None,
                })
                .collect();
            let Some(keys) = keys else { continue };
            let found = self
                .store
                .read(view, &keys)
                .map_err(|e| format!("online feature store: {e}"))?;
            match found {
                Some(r) => {
                    for (k, v) in r.features {
                        record.entry(k).or_insert(v);
                    }
                }
                None => {
                    return Err(format!(
                        "the online store has no `{view}` features for {} = {}; materialize \
                         them (`mlx-features materialize`) or send the features",
                        entity.join(", "),
                        keys.join(", ")
                    ))
                }
            }
        }
        Ok(())
    }
}
