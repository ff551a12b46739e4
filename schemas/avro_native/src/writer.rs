//! Writes a Python record as an Avro datum, byte for byte what the Python writer (avro_writer.py) writes:
//! map entries in sorted key order, a missing field as its default, the same refusals. Its erasing form
//! writes, in the same pass, the record as it would be with the erasable fields null (the link body).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};

use crate::schema::{build, schema_error, Node};

/// The datum, and the erased datum beside it when erasing. `erasing` is set while an erasable field
/// is written: its bytes go to the datum only, and the erased datum gets the null branch (0) instead.
struct Out {
    datum: Vec<u8>,
    erased: Option<Vec<u8>>,
    erasing: bool,
}

impl Out {
    fn put(&mut self, bytes: &[u8]) {
        self.datum.extend_from_slice(bytes);
        if !self.erasing {
            if let Some(erased) = self.erased.as_mut() {
                erased.extend_from_slice(bytes);
            }
        }
    }

    fn long(&mut self, n: i64) {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        let mut buf = [0u8; 10];
        let mut len = 0;
        while z & !0x7f != 0 {
            buf[len] = (z as u8 & 0x7f) | 0x80;
            z >>= 7;
            len += 1;
        }
        buf[len] = z as u8;
        self.put(&buf[..=len]);
    }

    fn counted(&mut self, data: &[u8]) {
        self.long(data.len() as i64);
        self.put(data);
    }
}

/// `bytes(value)`, as the Python writer takes bytes and fixed values.
fn as_bytes<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(bytes.clone());
    }
    let builtins = PyModule::import(value.py(), "builtins")?;
    Ok(builtins.getattr("bytes")?.call1((value,))?.cast_into::<PyBytes>()?)
}

fn string<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    match value.cast::<PyString>() {
        Ok(text) => text.to_str(),
        Err(_) => Err(PyTypeError::new_err(format!("{} is not a string", value.repr()?))),
    }
}

fn write(node: &Node, value: &Bound<'_, PyAny>, out: &mut Out) -> PyResult<()> {
    match node {
        Node::Null => {
            if !value.is_none() {
                return Err(PyValueError::new_err(format!("{} is not null", value.repr()?)));
            }
        }
        Node::Boolean => out.put(if value.is_truthy()? { b"\x01" } else { b"\x00" }),
        Node::Int | Node::Long => {
            if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
                return Err(PyTypeError::new_err(format!("{} is not an integer", value.repr()?)));
            }
            let n: i64 = value.extract().map_err(|_| {
                PyOverflowError::new_err(format!("{} does not fit an Avro long", value.str().map(|s| s.to_string()).unwrap_or_default()))
            })?;
            out.long(n);
        }
        Node::Float => {
            let x: f64 = value.extract()?;
            let y = x as f32;
            if y.is_infinite() && x.is_finite() {
                return Err(PyOverflowError::new_err("float too large to pack with f format"));
            }
            out.put(&y.to_le_bytes());
        }
        Node::Double => out.put(&value.extract::<f64>()?.to_le_bytes()),
        Node::Bytes => out.counted(as_bytes(value)?.as_bytes()),
        Node::String => out.counted(string(value)?.as_bytes()),
        Node::Fixed { name, size } => {
            let data = as_bytes(value)?;
            if data.as_bytes().len() != *size {
                return Err(PyValueError::new_err(format!(
                    "fixed {name} needs {size} bytes, got {}", data.as_bytes().len())));
            }
            out.put(data.as_bytes());
        }
        Node::Enum { name, symbols } => {
            let index = value.cast::<PyString>().ok()
                .and_then(|text| text.to_str().ok())
                .and_then(|text| symbols.iter().position(|s| s.bind(value.py()).to_str().is_ok_and(|s| s == text)));
            match index {
                Some(i) => out.long(i as i64),
                None => return Err(PyValueError::new_err(format!("{} is not a symbol of {name}", value.repr()?))),
            }
        }
        Node::Array(items) => {
            if value.is_truthy()? {
                out.long(value.len()? as i64);
                for element in value.try_iter()? {
                    write(items, &element?, out)?;
                }
            }
            out.put(b"\x00");
        }
        Node::Map(values) => {
            if value.is_truthy()? {
                let mut entries: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)> = match value.cast::<PyDict>() {
                    Ok(dict) => dict.iter().collect(),
                    Err(_) => value.call_method0("items")?.try_iter()?
                        .map(|item| item.and_then(|pair| pair.extract()))
                        .collect::<PyResult<_>>()?,
                };
                let mut keyed = Vec::with_capacity(entries.len());
                for (key, element) in entries.drain(..) {
                    keyed.push((string(&key)?.to_owned(), element));
                }
                // sorted: the same map, the same bytes (UTF-8 byte order is code point order, as Python sorts)
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
                out.long(keyed.len() as i64);
                for (key, element) in &keyed {
                    out.counted(key.as_bytes());
                    write(values, element, out)?;
                }
            }
            out.put(b"\x00");
        }
        Node::Union(branches) => {
            // the [\"null\", T] unions the Python writer takes (refused otherwise when built)
            let null_at = branches.iter().position(|b| matches!(b.as_ref(), Node::Null)).unwrap_or(0);
            if value.is_none() {
                out.long(null_at as i64);
            } else {
                out.long(1 - null_at as i64);
                write(&branches[1 - null_at], value, out)?;
            }
        }
        Node::Record { name, fields } => {
            let dict = value.cast::<PyDict>().ok();
            for field in fields {
                let key = field.name.bind(value.py());
                let given = match dict {
                    Some(dict) => dict.get_item(key)?,
                    None => if value.contains(key)? { Some(value.get_item(key)?) } else { None },
                };
                let element = match (given, &field.default) {
                    (Some(element), _) => element,
                    (None, Some(default)) => default.bind(value.py()).clone(),
                    (None, None) => return Err(PyValueError::new_err(format!("field {key} of {name} is missing"))),
                };
                if field.erasable && !out.erasing {
                    out.erasing = true;
                    let written = write(&field.node, &element, out);
                    out.erasing = false;
                    written?;
                    if let Some(erased) = out.erased.as_mut() {
                        erased.push(0);
                    }
                } else {
                    write(&field.node, &element, out)?;
                }
            }
        }
    }
    Ok(())
}

fn check_unions(node: &Node) -> PyResult<()> {
    match node {
        Node::Union(branches) => {
            if branches.len() != 2 || !branches.iter().any(|b| matches!(b.as_ref(), Node::Null)) {
                return Err(schema_error("only [\"null\", T] unions are written".into()));
            }
            branches.iter().try_for_each(|b| check_unions(b))
        }
        Node::Array(inner) | Node::Map(inner) => check_unions(inner),
        Node::Record { fields, .. } => fields.iter().try_for_each(|f| check_unions(&f.node)),
        _ => Ok(()),
    }
}

/// A writer for one schema, given as JSON with its defaults (not the canonical form, which drops them).
#[pyclass(frozen, module = "audit_layer_schemas._avro_native")]
pub struct Writer {
    root: Arc<Node>,
}

#[pymethods]
impl Writer {
    #[new]
    #[pyo3(signature = (schema_json, erasable=None))]
    fn new(py: Python<'_>, schema_json: &str, erasable: Option<HashMap<String, HashSet<String>>>) -> PyResult<Self> {
        let root = build(py, schema_json, erasable.unwrap_or_default())?;
        check_unions(&root)?;
        Ok(Writer { root })
    }

    fn write<'py>(&self, py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Out { datum: Vec::with_capacity(1024), erased: None, erasing: false };
        write(&self.root, record, &mut out)?;
        Ok(PyBytes::new(py, &out.datum))
    }

    /// The datum, and the datum with the erasable fields null, in one pass.
    fn write_erasing<'py>(&self, py: Python<'py>, record: &Bound<'py, PyAny>)
        -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let mut out = Out { datum: Vec::with_capacity(1024), erased: Some(Vec::with_capacity(1024)), erasing: false };
        write(&self.root, record, &mut out)?;
        let erased = out.erased.take().unwrap_or_default();
        Ok((PyBytes::new(py, &out.datum), PyBytes::new(py, &erased)))
    }
}
