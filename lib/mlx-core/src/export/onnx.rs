//! `mlx export model --format onnx`: a registry version (or a bundle) as one ONNX model
//! that onnxruntime runs (docs/mlflow.md): the fitted preprocessing as ONNX operators,
//! then the model.
//!
//! - Inputs: one tensor per input column of the bundle's signature, shape `[N, 1]`:
//!   `double` for numbers (NaN is missing), `string` for categories (`""` is missing).
//! - Outputs: `prediction`, `[N, 1]` doubles for regression; for classifiers `label`
//!   (`[N]` strings, the class mlx-serve answers) and `probabilities` (`[N, C]` doubles,
//!   in the manifest's class order).
//! - Preprocessing in double precision: scaling (`Sub`, `Div`), imputation (`IsNaN`,
//!   `Where`), one-hot (`OneHotEncoder` and the unknown column), ordinal, frequency and
//!   target encoding (`LabelEncoder`, whose values ONNX keeps as float32).
//! - Models: linear and logistic regression (`MatMul`, `Sigmoid`, `Softmax`, in
//!   double); decision trees, random forests, mlx's gradient boosting, XGBoost and
//!   LightGBM as one `TreeEnsembleRegressor` (ai.onnx.ml) of mlx's tree ensemble, its
//!   missing-value directions per node, its link (`Sigmoid`, `Softmax`, `Exp`) after.
//!   XGBoost's splits compare in float32, as XGBoost does; the others in double.
//!
//! Refused, saying why: k-NN, SVMs, networks, forecasters (no ONNX operators score them
//! as mlx does), a forward fill (it depends on the order of rows), and LightGBM's
//! `zero_as_missing` (a split that sends 0 the missing way has no ONNX form).
//!
//! The protobuf messages are declared here with prost, by ONNX's field numbers
//! (onnx/onnx-ml.proto): only what a model needs.

use std::path::Path;

use mlx_contracts::features::{InputKind, StepState};
use prost::Message;

use crate::error::{Error, IoContext, Result};
use crate::model::bundle::Bundle;
use crate::model::ensemble::{
    booster_trees, from_boosted, from_forest, Ensemble, Link, Missing, Rule,
};
use crate::model::linear::LinearModel;
use crate::model::FittedModel;

/// ONNX's protobuf messages, as far as a model needs them.
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, tag = "1")]
        pub ir_version: i64,
        #[prost(string, tag = "2")]
        pub producer_name: String,
        #[prost(string, tag = "3")]
        pub producer_version: String,
        #[prost(string, tag = "6")]
        pub doc_string: String,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
        #[prost(message, repeated, tag = "14")]
        pub metadata_props: Vec<StringStringEntryProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, tag = "2")]
        pub version: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringStringEntryProto {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
        #[prost(string, tag = "7")]
        pub domain: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(float, tag = "2")]
        pub f: f32,
        #[prost(int64, tag = "3")]
        pub i: i64,
        #[prost(bytes = "vec", tag = "4")]
        pub s: Vec<u8>,
        #[prost(message, optional, tag = "5")]
        pub t: Option<TensorProto>,
        #[prost(float, repeated, tag = "7")]
        pub floats: Vec<f32>,
        #[prost(int64, repeated, tag = "8")]
        pub ints: Vec<i64>,
        #[prost(bytes = "vec", repeated, tag = "9")]
        pub strings: Vec<Vec<u8>>,
        /// AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7, STRINGS 8.
        #[prost(int32, tag = "20")]
        pub r#type: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, tag = "1")]
        pub dims: Vec<i64>,
        /// DataType: FLOAT 1, INT64 7, STRING 8, BOOL 9, DOUBLE 11.
        #[prost(int32, tag = "2")]
        pub data_type: i32,
        #[prost(bytes = "vec", repeated, tag = "6")]
        pub string_data: Vec<Vec<u8>>,
        #[prost(string, tag = "8")]
        pub name: String,
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TensorType>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorType {
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dimension>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(int64, optional, tag = "1")]
        pub dim_value: Option<i64>,
        #[prost(string, optional, tag = "2")]
        pub dim_param: Option<String>,
    }
}

const FLOAT: i32 = 1;
const INT64: i32 = 7;
const STRING: i32 = 8;
const DOUBLE: i32 = 11;
const ML: &str = "ai.onnx.ml";

/// An attribute value.
enum A {
    I(i64),
    F(f32),
    S(String),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Strings(Vec<String>),
    T(pb::TensorProto),
}

fn attr(name: &str, v: A) -> pb::AttributeProto {
    let mut a = pb::AttributeProto {
        name: name.to_owned(),
        ..Default::default()
    };
    match v {
        A::F(f) => (a.f, a.r#type) = (f, 1),
        A::I(i) => (a.i, a.r#type) = (i, 2),
        A::S(s) => (a.s, a.r#type) = (s.into_bytes(), 3),
        A::T(t) => (a.t, a.r#type) = (Some(t), 4),
        A::Floats(f) => (a.floats, a.r#type) = (f, 6),
        A::Ints(i) => (a.ints, a.r#type) = (i, 7),
        A::Strings(s) => {
            (a.strings, a.r#type) = (s.into_iter().map(String::into_bytes).collect(), 8);
        }
    }
    a
}

fn doubles(name: &str, dims: Vec<i64>, v: &[f64]) -> pb::TensorProto {
    pb::TensorProto {
        dims,
        data_type: DOUBLE,
        name: name.to_owned(),
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A graph being built: nodes, constants, unique names.
#[derive(Default)]
struct Graph {
    nodes: Vec<pb::NodeProto>,
    init: Vec<pb::TensorProto>,
    next: usize,
}

impl Graph {
    fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}__{}", self.next)
    }

    /// Adds a node with one output; returns the output's name.
    fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        self.op_in(op, "", inputs, attrs)
    }

    fn op_in(
        &mut self,
        op: &str,
        domain: &str,
        inputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
    ) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.named(op, domain, inputs, attrs, &out);
        out
    }

    /// Adds a node with `n` outputs; returns their names.
    fn op_many(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
        n: usize,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..n)
            .map(|_| self.fresh(&op.to_ascii_lowercase()))
            .collect();
        self.push(op, "", inputs, attrs, outs.clone());
        outs
    }

    /// Adds a node whose one output is named `out`.
    fn named(
        &mut self,
        op: &str,
        domain: &str,
        inputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
        out: &str,
    ) {
        self.push(op, domain, inputs, attrs, vec![out.to_owned()]);
    }

    fn push(
        &mut self,
        op: &str,
        domain: &str,
        inputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
        outputs: Vec<String>,
    ) {
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: outputs,
            name: format!("n{}", self.nodes.len()),
            op_type: op.to_owned(),
            attribute: attrs,
            domain: domain.to_owned(),
        });
    }

    fn f64s(&mut self, dims: Vec<i64>, v: &[f64]) -> String {
        let name = self.fresh("c");
        self.init.push(doubles(&name, dims, v));
        name
    }

    fn scalar(&mut self, v: f64) -> String {
        self.f64s(vec![1], &[v])
    }

    fn i64s(&mut self, v: &[i64]) -> String {
        let name = self.fresh("c");
        self.init.push(pb::TensorProto {
            dims: vec![v.len() as i64],
            data_type: INT64,
            name: name.clone(),
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    fn text(&mut self, v: &str) -> String {
        let name = self.fresh("c");
        self.init.push(pb::TensorProto {
            dims: vec![1],
            data_type: STRING,
            name: name.clone(),
            string_data: vec![v.as_bytes().to_vec()],
            ..Default::default()
        });
        name
    }

    fn cast(&mut self, x: &str, to: i32) -> String {
        self.op("Cast", &[x], vec![attr("to", A::I(i64::from(to)))])
    }

    /// `1` where the category `x` is given, `0` where it is missing (`""`).
    fn present(&mut self, x: &str) -> String {
        let empty = self.text("");
        let eq = self.op("Equal", &[x, &empty], vec![]);
        let not = self.op("Not", &[&eq], vec![]);
        self.cast(&not, DOUBLE)
    }

    /// NaN where the category `x` is missing, else `y`.
    fn nan_where_missing(&mut self, x: &str, y: &str) -> String {
        let empty = self.text("");
        let eq = self.op("Equal", &[x, &empty], vec![]);
        let nan = self.scalar(f64::NAN);
        self.op("Where", &[&eq, &nan, y], vec![])
    }
}

/// A working column: its name, the tensor holding it (`[N, 1]`), and whether it is
/// still text.
struct Col {
    name: String,
    tensor: String,
    text: bool,
}

/// Why a bundle cannot be an ONNX model, if it cannot.
pub fn unsupported(bundle: &Bundle) -> Option<String> {
    let m = &bundle.manifest;
    if let Some(family) = super::model::scored_only_by_mlx(&bundle.model) {
        return Some(format!(
            "`{}` is {family} ({}), which ONNX's operators cannot score as mlx does. \
             Export {}; or serve this one with mlx-serve (docs/serve.md)",
            m.name,
            m.model_type.as_str(),
            super::model::EXPORTABLE
        ));
    }
    if let Some(s) = bundle
        .preprocessor
        .steps
        .iter()
        .find(|s| matches!(s.state, StepState::ForwardFill { .. }))
    {
        return Some(format!(
            "`{}` forward-fills `{}`, which depends on the order of the rows; an ONNX \
             model scores each row alone. Impute it with a constant or the median \
             (features.transforms) to export it",
            m.name, s.column
        ));
    }
    None
}

/// The preprocessing: returns the model matrix `[N, F]` (doubles).
fn preprocess(
    g: &mut Graph,
    bundle: &Bundle,
    inputs: &mut Vec<pb::ValueInfoProto>,
) -> Result<String> {
    let p = &bundle.preprocessor;
    let mut frame: Vec<Col> = Vec::new();
    for c in &p.inputs {
        let text = c.kind == InputKind::Categorical;
        let elem = if text { STRING } else { DOUBLE };
        inputs.push(value_info(&c.name, elem, &[None, Some(1)]));
        frame.push(Col {
            name: c.name.clone(),
            tensor: c.name.clone(),
            text,
        });
    }
    for step in &p.steps {
        let i = frame
            .iter()
            .position(|b| b.name == step.column)
            .ok_or_else(|| {
                Error::Runtime(format!(
                    "the preprocessing names `{}`, which no earlier step left",
                    step.column
                ))
            })?;
        let x = frame[i].tensor.clone();
        let cols = step_graph(g, &step.column, &x, &step.state)?;
        frame.splice(i..=i, cols);
    }
    // The model's matrix: the outputs, in their order, each a number by now.
    let mut parts = Vec::with_capacity(p.outputs.len());
    for o in &p.outputs {
        let c = frame
            .iter()
            .find(|c| c.name == *o)
            .ok_or_else(|| Error::Runtime(format!("the preprocessing lost column `{o}`")))?;
        if c.text {
            return Err(Error::Runtime(format!(
                "`{o}` is still text after the preprocessing"
            )));
        }
        parts.push(c.tensor.as_str());
    }
    Ok(g.op("Concat", &parts, vec![attr("axis", A::I(1))]))
}

/// One fitted step over column `c` (tensor `x`): the columns it leaves in its place.
fn step_graph(g: &mut Graph, c: &str, x: &str, state: &StepState) -> Result<Vec<Col>> {
    let one = |tensor: String, text: bool| {
        vec![Col {
            name: c.to_owned(),
            tensor,
            text,
        }]
    };
    Ok(match state {
        StepState::Scale { center, scale } => {
            let (a, b) = (g.scalar(*center), g.scalar(*scale));
            let d = g.op("Sub", &[x, &a], vec![]);
            one(g.op("Div", &[&d, &b], vec![]), false)
        }
        StepState::FillNumber { value } => {
            let nan = g.op("IsNaN", &[x], vec![]);
            let v = g.scalar(*value);
            one(g.op("Where", &[&nan, &v, x], vec![]), false)
        }
        StepState::FillCategory { value } => {
            let empty = g.text("");
            let eq = g.op("Equal", &[x, &empty], vec![]);
            let v = g.text(value);
            one(g.op("Where", &[&eq, &v, x], vec![]), true)
        }
        StepState::Onehot { categories } => {
            let mut cols = Vec::with_capacity(categories.len() + 1);
            let mut known = None;
            if !categories.is_empty() {
                let oh = g.op_in(
                    "OneHotEncoder",
                    ML,
                    &[x],
                    vec![
                        attr("cats_strings", A::Strings(categories.clone())),
                        attr("zeros", A::I(1)),
                    ],
                );
                let flat = g.op("Flatten", &[&oh], vec![attr("axis", A::I(1))]);
                let oh = g.cast(&flat, DOUBLE);
                let axes = g.i64s(&[1]);
                known = Some(g.op("ReduceSum", &[&oh, &axes], vec![attr("keepdims", A::I(1))]));
                let sizes = g.i64s(&vec![1; categories.len()]);
                let parts = g.op_many(
                    "Split",
                    &[&oh, &sizes],
                    vec![attr("axis", A::I(1))],
                    categories.len(),
                );
                cols.extend(categories.iter().zip(parts).map(|(k, tensor)| Col {
                    name: format!("{c}_{k}"),
                    tensor,
                    text: false,
                }));
            }
            // The unknown column: 1 for a category given but not seen in training.
            let given = g.present(x);
            let unknown = match known {
                Some(sum) => {
                    let one = g.scalar(1.0);
                    let rest = g.op("Sub", &[&one, &sum], vec![]);
                    g.op("Mul", &[&rest, &given], vec![])
                }
                None => given,
            };
            cols.push(Col {
                name: format!("{c}__unknown"),
                tensor: unknown,
                text: false,
            });
            cols
        }
        StepState::Ordinal { categories } => {
            let values: Vec<f32> = (0..categories.len()).map(|k| k as f32).collect();
            let y = label_encoder(g, x, categories.clone(), values, -1.0);
            one(g.nan_where_missing(x, &y), false)
        }
        StepState::Lookup { values, default } => {
            let keys: Vec<String> = values.keys().cloned().collect();
            let vals: Vec<f32> = values.values().map(|v| *v as f32).collect();
            let y = label_encoder(g, x, keys, vals, *default as f32);
            one(g.nan_where_missing(x, &y), false)
        }
        StepState::ForwardFill { .. } => {
            return Err(Error::Usage(
                "a forward fill cannot be exported to ONNX".into(),
            ))
        }
    })
}

/// Text categories to numbers (`default` for unknown ones); `[N, 1]` doubles.
fn label_encoder(
    g: &mut Graph,
    x: &str,
    keys: Vec<String>,
    values: Vec<f32>,
    default: f32,
) -> String {
    let y = g.op_in(
        "LabelEncoder",
        ML,
        &[x],
        vec![
            attr("keys_strings", A::Strings(keys)),
            attr("values_floats", A::Floats(values)),
            attr("default_float", A::F(default)),
        ],
    );
    g.cast(&y, DOUBLE)
}

/// The model on the matrix `x`: values `[N, 1]` or class probabilities `[N, C]`.
fn score(g: &mut Graph, bundle: &Bundle, x: &str) -> Result<String> {
    let classes = bundle.manifest.classes.as_ref().map_or(0, Vec::len);
    let ensemble = match &bundle.model {
        FittedModel::Linear(LinearModel::Regression { coef, intercept }) => {
            let w = g.f64s(vec![coef.len() as i64, 1], coef);
            let b = g.scalar(*intercept);
            let z = g.op("MatMul", &[x, &w], vec![]);
            return Ok(g.op("Add", &[&z, &b], vec![]));
        }
        FittedModel::Linear(LinearModel::Logistic { coef, intercept }) => {
            let (k, f) = (coef.len(), coef.first().map_or(0, Vec::len));
            let mut wt = vec![0.0; f * k];
            for (r, row) in coef.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    wt[j * k + r] = *v;
                }
            }
            let w = g.f64s(vec![f as i64, k as i64], &wt);
            let b = g.f64s(vec![k as i64], intercept);
            let z = g.op("MatMul", &[x, &w], vec![]);
            let z = g.op("Add", &[&z, &b], vec![]);
            return Ok(apply_link(
                g,
                &z,
                if k == 1 {
                    Link::Logistic
                } else {
                    Link::Softmax
                },
            ));
        }
        FittedModel::Forest(f) => (from_forest(f), Link::Identity),
        FittedModel::Boosted(b) => (from_boosted(b), Link::Identity),
        other => booster_trees(other, classes)?.ok_or_else(|| {
            Error::Usage(unsupported(bundle).unwrap_or_else(|| "not a tree ensemble".into()))
        })?,
    };
    let (ens, link) = ensemble;
    let y = tree_ensemble(g, &ens, x, bundle.preprocessor.outputs.len())?;
    Ok(apply_link(g, &y, link))
}

fn apply_link(g: &mut Graph, z: &str, link: Link) -> String {
    match link {
        Link::Identity => z.to_owned(),
        Link::Exp => g.op("Exp", &[z], vec![]),
        Link::Softmax => g.op("Softmax", &[z], vec![attr("axis", A::I(1))]),
        Link::Logistic => {
            let p = g.op("Sigmoid", &[z], vec![]);
            let one = g.scalar(1.0);
            let q = g.op("Sub", &[&one, &p], vec![]);
            g.op("Concat", &[&q, &p], vec![attr("axis", A::I(1))])
        }
    }
}

/// mlx's tree ensemble as one `TreeEnsembleRegressor`: margins `[N, outputs]`, doubles.
fn tree_ensemble(g: &mut Graph, ens: &Ensemble, x: &str, features: usize) -> Result<String> {
    let float = ens.trees.iter().any(|t| t.rule == Rule::Less);
    // LightGBM reads a missing value as 0 on features trained without any: per feature,
    // as ONNX has no such split.
    let mut as_zero = vec![false; features];
    for t in &ens.trees {
        for n in (0..t.left.len()).filter(|&n| t.left[n] >= 0) {
            match t.missing[n] {
                Missing::Zero => {
                    return Err(Error::Usage(
                        "this LightGBM model sends 0 the missing way at its splits \
                         (zero_as_missing), which ONNX's trees cannot; train it without \
                         zero_as_missing to export it"
                            .into(),
                    ))
                }
                Missing::AsZero => as_zero[t.feature[n]] = true,
                Missing::Nan => {}
            }
        }
    }
    let mut x = x.to_owned();
    if as_zero.iter().any(|z| *z) {
        let mask: Vec<f64> = as_zero.iter().map(|z| f64::from(u8::from(*z))).collect();
        let m = g.f64s(vec![1, features as i64], &mask);
        let zero = g.scalar(0.0);
        let one = g.scalar(1.0);
        let nan = g.op("IsNaN", &[&x], vec![]);
        let is_zeroed = g.op("Equal", &[&m, &one], vec![]);
        let both = g.op("And", &[&nan, &is_zeroed], vec![]);
        x = g.op("Where", &[&both, &zero, &x], vec![]);
    }
    if float {
        x = g.cast(&x, FLOAT);
    }
    let mut tree_ids = Vec::new();
    let mut node_ids = Vec::new();
    let mut feature_ids = Vec::new();
    let mut modes = Vec::new();
    let mut thresholds = Vec::new();
    let mut trues = Vec::new();
    let mut falses = Vec::new();
    let mut missing_true = Vec::new();
    let (mut t_tree, mut t_node, mut t_id, mut t_weight) = (vec![], vec![], vec![], vec![]);
    for (ti, t) in ens.trees.iter().enumerate() {
        for n in 0..t.left.len() {
            tree_ids.push(ti as i64);
            node_ids.push(n as i64);
            if t.left[n] < 0 {
                feature_ids.push(0);
                modes.push("LEAF".to_owned());
                thresholds.push(0.0);
                trues.push(0);
                falses.push(0);
                missing_true.push(0);
                for o in 0..t.outputs {
                    t_tree.push(ti as i64);
                    t_node.push(n as i64);
                    t_id.push((t.offset + o) as i64);
                    t_weight.push(t.value[n * t.outputs + o]);
                }
            } else {
                feature_ids.push(t.feature[n] as i64);
                modes.push(
                    match t.rule {
                        Rule::LessEqual => "BRANCH_LEQ",
                        Rule::Less => "BRANCH_LT",
                    }
                    .to_owned(),
                );
                thresholds.push(t.threshold[n]);
                trues.push(i64::from(t.left[n]));
                falses.push(i64::from(t.right[n]));
                // Where a missing value goes: mlx's forests send NaN right (NaN <= t is
                // false); the boosters their default way.
                missing_true.push(i64::from(
                    t.missing[n] != Missing::AsZero && t.default_left[n],
                ));
            }
        }
    }
    // The attributes' precision follows the input's: XGBoost's trees in float32 (as
    // XGBoost keeps them), the others in double.
    let floats = |v: &[f64]| A::Floats(v.iter().map(|x| *x as f32).collect());
    let tensor = |name: &str, v: &[f64]| A::T(doubles(name, vec![v.len() as i64], v));
    let (values, base, weights) = if float {
        (
            ("nodes_values", floats(&thresholds)),
            ("base_values", floats(&ens.base)),
            ("target_weights", floats(&t_weight)),
        )
    } else {
        (
            (
                "nodes_values_as_tensor",
                tensor("nodes_values", &thresholds),
            ),
            ("base_values_as_tensor", tensor("base", &ens.base)),
            ("target_weights_as_tensor", tensor("weights", &t_weight)),
        )
    };
    let attrs = vec![
        attr("n_targets", A::I(ens.outputs as i64)),
        attr("aggregate_function", A::S("SUM".into())),
        attr("post_transform", A::S("NONE".into())),
        attr(base.0, base.1),
        attr("nodes_treeids", A::Ints(tree_ids)),
        attr("nodes_nodeids", A::Ints(node_ids)),
        attr("nodes_featureids", A::Ints(feature_ids)),
        attr("nodes_modes", A::Strings(modes)),
        attr(values.0, values.1),
        attr("nodes_truenodeids", A::Ints(trues)),
        attr("nodes_falsenodeids", A::Ints(falses)),
        attr("nodes_missing_value_tracks_true", A::Ints(missing_true)),
        attr("target_treeids", A::Ints(t_tree)),
        attr("target_nodeids", A::Ints(t_node)),
        attr("target_ids", A::Ints(t_id)),
        attr(weights.0, weights.1),
    ];
    let y = g.op_in("TreeEnsembleRegressor", ML, &[&x], attrs);
    Ok(g.cast(&y, DOUBLE))
}

fn value_info(name: &str, elem: i32, dims: &[Option<i64>]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            tensor_type: Some(pb::TensorType {
                elem_type: elem,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Some(v) => pb::Dimension {
                                dim_value: Some(*v),
                                dim_param: None,
                            },
                            None => pb::Dimension {
                                dim_value: None,
                                dim_param: Some("N".into()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// The ONNX model of a bundle, as bytes; `metadata` goes into its `metadata_props`.
pub fn model_bytes(
    bundle: &Bundle,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    if let Some(why) = unsupported(bundle) {
        return Err(Error::Usage(why));
    }
    let mut g = Graph::default();
    let mut inputs = Vec::new();
    let x = preprocess(&mut g, bundle, &mut inputs)?;
    let out = score(&mut g, bundle, &x)?;
    let m = &bundle.manifest;
    let outputs = match &m.classes {
        None => {
            g.named("Identity", "", &[&out], vec![], "prediction");
            vec![value_info("prediction", DOUBLE, &[None, Some(1)])]
        }
        Some(classes) => {
            let k = classes.len() as i64;
            g.named("Identity", "", &[&out], vec![], "probabilities");
            let index = match m.decision_threshold.filter(|_| classes.len() == 2) {
                Some(t) => {
                    let (s, e, axes) = (g.i64s(&[1]), g.i64s(&[2]), g.i64s(&[1]));
                    let p1 = g.op("Slice", &[&out, &s, &e, &axes], vec![]);
                    let t = g.scalar(t);
                    let ge = g.op("GreaterOrEqual", &[&p1, &t], vec![]);
                    let i = g.cast(&ge, INT64);
                    let axes = g.i64s(&[1]);
                    g.op("Squeeze", &[&i, &axes], vec![])
                }
                None => g.op(
                    "ArgMax",
                    &[&out],
                    vec![attr("axis", A::I(1)), attr("keepdims", A::I(0))],
                ),
            };
            g.named(
                "LabelEncoder",
                ML,
                &[&index],
                vec![
                    attr("keys_int64s", A::Ints((0..k).collect())),
                    attr("values_strings", A::Strings(classes.clone())),
                    attr("default_string", A::S(String::new())),
                ],
                "label",
            );
            vec![
                value_info("label", STRING, &[None]),
                value_info("probabilities", DOUBLE, &[None, Some(k)]),
            ]
        }
    };
    let model = pb::ModelProto {
        ir_version: 9,
        producer_name: "mlx".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("mlx model `{}` ({})", m.name, m.model_type.as_str()),
        graph: Some(pb::GraphProto {
            node: g.nodes,
            name: m.name.clone(),
            initializer: g.init,
            input: inputs,
            output: outputs,
        }),
        opset_import: vec![
            pb::OperatorSetIdProto {
                domain: String::new(),
                version: 19,
            },
            pb::OperatorSetIdProto {
                domain: ML.into(),
                version: 3,
            },
        ],
        metadata_props: metadata
            .iter()
            .map(|(k, v)| pb::StringStringEntryProto {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
    };
    Ok(model.encode_to_vec())
}

/// Writes the ONNX model of `bundle` to `path` (which must not exist).
pub fn write(
    bundle: &Bundle,
    path: &Path,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    if path.exists() {
        return Err(Error::Usage(format!(
            "{} exists; give a new file name (an export never overwrites a model)",
            path.display()
        )));
    }
    let bytes = model_bytes(bundle, metadata)?;
    std::fs::write(path, bytes).with_path("writing", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attributes carry ONNX's type numbers (onnx-ml.proto's AttributeType), and
    /// tensors their data type and little-endian bytes.
    #[test]
    fn attributes_and_tensors_carry_onnx_types() {
        let types: Vec<i32> = [
            A::F(0.5),
            A::I(3),
            A::S("SUM".into()),
            A::T(doubles("t", vec![1], &[1.5])),
            A::Floats(vec![1.0]),
            A::Ints(vec![1]),
            A::Strings(vec!["a".into()]),
        ]
        .into_iter()
        .map(|v| attr("x", v).r#type)
        .collect();
        assert_eq!(types, [1, 2, 3, 4, 6, 7, 8]);
        let t = doubles("t", vec![2], &[1.5, -2.0]);
        assert_eq!(t.data_type, 11);
        assert_eq!(&t.raw_data[..8], &1.5f64.to_le_bytes());
        // What is written reads back as written.
        let bytes = t.encode_to_vec();
        assert_eq!(pb::TensorProto::decode(bytes.as_slice()).unwrap(), t);
    }

    #[test]
    fn names_in_a_graph_are_unique() {
        let mut g = Graph::default();
        let a = g.op("Identity", &["x"], vec![]);
        let b = g.op("Identity", &["x"], vec![]);
        let c = g.scalar(1.0);
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.init.len(), 1);
    }
}
