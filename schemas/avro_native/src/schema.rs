//! An Avro schema (JSON) made into a tree the reader and the writer walk, built once per schema.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::Value;

pub struct Field {
    pub name: Py<PyString>,
    pub node: Arc<Node>,
    /// The schema's default, written when the record has no such key (the reader never needs it).
    pub default: Option<Py<PyAny>>,
    /// Written as null in the erasing writer's second output (the chain's link body).
    pub erasable: bool,
}

pub enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed { name: String, size: usize },
    Enum { name: String, symbols: Vec<Py<PyString>> },
    Array(Arc<Node>),
    Map(Arc<Node>),
    Union(Vec<Arc<Node>>),
    Record { name: String, fields: Vec<Field> },
}

impl Node {
    /// Whether a value of this type can be encoded in zero bytes: a block of such items could claim
    /// any count without the bytes to back it, so such arrays are refused when built.
    fn may_be_empty(&self) -> bool {
        match self {
            Node::Null => true,
            Node::Fixed { size, .. } => *size == 0,
            Node::Record { fields, .. } => fields.iter().all(|f| f.node.may_be_empty()),
            _ => false,
        }
    }
}

pub fn schema_error(message: String) -> PyErr {
    PyValueError::new_err(format!("schema not supported by the compiled codec: {message}"))
}

/// `erasable`: record full name -> the fields the erasing writer writes as null.
pub fn build(py: Python<'_>, schema_json: &str, erasable: HashMap<String, HashSet<String>>) -> PyResult<Arc<Node>> {
    let schema: Value = serde_json::from_str(schema_json).map_err(|e| schema_error(format!("not JSON: {e}")))?;
    Builder { py, named: HashMap::new(), erasable }.build(&schema)
}

struct Builder<'py> {
    py: Python<'py>,
    named: HashMap<String, Arc<Node>>,
    erasable: HashMap<String, HashSet<String>>,
}

fn text<'a>(object: &'a serde_json::Map<String, Value>, key: &str, what: &str) -> PyResult<&'a str> {
    object.get(key).and_then(Value::as_str).ok_or_else(|| schema_error(format!("{what} without a {key}")))
}

impl<'py> Builder<'py> {
    fn build(&mut self, schema: &Value) -> PyResult<Arc<Node>> {
        match schema {
            Value::String(name) => self.primitive_or_named(name),
            Value::Array(branches) => {
                let nodes = branches.iter().map(|b| self.build(b)).collect::<PyResult<Vec<_>>>()?;
                Ok(Arc::new(Node::Union(nodes)))
            }
            Value::Object(object) => {
                let kind = object.get("type").ok_or_else(|| schema_error("a type without \"type\"".into()))?;
                let Value::String(kind) = kind else { return self.build(kind) };
                if object.contains_key("logicalType") {
                    return Err(schema_error(format!("logical type on {kind}")));
                }
                let node = match kind.as_str() {
                    "record" | "error" => {
                        let name = text(object, "name", "a record")?.to_string();
                        let fields = object.get("fields").and_then(Value::as_array)
                            .ok_or_else(|| schema_error(format!("record {name} without fields")))?;
                        let erased = self.erasable.get(&name).cloned().unwrap_or_default();
                        let mut built = Vec::with_capacity(fields.len());
                        for field in fields {
                            let Value::Object(field) = field else { return Err(schema_error("a field that is not an object".into())) };
                            let field_name = text(field, "name", "a field")?;
                            let field_type = field.get("type")
                                .ok_or_else(|| schema_error(format!("field {field_name} without a type")))?;
                            built.push(Field {
                                name: PyString::intern(self.py, field_name).unbind(),
                                node: self.build(field_type)?,
                                default: field.get("default").map(|d| to_python(self.py, d)).transpose()?,
                                erasable: erased.contains(field_name),
                            });
                        }
                        Node::Record { name, fields: built }
                    }
                    "enum" => {
                        let name = text(object, "name", "an enum")?.to_string();
                        let symbols = object.get("symbols").and_then(Value::as_array)
                            .ok_or_else(|| schema_error(format!("enum {name} without symbols")))?;
                        let symbols = symbols.iter()
                            .map(|s| s.as_str().map(|s| PyString::intern(self.py, s).unbind())
                                .ok_or_else(|| schema_error("an enum symbol that is not a string".into())))
                            .collect::<PyResult<Vec<_>>>()?;
                        Node::Enum { name, symbols }
                    }
                    "fixed" => {
                        let name = text(object, "name", "a fixed")?.to_string();
                        let size = object.get("size").and_then(Value::as_u64)
                            .ok_or_else(|| schema_error(format!("fixed {name} without a size")))?;
                        Node::Fixed { name, size: size as usize }
                    }
                    "array" => {
                        let items = self.build(object.get("items").ok_or_else(|| schema_error("an array without items".into()))?)?;
                        if items.may_be_empty() {
                            return Err(schema_error("an array of items that take no bytes".into()));
                        }
                        Node::Array(items)
                    }
                    "map" => Node::Map(self.build(object.get("values").ok_or_else(|| schema_error("a map without values".into()))?)?),
                    _ => return self.primitive_or_named(kind),
                };
                let node = Arc::new(node);
                if let Node::Record { name, .. } | Node::Enum { name, .. } | Node::Fixed { name, .. } = node.as_ref() {
                    // named once built: a record that refers to itself finds no name and is refused
                    self.named.insert(name.clone(), node.clone());
                }
                Ok(node)
            }
            _ => Err(schema_error(format!("unexpected schema value {schema}"))),
        }
    }

    fn primitive_or_named(&self, name: &str) -> PyResult<Arc<Node>> {
        Ok(Arc::new(match name {
            "null" => Node::Null,
            "boolean" => Node::Boolean,
            "int" => Node::Int,
            "long" => Node::Long,
            "float" => Node::Float,
            "double" => Node::Double,
            "bytes" => Node::Bytes,
            "string" => Node::String,
            _ => return self.named.get(name).cloned().ok_or_else(|| schema_error(format!("unknown type {name}"))),
        }))
    }
}

/// A default from the schema's JSON as the Python value a record would carry.
fn to_python(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into_pyobject(py)?.into_any().unbind(),
            None => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any().unbind(),
        },
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(entries) => {
            let dict = PyDict::new(py);
            for (key, item) in entries {
                dict.set_item(key, to_python(py, item)?)?;
            }
            dict.into_any().unbind()
        }
    })
}
