//! Tree ensembles as the model layer evaluates them: one tree representation that
//! mlx's own forests, XGBoost's JSON models and LightGBM's text models are read into,
//! the walk of a row to its leaf, and the link from an ensemble's margins to a model's
//! predictions. Serving scores boosters with it (so it needs neither library), and
//! TreeSHAP ([`crate::explain::tree`]) attributes over the same trees.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::tree::Forest;
use crate::model::FittedModel;

/// Which side a value equal to the threshold goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `x <= threshold` goes left (mlx, LightGBM).
    LessEqual,
    /// `x < threshold` goes left (XGBoost).
    Less,
}

/// How LightGBM treats a missing value at a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// NaN goes the default way.
    Nan,
    /// NaN is read as 0 (LightGBM's missing type "None").
    AsZero,
    /// 0 and NaN go the default way (LightGBM's missing type "Zero").
    Zero,
}

/// One tree, as TreeSHAP reads it. A leaf has `left == -1`.
#[derive(Debug, Clone)]
pub struct ShapTree {
    /// Left child per node (-1 for a leaf).
    pub left: Vec<i32>,
    /// Right child per node.
    pub right: Vec<i32>,
    /// Split feature per node.
    pub feature: Vec<usize>,
    /// Split threshold per node.
    pub threshold: Vec<f64>,
    /// Whether a missing value goes left.
    pub default_left: Vec<bool>,
    /// Missing-value handling per node.
    pub missing: Vec<Missing>,
    /// Training cover per node.
    pub cover: Vec<f64>,
    /// Per node, `outputs` values (read at leaves).
    pub value: Vec<f64>,
    /// Values per leaf.
    pub outputs: usize,
    /// The first output the values add to (a multiclass booster's class).
    pub offset: usize,
    /// The comparison at splits.
    pub rule: Rule,
}

impl ShapTree {
    pub(crate) fn is_leaf(&self, n: usize) -> bool {
        self.left[n] < 0
    }

    /// The child a row goes to at internal node `n`.
    pub(crate) fn next(&self, n: usize, row: &[f64]) -> usize {
        let mut x = row[self.feature[n]];
        let default = if self.default_left[n] {
            self.left[n]
        } else {
            self.right[n]
        };
        match self.missing[n] {
            Missing::Nan if x.is_nan() => return default as usize,
            Missing::Zero if x.is_nan() || x.abs() <= 1e-35 => return default as usize,
            Missing::AsZero if x.is_nan() => x = 0.0,
            _ => {}
        }
        let left = match self.rule {
            Rule::LessEqual => x <= self.threshold[n],
            // XGBoost compares in single precision.
            Rule::Less => (x as f32) < (self.threshold[n] as f32),
        };
        (if left { self.left[n] } else { self.right[n] }) as usize
    }

    /// The leaf a row reaches.
    pub fn leaf(&self, row: &[f64]) -> usize {
        let mut n = 0;
        while !self.is_leaf(n) {
            n = self.next(n, row);
        }
        n
    }

    /// The tree's expected output (cover-weighted mean of its leaves), per output.
    pub fn expected(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.outputs];
        let root = self.cover[0];
        for n in 0..self.left.len() {
            if self.is_leaf(n) && root > 0.0 {
                for (o, v) in out.iter_mut().enumerate() {
                    *v += self.value[n * self.outputs + o] * self.cover[n] / root;
                }
            }
        }
        out
    }

    /// The deepest path's length (root 0).
    pub fn depth(&self) -> usize {
        fn go(t: &ShapTree, n: usize) -> usize {
            if t.is_leaf(n) {
                0
            } else {
                1 + go(t, t.left[n] as usize).max(go(t, t.right[n] as usize))
            }
        }
        go(self, 0)
    }
}

/// A tree ensemble in TreeSHAP's terms: its trees, how many outputs they add up to,
/// and the constant every prediction starts from (per output).
#[derive(Debug, Clone)]
pub struct Ensemble {
    /// The trees.
    pub trees: Vec<ShapTree>,
    /// Outputs (classes of a multiclass model, else 1 ... or the class count of a
    /// forest's probabilities).
    pub outputs: usize,
    /// Added to every row's output before the trees' (a booster's base margin).
    pub base: Vec<f64>,
}

impl Ensemble {
    /// The expected output per output: the base plus every tree's expected value.
    pub fn expected(&self) -> Vec<f64> {
        let mut e = self.base.clone();
        for t in &self.trees {
            for (o, v) in t.expected().into_iter().enumerate() {
                e[t.offset + o] += v;
            }
        }
        e
    }

    /// The raw output (margin) of a row: the base plus each tree's leaf value.
    pub fn output(&self, row: &[f64]) -> Vec<f64> {
        let mut out = self.base.clone();
        for t in &self.trees {
            let leaf = t.leaf(row);
            for o in 0..t.outputs {
                out[t.offset + o] += t.value[leaf * t.outputs + o];
            }
        }
        out
    }
}

/// One of mlx's own trees for TreeSHAP, its node values mapped by `value`.
pub(crate) fn scaled(t: &crate::model::tree::Tree, value: impl Fn(f64) -> f64) -> ShapTree {
    ShapTree {
        left: t.left.clone(),
        right: t.right.clone(),
        feature: t.feature.iter().map(|&f| f.max(0) as usize).collect(),
        threshold: t.threshold.clone(),
        default_left: vec![false; t.left.len()],
        missing: vec![Missing::Nan; t.left.len()],
        cover: t.cover.clone(),
        value: t.value.iter().map(|&v| value(v)).collect(),
        outputs: t.outputs,
        offset: 0,
        rule: Rule::LessEqual,
    }
}

/// mlx's own forest: the mean of its trees (class proportions, or values).
pub fn from_forest(f: &Forest) -> Ensemble {
    let n = f.trees.len().max(1) as f64;
    let outputs = f.trees.first().map_or(1, |t| t.outputs);
    Ensemble {
        trees: f.trees.iter().map(|t| scaled(t, |v| v / n)).collect(),
        outputs,
        base: vec![0.0; outputs],
    }
}

/// A gradient-boosted ensemble: each tree's leaf values times the learning rate, on top
/// of the first guess.
pub fn from_boosted(b: &crate::model::boosting::Boosted) -> Ensemble {
    Ensemble {
        trees: b
            .trees
            .iter()
            .map(|t| scaled(t, |v| v * b.learning_rate))
            .collect(),
        outputs: 1,
        base: vec![b.init],
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Runtime(format!(
        "the {what} model file cannot be read for SHAP: {detail}"
    ))
}

fn floats(v: &Value, key: &str, what: &str) -> Result<Vec<f64>> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| corrupt(what, format!("no `{key}`")))?
        .iter()
        .map(|x| {
            x.as_f64()
                .or_else(|| x.as_bool().map(f64::from))
                .ok_or_else(|| corrupt(what, format!("`{key}` holds {x}")))
        })
        .collect()
}

/// XGBoost's link from a base score to a margin, by objective.
fn xgboost_margin(objective: &str, base: f64) -> f64 {
    match objective {
        "binary:logistic" | "reg:logistic" => (base / (1.0 - base)).ln(),
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" => base.ln(),
        _ => base,
    }
}

/// An XGBoost JSON model (gbtree). `classes`: 0 for regression.
pub fn from_xgboost(json: &[u8], classes: usize) -> Result<Ensemble> {
    let what = "XGBoost";
    let v: Value = serde_json::from_slice(json).map_err(|e| corrupt(what, e))?;
    let learner = &v["learner"];
    let objective = learner["objective"]["name"].as_str().unwrap_or("");
    let booster = &learner["gradient_booster"];
    if booster["name"].as_str() != Some("gbtree") {
        return Err(Error::Usage(format!(
            "TreeSHAP reads gbtree boosters; this model is `{}`",
            booster["name"].as_str().unwrap_or("?")
        )));
    }
    let outputs = if classes > 2 { classes } else { 1 };
    // The base score: a number, or (XGBoost 3) a bracketed list per output.
    let text = learner["learner_model_param"]["base_score"]
        .as_str()
        .unwrap_or("0.5");
    let parts: Vec<f64> = text
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| corrupt(what, format!("base_score `{text}`: {e}")))?;
    let base: Vec<f64> = (0..outputs)
        .map(|o| xgboost_margin(objective, *parts.get(o).or(parts.first()).unwrap_or(&0.5)))
        .collect();
    let model = &booster["model"];
    let info: Vec<usize> = floats(model, "tree_info", what)?
        .into_iter()
        .map(|c| c as usize)
        .collect();
    let trees = model["trees"]
        .as_array()
        .ok_or_else(|| corrupt(what, "no trees"))?
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ints = |k: &str| -> Result<Vec<i32>> {
                Ok(floats(t, k, what)?.into_iter().map(|x| x as i32).collect())
            };
            if t["split_type"]
                .as_array()
                .is_some_and(|s| s.iter().any(|x| x.as_i64() == Some(1)))
            {
                return Err(Error::Usage(
                    "TreeSHAP in mlx reads numeric splits; this XGBoost model has categorical \
                     ones"
                        .into(),
                ));
            }
            let left = ints("left_children")?;
            let split = floats(t, "split_conditions", what)?;
            Ok(ShapTree {
                right: ints("right_children")?,
                feature: ints("split_indices")?
                    .into_iter()
                    .map(|f| f.max(0) as usize)
                    .collect(),
                default_left: ints("default_left")?.into_iter().map(|d| d != 0).collect(),
                missing: vec![Missing::Nan; left.len()],
                cover: floats(t, "sum_hessian", what)?,
                // A leaf's value is its split condition.
                value: split.clone(),
                threshold: split,
                left,
                outputs: 1,
                offset: info.get(i).copied().unwrap_or(0).min(outputs - 1),
                rule: Rule::Less,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Ensemble {
        trees,
        outputs,
        base,
    })
}

/// A LightGBM text model. `classes`: 0 for regression.
pub fn from_lightgbm(text: &[u8], classes: usize) -> Result<Ensemble> {
    let what = "LightGBM";
    let text = String::from_utf8_lossy(text);
    let outputs = if classes > 2 { classes } else { 1 };
    let mut trees = Vec::new();
    let mut block: Vec<(&str, &str)> = Vec::new();
    let mut index: Option<usize> = None;
    let finish = |block: &[(&str, &str)], index: usize, trees: &mut Vec<ShapTree>| -> Result<()> {
        let get = |k: &str| {
            block
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| *v)
                .unwrap_or("")
        };
        let nums = |k: &str| -> Result<Vec<f64>> {
            get(k)
                .split_whitespace()
                .map(|x| {
                    x.parse::<f64>()
                        .map_err(|e| corrupt(what, format!("tree {index} `{k}`: {e}")))
                })
                .collect()
        };
        let leaves: usize = get("num_leaves")
            .parse()
            .map_err(|e| corrupt(what, format!("tree {index} num_leaves: {e}")))?;
        if get("num_cat").parse::<usize>().unwrap_or(0) > 0 {
            return Err(Error::Usage(
                "TreeSHAP in mlx reads numeric splits; this LightGBM model has categorical ones"
                    .into(),
            ));
        }
        let leaf_value = nums("leaf_value")?;
        let offset = index % outputs;
        if leaves <= 1 {
            // A constant tree: one leaf.
            trees.push(ShapTree {
                left: vec![-1],
                right: vec![-1],
                feature: vec![0],
                threshold: vec![0.0],
                default_left: vec![false],
                missing: vec![Missing::Nan],
                cover: vec![1.0],
                value: vec![leaf_value.first().copied().unwrap_or(0.0)],
                outputs: 1,
                offset,
                rule: Rule::LessEqual,
            });
            return Ok(());
        }
        let internal = leaves - 1;
        // Internal nodes keep their indices; leaf `l` becomes node `internal + l`.
        let node = |c: f64| -> i32 {
            let c = c as i64;
            if c < 0 {
                (internal as i64 + (!c)) as i32
            } else {
                c as i32
            }
        };
        let (lc, rc) = (nums("left_child")?, nums("right_child")?);
        let decision = nums("decision_type")?;
        let total = internal + leaves;
        let mut t = ShapTree {
            left: vec![-1; total],
            right: vec![-1; total],
            feature: vec![0; total],
            threshold: vec![0.0; total],
            default_left: vec![false; total],
            missing: vec![Missing::Nan; total],
            cover: vec![0.0; total],
            value: vec![0.0; total],
            outputs: 1,
            offset,
            rule: Rule::LessEqual,
        };
        let (feat, thr) = (nums("split_feature")?, nums("threshold")?);
        let (icount, lcount) = (nums("internal_count")?, nums("leaf_count")?);
        for n in 0..internal {
            t.left[n] = node(lc[n]);
            t.right[n] = node(rc[n]);
            t.feature[n] = feat[n] as usize;
            t.threshold[n] = thr[n];
            let d = decision[n] as u32;
            t.default_left[n] = d & 2 != 0;
            t.missing[n] = match (d >> 2) & 3 {
                0 => Missing::AsZero,
                1 => Missing::Zero,
                _ => Missing::Nan,
            };
            t.cover[n] = icount[n];
        }
        t.cover[internal..].copy_from_slice(&lcount[..leaves]);
        t.value[internal..].copy_from_slice(&leaf_value[..leaves]);
        trees.push(t);
        Ok(())
    };
    for line in text.lines() {
        if let Some(i) = line.strip_prefix("Tree=") {
            if let Some(prev) = index {
                finish(&block, prev, &mut trees)?;
            }
            block.clear();
            index = Some(i.trim().parse().map_err(|e| corrupt(what, e))?);
        } else if line.starts_with("end of trees") {
            break;
        } else if index.is_some() {
            if let Some((k, v)) = line.split_once('=') {
                block.push((k, v));
            }
        }
    }
    if let Some(prev) = index {
        finish(&block, prev, &mut trees)?;
    }
    Ok(Ensemble {
        trees,
        outputs,
        base: vec![0.0; outputs],
    })
}

/// How SHAP values relate to the model's prediction API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The values add up to the prediction.
    Identity,
    /// One margin; the prediction is its sigmoid (the second class's probability).
    Logistic,
    /// One margin per class; the prediction is their softmax.
    Softmax,
    /// The prediction is the exponential of the margin (Poisson, gamma, Tweedie).
    Exp,
}

impl Link {
    /// Applies the link to one row's outputs.
    pub fn apply(self, z: &[f64]) -> Vec<f64> {
        match self {
            Link::Identity => z.to_vec(),
            Link::Logistic => vec![1.0 / (1.0 + (-z[0]).exp())],
            Link::Exp => z.iter().map(|v| v.exp()).collect(),
            Link::Softmax => {
                let m = z.iter().copied().fold(f64::MIN, f64::max);
                let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().map(|v| v / s).collect()
            }
        }
    }
}

/// An XGBoost or LightGBM model as mlx's own tree ensemble (margins) and the link from
/// margins to its predictions; `None` for other models.
pub fn booster_trees(model: &FittedModel, classes: usize) -> Result<Option<(Ensemble, Link)>> {
    let ensemble = match model {
        FittedModel::Xgboost { json, .. } => from_xgboost(json, classes)?,
        FittedModel::Lightgbm { text, .. } => from_lightgbm(text, classes)?,
        _ => return Ok(None),
    };
    let link = match classes {
        2 => Link::Logistic,
        k if k > 2 => Link::Softmax,
        _ => {
            let o = booster_objective(model);
            if ["poisson", "gamma", "tweedie"]
                .iter()
                .any(|k| o.contains(k))
            {
                Link::Exp
            } else {
                Link::Identity
            }
        }
    };
    Ok(Some((ensemble, link)))
}

/// The objective a booster's model file names, to pick the link.
fn booster_objective(model: &FittedModel) -> String {
    match model {
        FittedModel::Xgboost { json, .. } => serde_json::from_slice::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v["learner"]["objective"]["name"].as_str().map(String::from))
            .unwrap_or_default(),
        FittedModel::Lightgbm { text, .. } => String::from_utf8_lossy(text)
            .lines()
            .find_map(|l| l.strip_prefix("objective=").map(String::from))
            .unwrap_or_default(),
        _ => String::new(),
    }
}
