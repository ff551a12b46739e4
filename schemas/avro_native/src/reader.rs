//! Reads one Avro datum (no header) into the same Python values as fastavro's `schemaless_reader`
//! without a reader schema: records as dicts in field order, enums as their symbols, fixed and bytes
//! as `bytes`. Built from the writer schema's Parsing Canonical Form, the text its fingerprint covers.
//!
//! The input is untrusted (any Kafka message): every length is checked against the bytes left before
//! anything is allocated, and any malformed datum is a `ValueError`, never a partial value.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::cursor::{Input, Malformed};
use crate::schema::{build, Node};

fn corrupt(message: &str) -> PyErr {
    PyValueError::new_err(message.to_string())
}

impl From<Malformed> for PyErr {
    fn from(Malformed(why): Malformed) -> PyErr {
        corrupt(why)
    }
}

fn read<'py>(py: Python<'py>, node: &Node, input: &mut Input) -> PyResult<Bound<'py, PyAny>> {
    Ok(match node {
        Node::Null => py.None().into_bound(py),
        Node::Boolean => match input.take(1)?[0] {
            0 => false.into_pyobject(py)?.to_owned().into_any(),
            1 => true.into_pyobject(py)?.to_owned().into_any(),
            _ => return Err(corrupt("boolean byte is neither 0 nor 1")),
        },
        Node::Int => {
            let value = input.long()?;
            if i32::try_from(value).is_err() {
                return Err(corrupt("int out of 32-bit range"));
            }
            value.into_pyobject(py)?.into_any()
        }
        Node::Long => input.long()?.into_pyobject(py)?.into_any(),
        Node::Float => {
            let bytes: [u8; 4] = input.take(4)?.try_into().expect("4 bytes");
            f64::from(f32::from_le_bytes(bytes)).into_pyobject(py)?.into_any()
        }
        Node::Double => {
            let bytes: [u8; 8] = input.take(8)?.try_into().expect("8 bytes");
            f64::from_le_bytes(bytes).into_pyobject(py)?.into_any()
        }
        Node::Bytes => {
            let n = input.length()?;
            PyBytes::new(py, input.take(n)?).into_any()
        }
        Node::String => {
            let n = input.length()?;
            let text = std::str::from_utf8(input.take(n)?).map_err(|_| corrupt("string is not UTF-8"))?;
            PyString::new(py, text).into_any()
        }
        Node::Fixed { size, .. } => PyBytes::new(py, input.take(*size)?).into_any(),
        Node::Enum { symbols, .. } => {
            let index = input.long()?;
            let symbol = usize::try_from(index).ok().and_then(|i| symbols.get(i))
                .ok_or_else(|| corrupt("enum index out of range"))?;
            symbol.bind(py).clone().into_any()
        }
        Node::Array(items) => {
            let list = PyList::empty(py);
            input.each_item(|input| list.append(read(py, items, input)?))?;
            list.into_any()
        }
        Node::Map(values) => {
            let dict = PyDict::new(py);
            input.each_item(|input| {
                let key = read(py, &Node::String, input)?;
                dict.set_item(key, read(py, values, input)?)
            })?;
            dict.into_any()
        }
        Node::Union(branches) => {
            let index = input.long()?;
            let branch = usize::try_from(index).ok().and_then(|i| branches.get(i))
                .ok_or_else(|| corrupt("union branch index out of range"))?;
            read(py, branch, input)?
        }
        Node::Record { fields, .. } => {
            let dict = PyDict::new(py);
            for field in fields {
                dict.set_item(field.name.bind(py), read(py, &field.node, input)?)?;
            }
            dict.into_any()
        }
    })
}

/// A reader for one writer schema, given as its Parsing Canonical Form (JSON).
#[pyclass(frozen, module = "audit_layer_schemas._avro_native")]
pub struct Reader {
    root: Arc<Node>,
}

#[pymethods]
impl Reader {
    #[new]
    fn new(py: Python<'_>, canonical_form: &str) -> PyResult<Self> {
        Ok(Reader { root: build(py, canonical_form, HashMap::new())? })
    }

    /// The datum in `data`, which it must fill exactly: trailing bytes are an error too.
    fn read<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let mut input = Input::new(data, 0);
        let value = read(py, &self.root, &mut input)?;
        if !input.done() {
            return Err(corrupt("trailing bytes after the datum"));
        }
        Ok(value)
    }
}
