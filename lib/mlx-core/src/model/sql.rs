//! A bundle compiled to Spark SQL: its fitted preprocessing and its model as
//! expressions over the input columns, so a Spark cluster scores a table with nothing
//! of mlx on its executors (no binaries to ship, no shell on the workers).
//!
//! The expressions follow the local scorer's arithmetic step for step (the same
//! operations in the same order, missing numbers as NaN), so the predictions agree
//! with [`crate::model::scorer::Scorer::score_frame`] to the last bits that the JVM's
//! `exp` and a different summation order in the linear models' dot products leave
//! (1e-12 relative is tested). Compiled: linear and logistic regression, decision
//! trees, random forests, mlx's gradient boosting, and XGBoost and LightGBM boosters
//! (through the same trees the local scorer walks). Other families, and the forward
//! fill (which depends on row order), are refused with the reason.

use mlx_contracts::features::{InputKind, Preprocessor, StepState};
use mlx_spark::sql::{double, ident, string};

use crate::error::{Error, Result};
use crate::model::bundle::Bundle;
use crate::model::ensemble::{booster_trees, scaled, Link, Missing, Rule, ShapTree};
use crate::model::linear::LinearModel;
use crate::model::FittedModel;

/// The query that scores view `view`: the `keep` columns of the input, then
/// `prediction` and, for classifiers, `proba_<class>` (non-finite values are NULL, as
/// the local scorer leaves them empty).
pub fn scoring_query(bundle: &Bundle, view: &str, keep: &[String]) -> Result<String> {
    let features = features(&bundle.preprocessor)?;
    let layers = model_layers(bundle, features.len())?;
    let mut from = ident(view);
    let mut all = vec![features];
    all.extend(layers);
    for (i, layer) in all.iter().enumerate() {
        let cols: Vec<String> = layer
            .iter()
            .map(|(name, e)| format!("{e} AS {}", ident(name)))
            .collect();
        from = format!(
            "(SELECT *, {} FROM {from}) AS {}",
            cols.join(", "),
            ident(&format!("__mlx_l{i}"))
        );
    }
    let outputs = outputs(bundle);
    let mut select: Vec<String> = keep
        .iter()
        .filter(|c| !outputs.iter().any(|(o, _)| o == *c))
        .map(|c| ident(c))
        .collect();
    select.extend(
        outputs
            .iter()
            .map(|(name, e)| format!("{e} AS {}", ident(name))),
    );
    Ok(format!("SELECT {} FROM {from}", select.join(", ")))
}

/// A working column: a number (missing is NaN) or a category (missing is NULL).
#[derive(Clone)]
enum Col {
    Num(String),
    Cat(String),
}

fn feature(j: usize) -> String {
    ident(&format!("__mlx_x{j}"))
}

fn margin(k: usize) -> String {
    ident(&format!("__mlx_z{k}"))
}

fn proba(k: usize) -> String {
    ident(&format!("__mlx_p{k}"))
}

fn nan() -> String {
    double(f64::NAN)
}

/// The model matrix as `__mlx_x<j>` columns: the inputs read as the local scorer reads
/// them, then every fitted step in order.
fn features(p: &Preprocessor) -> Result<Vec<(String, String)>> {
    let mut cols: Vec<(String, Col)> = p
        .inputs
        .iter()
        .map(|i| {
            let c = ident(&i.name);
            let col = match i.kind {
                InputKind::Numeric => Col::Num(format!("coalesce(CAST({c} AS DOUBLE), {})", nan())),
                InputKind::Categorical => Col::Cat(format!("CAST({c} AS STRING)")),
            };
            (i.name.clone(), col)
        })
        .collect();
    for step in &p.steps {
        let i = cols
            .iter()
            .position(|(n, _)| *n == step.column)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "`{}` is not a column at this step (an earlier encoding replaced it?)",
                    step.column
                ))
            })?;
        let (_, col) = cols.remove(i);
        for (k, out) in apply(&step.column, &step.state, col)?
            .into_iter()
            .enumerate()
        {
            cols.insert(i + k, out);
        }
    }
    p.outputs
        .iter()
        .enumerate()
        .map(|(j, name)| match cols.iter().find(|(n, _)| n == name) {
            Some((_, Col::Num(e))) => Ok((format!("__mlx_x{j}"), e.clone())),
            Some((_, Col::Cat(_))) => Err(Error::Runtime(format!(
                "`{name}` is still text after preprocessing"
            ))),
            None => Err(Error::Runtime(format!(
                "the preprocessing lost column `{name}`"
            ))),
        })
        .collect()
}

/// One fitted step over a working column, as `transform::apply_state` does it.
fn apply(column: &str, state: &StepState, col: Col) -> Result<Vec<(String, Col)>> {
    let one = |c: Col| Ok(vec![(column.to_owned(), c)]);
    let cases = |e: &str, pairs: Vec<(String, String)>, null: &str, other: &str| {
        let whens: String = pairs
            .iter()
            .map(|(cat, v)| format!(" WHEN {e} = {} THEN {v}", string(cat)))
            .collect();
        format!("CASE WHEN {e} IS NULL THEN {null}{whens} ELSE {other} END")
    };
    match (state, col) {
        (StepState::Scale { center, scale }, Col::Num(e)) => one(Col::Num(format!(
            "(({e}) - {}) / {}",
            double(*center),
            double(*scale)
        ))),
        (StepState::FillNumber { value }, Col::Num(e)) => one(Col::Num(format!(
            "CASE WHEN isnan({e}) THEN {} ELSE {e} END",
            double(*value)
        ))),
        (StepState::FillCategory { value }, Col::Cat(e)) => {
            one(Col::Cat(format!("coalesce({e}, {})", string(value))))
        }
        (StepState::ForwardFill { .. }, Col::Num(_)) => Err(Error::Usage(format!(
            "`{column}` is imputed by forward fill, which depends on the order of the rows and is not compiled to Spark SQL; score this bundle with the local engine, or impute `{column}` with mean, median or a constant"
        ))),
        (StepState::Onehot { categories }, Col::Cat(e)) => {
            let mut out: Vec<(String, Col)> = categories
                .iter()
                .map(|c| {
                    (
                        format!("{column}_{c}"),
                        Col::Num(format!("CASE WHEN {e} = {} THEN 1e0D ELSE 0e0D END", string(c))),
                    )
                })
                .collect();
            let known: Vec<String> = categories.iter().map(|c| string(c)).collect();
            let unknown = if known.is_empty() {
                format!("CASE WHEN {e} IS NULL THEN 0e0D ELSE 1e0D END")
            } else {
                format!(
                    "CASE WHEN {e} IS NULL OR {e} IN ({}) THEN 0e0D ELSE 1e0D END",
                    known.join(", ")
                )
            };
            out.push((format!("{column}__unknown"), Col::Num(unknown)));
            Ok(out)
        }
        (StepState::Ordinal { categories }, Col::Cat(e)) => one(Col::Num(cases(
            &e,
            categories
                .iter()
                .enumerate()
                .map(|(k, c)| (c.clone(), double(k as f64)))
                .collect(),
            &nan(),
            &double(-1.0),
        ))),
        (StepState::Lookup { values, default }, Col::Cat(e)) => one(Col::Num(cases(
            &e,
            values.iter().map(|(c, v)| (c.clone(), double(*v))).collect(),
            &nan(),
            &double(*default),
        ))),
        // A state fitted for the other kind leaves the column as it is, as locally.
        (_, col) => one(col),
    }
}

/// `x·coef + intercept`, summed left to right as the local dot product.
fn dot(coef: &[f64], intercept: f64) -> String {
    let mut s = String::new();
    for (j, c) in coef.iter().enumerate() {
        let term = format!("{} * {}", feature(j), double(*c));
        s = if j == 0 {
            term
        } else {
            format!("({s} + {term})")
        };
    }
    if s.is_empty() {
        s = double(0.0);
    }
    format!("({s} + {})", double(intercept))
}

/// The conditions under which a row goes left and right at internal node `n`, as
/// [`ShapTree`]'s walk decides. Spark orders NaN above every number, so `x <= t` is
/// false and `NOT (x <= t)` true for NaN: a NaN that goes right needs no test of its
/// own.
fn sides(t: &ShapTree, n: usize) -> (String, String) {
    let x = feature(t.feature[n]);
    let compare = |x: &str| match t.rule {
        Rule::LessEqual => format!("{x} <= {}", double(t.threshold[n])),
        // XGBoost compares in single precision.
        Rule::Less => format!(
            "CAST({x} AS FLOAT) < CAST({} AS FLOAT)",
            double(f64::from(t.threshold[n] as f32))
        ),
    };
    let missing = match t.missing[n] {
        Missing::Nan => format!("isnan({x})"),
        Missing::Zero => format!("(isnan({x}) OR abs({x}) <= {})", double(1e-35)),
        Missing::AsZero => {
            let c = compare(&format!("CASE WHEN isnan({x}) THEN 0e0D ELSE {x} END"));
            return (format!("({c})"), format!("NOT ({c})"));
        }
    };
    let c = compare(&x);
    match (t.missing[n], t.default_left[n]) {
        (Missing::Nan, false) => (format!("({c})"), format!("NOT ({c})")),
        (_, true) => (
            format!("({missing} OR {c})"),
            format!("(NOT {missing} AND NOT ({c}))"),
        ),
        (_, false) => (
            format!("(NOT {missing} AND {c})"),
            format!("({missing} OR NOT ({c}))"),
        ),
    }
}

/// A tree's leaves, left first, each with the conditions of its path.
fn leaves(t: &ShapTree) -> Vec<(Vec<String>, usize)> {
    fn go(t: &ShapTree, n: usize, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, usize)>) {
        if t.left[n] < 0 {
            out.push((path.clone(), n));
            return;
        }
        let (left, right) = sides(t, n);
        path.push(left);
        go(t, t.left[n] as usize, path, out);
        path.pop();
        path.push(right);
        go(t, t.right[n] as usize, path, out);
        path.pop();
    }
    let mut out = Vec::new();
    go(t, 0, &mut Vec::new(), &mut out);
    out
}

fn leaf_column(i: usize) -> String {
    ident(&format!("__mlx_t{i}"))
}

/// The layer of the trees' leaves: `__mlx_t<i>`, the (1-based) leaf of tree `i` that a
/// row reaches, as one flat `CASE` per tree (nested ones make Spark's code generation
/// grow with the depth until the driver runs out of memory); and per tree its leaf
/// nodes in that order, for [`leaf_value`].
fn leaf_layer(trees: &[ShapTree]) -> (Vec<(String, String)>, Vec<Vec<usize>>) {
    trees
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let leaves = leaves(t);
            let nodes = leaves.iter().map(|(_, n)| *n).collect();
            let whens: String = leaves
                .iter()
                .take(leaves.len().saturating_sub(1))
                .enumerate()
                .map(|(k, (path, _))| format!(" WHEN {} THEN {}", path.join(" AND "), k + 1))
                .collect();
            let e = if whens.is_empty() {
                "1".to_owned()
            } else {
                format!("CASE{whens} ELSE {} END", leaves.len())
            };
            ((format!("__mlx_t{i}"), e), nodes)
        })
        .unzip()
}

/// Value `o` of the leaf that tree `i`, `t` with leaves `nodes`, reaches.
fn leaf_value(t: &ShapTree, nodes: &[usize], i: usize, o: usize) -> String {
    let values: Vec<String> = nodes
        .iter()
        .map(|n| double(t.value[n * t.outputs + o]))
        .collect();
    match values.as_slice() {
        [one] => one.clone(),
        _ => format!(
            "element_at(array({}), {})",
            values.join(", "),
            leaf_column(i)
        ),
    }
}

/// The values `o` of the trees' leaves (`nodes` per tree), added in the trees' order.
fn sum_of(trees: &[ShapTree], nodes: &[Vec<usize>], o: usize) -> String {
    trees
        .iter()
        .zip(nodes)
        .enumerate()
        .map(|(i, (t, nodes))| leaf_value(t, nodes, i, o))
        .reduce(|s, leaf| format!("({s} + {leaf})"))
        .unwrap_or_else(|| double(0.0))
}

/// The layers after the features: the model's raw outputs as `__mlx_z<k>`, then its
/// values or class probabilities as `__mlx_p<k>` (and any step between).
fn model_layers(bundle: &Bundle, width: usize) -> Result<Vec<Vec<(String, String)>>> {
    let check = |coef: &[f64]| {
        if coef.len() == width {
            Ok(())
        } else {
            Err(Error::Runtime(format!(
                "the model has {} coefficients for {width} features",
                coef.len()
            )))
        }
    };
    let named = |v: Vec<String>, prefix: &str| -> Vec<(String, String)> {
        v.into_iter()
            .enumerate()
            .map(|(k, e)| (format!("{prefix}{k}"), e))
            .collect()
    };
    let refuse = |why: &str| {
        Err(Error::Usage(format!(
            "a {} model {why}, so it is not compiled to Spark SQL; score this bundle with the local engine (`engine.kind: local`)",
            bundle.manifest.model_type.as_str()
        )))
    };
    let identity = |v: Vec<String>| -> Vec<Vec<(String, String)>> {
        let k = v.len();
        vec![
            named(v, "__mlx_z"),
            named((0..k).map(margin).collect(), "__mlx_p"),
        ]
    };
    Ok(match &bundle.model {
        FittedModel::Linear(LinearModel::Regression { coef, intercept }) => {
            check(coef)?;
            identity(vec![dot(coef, *intercept)])
        }
        FittedModel::Linear(LinearModel::Logistic { coef, intercept }) => {
            for c in coef {
                check(c)?;
            }
            let z: Vec<String> = coef
                .iter()
                .zip(intercept)
                .map(|(c, b)| dot(c, *b))
                .collect();
            if z.len() == 1 {
                // The local sigmoid's two branches, each exact where the other overflows.
                let z0 = margin(0);
                let p = format!(
                    "CASE WHEN {z0} >= 0e0D THEN 1e0D / (1e0D + exp(-{z0})) ELSE exp({z0}) / (1e0D + exp({z0})) END"
                );
                binary(named(z, "__mlx_z"), p)
            } else {
                softmax(named(z, "__mlx_z"))
            }
        }
        FittedModel::Forest(f) => {
            let trees: Vec<ShapTree> = f.trees.iter().map(|t| scaled(t, |v| v)).collect();
            let outputs = trees.first().map_or(1, |t| t.outputs);
            let n = double(f.trees.len() as f64);
            let (leaves, nodes) = leaf_layer(&trees);
            let mut layers = vec![leaves];
            layers.extend(identity(
                (0..outputs)
                    .map(|o| format!("({} / {n})", sum_of(&trees, &nodes, o)))
                    .collect(),
            ));
            layers
        }
        FittedModel::Boosted(b) => {
            let trees: Vec<ShapTree> = b.trees.iter().map(|t| scaled(t, |v| v)).collect();
            let (leaves, nodes) = leaf_layer(&trees);
            let mut layers = vec![leaves];
            layers.extend(identity(vec![format!(
                "({} + {} * {})",
                double(b.init),
                double(b.learning_rate),
                sum_of(&trees, &nodes, 0)
            )]));
            layers
        }
        FittedModel::Xgboost { .. } | FittedModel::Lightgbm { .. } => {
            let classes = bundle.manifest.classes.as_ref().map_or(0, Vec::len);
            let Some((ensemble, link)) = booster_trees(&bundle.model, classes)? else {
                return refuse("has no trees");
            };
            // A tree adds its values to the outputs from its offset on, in the trees'
            // order.
            let (leaves, nodes) = leaf_layer(&ensemble.trees);
            let z: Vec<String> = (0..ensemble.outputs)
                .map(|k| {
                    ensemble
                        .trees
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| k >= t.offset && k < t.offset + t.outputs)
                        .fold(double(ensemble.base[k]), |s, (i, t)| {
                            format!("({s} + {})", leaf_value(t, &nodes[i], i, k - t.offset))
                        })
                })
                .collect();
            let z = named(z, "__mlx_z");
            let mut layers = vec![leaves];
            layers.extend(match link {
                Link::Identity => vec![
                    z,
                    named((0..ensemble.outputs).map(margin).collect(), "__mlx_p"),
                ],
                Link::Exp => vec![
                    z,
                    named(
                        (0..ensemble.outputs)
                            .map(|k| format!("exp({})", margin(k)))
                            .collect(),
                        "__mlx_p",
                    ),
                ],
                Link::Logistic => binary(z, format!("1e0D / (1e0D + exp(-{}))", margin(0))),
                Link::Softmax => softmax(z),
            });
            layers
        }
        FittedModel::Knn(_) => return refuse("keeps its training rows"),
        FittedModel::Svm(_) => {
            return refuse("is scored through its kernel over the support vectors")
        }
        FittedModel::Neural(_) => return refuse("is a neural network"),
        FittedModel::Forecast(_) | FittedModel::Direct(_) => {
            return refuse("forecasts a series in time order")
        }
    })
}

/// A binary classifier's layers: the margin, `q` (the second class's probability as an
/// expression of it), then both classes' probabilities.
fn binary(z: Vec<(String, String)>, q: String) -> Vec<Vec<(String, String)>> {
    vec![
        z,
        vec![("__mlx_q".into(), q)],
        vec![
            ("__mlx_p0".into(), "1e0D - `__mlx_q`".into()),
            ("__mlx_p1".into(), "`__mlx_q`".into()),
        ],
    ]
}

/// Softmax over the margins, as the local scorer: `exp(z - max) / Σ exp(z - max)`,
/// the sum in class order.
fn softmax(z: Vec<(String, String)>) -> Vec<Vec<(String, String)>> {
    let k = z.len();
    let max = format!(
        "greatest({})",
        (0..k).map(margin).collect::<Vec<_>>().join(", ")
    );
    let e: Vec<(String, String)> = (0..k)
        .map(|r| (format!("__mlx_e{r}"), format!("exp({} - {max})", margin(r))))
        .collect();
    let sum = (0..k)
        .map(|r| ident(&format!("__mlx_e{r}")))
        .reduce(|s, t| format!("({s} + {t})"))
        .unwrap_or_else(|| double(0.0));
    let p = (0..k)
        .map(|r| {
            (
                format!("__mlx_p{r}"),
                format!("{} / {sum}", ident(&format!("__mlx_e{r}"))),
            )
        })
        .collect();
    vec![z, e, p]
}

/// NULL for NaN and the infinities, as a JSON number cannot hold them.
fn finite(e: &str) -> String {
    format!(
        "CASE WHEN isnan({e}) OR abs({e}) = {} THEN NULL ELSE {e} END",
        double(f64::INFINITY)
    )
}

/// The scored columns: `prediction` and, for classifiers, `proba_<class>` and the class
/// decided as [`crate::model::bundle::decide`] decides it.
fn outputs(bundle: &Bundle) -> Vec<(String, String)> {
    let m = &bundle.manifest;
    let Some(classes) = &m.classes else {
        return vec![("prediction".into(), finite(&proba(0)))];
    };
    let k = classes.len();
    let decided = match m.decision_threshold.filter(|_| k == 2) {
        Some(t) => format!(
            "CASE WHEN {} >= {} THEN {} ELSE {} END",
            proba(1),
            double(t),
            string(&classes[1]),
            string(&classes[0])
        ),
        None => {
            // The most probable class, the first on ties.
            let whens: String = (0..k.saturating_sub(1))
                .map(|a| {
                    let beats: Vec<String> = (a + 1..k)
                        .map(|b| format!("{} >= {}", proba(a), proba(b)))
                        .collect();
                    format!(" WHEN {} THEN {}", beats.join(" AND "), string(&classes[a]))
                })
                .collect();
            format!("CASE{whens} ELSE {} END", string(&classes[k - 1]))
        }
    };
    let mut out = vec![("prediction".to_owned(), decided)];
    out.extend(
        classes
            .iter()
            .enumerate()
            .map(|(c, name)| (format!("proba_{name}"), finite(&proba(c)))),
    );
    out
}

#[cfg(test)]
mod tests {
    use mlx_contracts::config::TransformStrategy;
    use mlx_contracts::features::{FittedStep, InputColumn, PREPROCESSOR_VERSION};

    use super::*;

    fn preprocessor(steps: Vec<FittedStep>, outputs: &[&str]) -> Preprocessor {
        Preprocessor {
            schema_version: PREPROCESSOR_VERSION,
            inputs: vec![
                InputColumn {
                    name: "x".into(),
                    kind: InputKind::Numeric,
                },
                InputColumn {
                    name: "it's".into(),
                    kind: InputKind::Categorical,
                },
            ],
            steps,
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn steps_compose_in_order_and_a_one_hot_keeps_an_unknown_column() {
        let p = preprocessor(
            vec![
                FittedStep {
                    column: "x".into(),
                    strategy: TransformStrategy::Mean,
                    state: StepState::FillNumber { value: 2.5 },
                },
                FittedStep {
                    column: "x".into(),
                    strategy: TransformStrategy::Zscore,
                    state: StepState::Scale {
                        center: 1.0,
                        scale: 4.0,
                    },
                },
                FittedStep {
                    column: "it's".into(),
                    strategy: TransformStrategy::Onehot,
                    state: StepState::Onehot {
                        categories: vec!["a".into()],
                    },
                },
            ],
            &["x", "it's_a", "it's__unknown"],
        );
        let f = features(&p).unwrap();
        let x = "coalesce(CAST(`x` AS DOUBLE), CAST('NaN' AS DOUBLE))";
        assert_eq!(
            f[0],
            (
                "__mlx_x0".into(),
                format!("((CASE WHEN isnan({x}) THEN 2.5e0D ELSE {x} END) - 1e0D) / 4e0D")
            )
        );
        let c = "CAST(`it's` AS STRING)";
        assert_eq!(
            f[1].1,
            format!("CASE WHEN {c} = 'a' THEN 1e0D ELSE 0e0D END")
        );
        assert_eq!(
            f[2].1,
            format!("CASE WHEN {c} IS NULL OR {c} IN ('a') THEN 0e0D ELSE 1e0D END")
        );
    }

    #[test]
    fn a_forward_fill_is_refused_with_what_to_do() {
        let p = preprocessor(
            vec![FittedStep {
                column: "x".into(),
                strategy: TransformStrategy::Ffill,
                state: StepState::ForwardFill { last: Some(1.0) },
            }],
            &["x"],
        );
        let e = features(&p).unwrap_err().to_string();
        assert!(
            e.contains("`x` is imputed by forward fill") && e.contains("local engine"),
            "{e}"
        );
    }

    #[test]
    fn a_dot_product_adds_left_to_right_as_the_local_one() {
        assert_eq!(
            dot(&[2.0, -3.0, 0.5], 1.0),
            "(((`__mlx_x0` * 2e0D + `__mlx_x1` * -3e0D) + `__mlx_x2` * 5e-1D) + 1e0D)"
        );
        assert_eq!(dot(&[], -1.0), "(0e0D + -1e0D)");
    }

    #[test]
    fn a_tree_is_one_flat_case_over_its_leaves_with_the_missing_direction() {
        // Node 0 splits x1 at 2.5 (missing goes left), node 1 splits x0 at -1
        // (missing goes right); leaves 2, 3 and 4.
        let t = ShapTree {
            left: vec![1, 2, -1, -1, -1],
            right: vec![4, 3, -1, -1, -1],
            feature: vec![1, 0, 0, 0, 0],
            threshold: vec![2.5, -1.0, 0.0, 0.0, 0.0],
            default_left: vec![true, false, false, false, false],
            missing: vec![Missing::Nan; 5],
            cover: vec![1.0; 5],
            value: vec![0.0, 0.0, 10.0, 20.0, 30.0],
            outputs: 1,
            offset: 0,
            rule: Rule::LessEqual,
        };
        let (x0, x1) = ("`__mlx_x0`", "`__mlx_x1`");
        let left = format!("(isnan({x1}) OR {x1} <= 2.5e0D)");
        let (layer, nodes) = leaf_layer(std::slice::from_ref(&t));
        assert_eq!(nodes, [vec![2, 3, 4]]);
        assert_eq!(
            layer[0].1,
            format!(
                "CASE WHEN {left} AND ({x0} <= -1e0D) THEN 1 WHEN {left} AND NOT ({x0} <= -1e0D) THEN 2 ELSE 3 END"
            )
        );
        assert_eq!(
            leaf_value(&t, &nodes[0], 0, 0),
            "element_at(array(1e1D, 2e1D, 3e1D), `__mlx_t0`)"
        );
    }
}
