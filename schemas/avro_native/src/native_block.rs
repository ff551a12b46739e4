//! The sink's staging rows as one ClickHouse Native block, read straight from Kafka's Avro datums (issue 20).
//!
//! The embedded engine parsed an Avro container of the batch at ~5 µs a row and Python built that container
//! at ~1.5 µs a row; a Native block is columns laid out as the engine keeps them, which it takes in at
//! about a tenth of that. The block's columns are `kafka_partition Int32`, `kafka_offset Int64`, then every leaf
//! of the record, flat, named by its path with `__` between the names (`chained__event__event__tenant_id`):
//! the engine reads a flat column for about half of what the element of a Tuple column costs it.
//!
//! Every datum is untrusted bytes as the reader's are: each length is checked against the bytes left, a
//! datum must be read exactly, and any malformed one fails the whole block (the sink then decodes the
//! batch in Python and stops at the message it cannot read).

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::cursor::{Input, Malformed, Read};
use crate::schema::{build, schema_error, Node};

/// ClickHouse's unsigned LEB128, the length prefix of a Native String.
fn varuint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn text(out: &mut Vec<u8>, bytes: &[u8]) {
    varuint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One column being filled, shaped as its Avro type: the values of a row are appended as they are read.
enum Column {
    Int32(Vec<u8>),
    Int64(Vec<u8>),
    Float32(Vec<u8>),
    Float64(Vec<u8>),
    Bool(Vec<u8>),
    /// strings and bytes alike: a ClickHouse String is bytes
    Text(Vec<u8>),
    Fixed { size: usize, data: Vec<u8> },
    Enum { symbols: Vec<Vec<u8>>, data: Vec<u8> },
    Nullable { null_branch: i64, value_branch: i64, nulls: Vec<u8>, value: Box<Column> },
    Array { offsets: Vec<u8>, count: u64, items: Box<Column> },
    Map { offsets: Vec<u8>, count: u64, keys: Vec<u8>, values: Box<Column> },
    Tuple(Vec<(String, Column)>),
}

impl Column {
    fn new(py: Python<'_>, node: &Node) -> PyResult<Column> {
        Ok(match node {
            Node::Int => Column::Int32(Vec::new()),
            Node::Long => Column::Int64(Vec::new()),
            Node::Float => Column::Float32(Vec::new()),
            Node::Double => Column::Float64(Vec::new()),
            Node::Boolean => Column::Bool(Vec::new()),
            Node::String | Node::Bytes => Column::Text(Vec::new()),
            Node::Fixed { size, .. } => Column::Fixed { size: *size, data: Vec::new() },
            Node::Enum { symbols, .. } => Column::Enum {
                symbols: symbols.iter().map(|s| s.bind(py).to_str().map(|s| s.as_bytes().to_vec()))
                    .collect::<PyResult<_>>()?,
                data: Vec::new(),
            },
            Node::Array(items) => Column::Array { offsets: Vec::new(), count: 0, items: Box::new(Column::new(py, items)?) },
            Node::Map(values) => Column::Map {
                offsets: Vec::new(), count: 0, keys: Vec::new(), values: Box::new(Column::new(py, values)?),
            },
            Node::Union(branches) => {
                let null_at = branches.iter().position(|b| matches!(b.as_ref(), Node::Null));
                let (Some(null_at), 2) = (null_at, branches.len()) else {
                    return Err(schema_error("a union other than [\"null\", T] has no ClickHouse column".into()));
                };
                let value = Column::new(py, &branches[1 - null_at])?;
                if matches!(value, Column::Nullable { .. } | Column::Array { .. } | Column::Map { .. } | Column::Tuple(_)) {
                    return Err(schema_error("ClickHouse has no Nullable of an array, a map or a record".into()));
                }
                Column::Nullable {
                    null_branch: null_at as i64, value_branch: (1 - null_at) as i64, nulls: Vec::new(),
                    value: Box::new(value),
                }
            }
            Node::Record { fields, .. } => Column::Tuple(
                fields.iter().map(|f| Ok((f.name.bind(py).to_str()?.to_string(), Column::new(py, &f.node)?)))
                    .collect::<PyResult<_>>()?,
            ),
            Node::Null => return Err(schema_error("a null field has no ClickHouse column".into())),
        })
    }

    /// The ClickHouse type, as the engine names it (avro_load.py's stage structure names it the same way).
    fn type_name(&self) -> String {
        match self {
            Column::Int32(_) => "Int32".into(),
            Column::Int64(_) => "Int64".into(),
            Column::Float32(_) => "Float32".into(),
            Column::Float64(_) => "Float64".into(),
            Column::Bool(_) => "Bool".into(),
            Column::Text(_) | Column::Enum { .. } => "String".into(),
            Column::Fixed { size, .. } => format!("FixedString({size})"),
            Column::Nullable { value, .. } => format!("Nullable({})", value.type_name()),
            Column::Array { items, .. } => format!("Array({})", items.type_name()),
            Column::Map { values, .. } => format!("Map(String, {})", values.type_name()),
            Column::Tuple(fields) => {
                let fields: Vec<String> = fields.iter().map(|(name, c)| format!("{name} {}", c.type_name())).collect();
                format!("Tuple({})", fields.join(", "))
            }
        }
    }

    fn read(&mut self, input: &mut Input) -> Read<()> {
        match self {
            Column::Int32(data) => {
                let value = i32::try_from(input.long()?).map_err(|_| Malformed("int out of 32-bit range"))?;
                data.extend_from_slice(&value.to_le_bytes());
            }
            Column::Int64(data) => data.extend_from_slice(&input.long()?.to_le_bytes()),
            Column::Float32(data) => data.extend_from_slice(input.take(4)?),
            Column::Float64(data) => data.extend_from_slice(input.take(8)?),
            Column::Bool(data) => match input.take(1)?[0] {
                byte @ (0 | 1) => data.push(byte),
                _ => return Err(Malformed("boolean byte is neither 0 nor 1")),
            },
            Column::Text(data) => {
                let n = input.length()?;
                text(data, input.take(n)?);
            }
            Column::Fixed { size, data } => data.extend_from_slice(input.take(*size)?),
            Column::Enum { symbols, data } => {
                let index = input.long()?;
                let symbol = usize::try_from(index).ok().and_then(|i| symbols.get(i))
                    .ok_or(Malformed("enum index out of range"))?;
                text(data, symbol);
            }
            Column::Nullable { null_branch, value_branch, nulls, value } => {
                let branch = input.long()?;
                if branch == *null_branch {
                    nulls.push(1);
                    value.fill();
                } else if branch == *value_branch {
                    nulls.push(0);
                    value.read(input)?;
                } else {
                    return Err(Malformed("union branch index out of range"));
                }
            }
            Column::Array { offsets, count, items } => {
                input.each_item(|input| {
                    *count += 1;
                    items.read(input)
                })?;
                offsets.extend_from_slice(&count.to_le_bytes());
            }
            Column::Map { offsets, count, keys, values } => {
                input.each_item(|input| {
                    *count += 1;
                    let k = input.length()?;
                    text(keys, input.take(k)?);
                    values.read(input)
                })?;
                offsets.extend_from_slice(&count.to_le_bytes());
            }
            Column::Tuple(fields) => {
                for (_, column) in fields.iter_mut() {
                    column.read(input)?;
                }
            }
        }
        Ok(())
    }

    /// The value a Nullable keeps under a null: ClickHouse stores one in every row.
    fn fill(&mut self) {
        match self {
            Column::Int32(data) | Column::Float32(data) => data.extend_from_slice(&[0; 4]),
            Column::Int64(data) | Column::Float64(data) => data.extend_from_slice(&[0; 8]),
            Column::Bool(data) | Column::Text(data) | Column::Enum { data, .. } => data.push(0),
            Column::Fixed { size, data } => data.resize(data.len() + *size, 0),
            // refused under a Nullable when built; kept total so a row is never left short
            Column::Nullable { nulls, value, .. } => {
                nulls.push(1);
                value.fill();
            }
            Column::Array { offsets, count, .. } | Column::Map { offsets, count, .. } => {
                offsets.extend_from_slice(&count.to_le_bytes())
            }
            Column::Tuple(fields) => fields.iter_mut().for_each(|(_, c)| c.fill()),
        }
    }

    /// The bytes `write` writes.
    fn size(&self) -> usize {
        match self {
            Column::Int32(data) | Column::Int64(data) | Column::Float32(data) | Column::Float64(data)
            | Column::Bool(data) | Column::Text(data) | Column::Fixed { data, .. } | Column::Enum { data, .. } => data.len(),
            Column::Nullable { nulls, value, .. } => nulls.len() + value.size(),
            Column::Array { offsets, items, .. } => offsets.len() + items.size(),
            Column::Map { offsets, keys, values, .. } => offsets.len() + keys.len() + values.size(),
            Column::Tuple(fields) => fields.iter().map(|(_, c)| c.size()).sum(),
        }
    }

    /// Room for `rows` more values where a value's size is known, so a block's columns grow without copies.
    fn reserve(&mut self, rows: usize) {
        match self {
            Column::Int32(data) | Column::Float32(data) => data.reserve(rows * 4),
            Column::Int64(data) | Column::Float64(data) => data.reserve(rows * 8),
            Column::Bool(data) => data.reserve(rows),
            Column::Fixed { size, data } => data.reserve(rows * *size),
            Column::Text(_) | Column::Enum { .. } => {}
            Column::Nullable { nulls, value, .. } => {
                nulls.reserve(rows);
                value.reserve(rows);
            }
            Column::Array { offsets, .. } | Column::Map { offsets, .. } => offsets.reserve(rows * 8),
            Column::Tuple(fields) => fields.iter_mut().for_each(|(_, c)| c.reserve(rows)),
        }
    }

    /// Native's layout: a Nullable's null map then its values, an array's end offsets then its items, a
    /// map as an array of (key, value) tuples, a tuple's elements one column after another.
    fn write(&self, out: &mut Filler) {
        match self {
            Column::Int32(data) | Column::Int64(data) | Column::Float32(data) | Column::Float64(data)
            | Column::Bool(data) | Column::Text(data) | Column::Fixed { data, .. } | Column::Enum { data, .. } => {
                out.put(data)
            }
            Column::Nullable { nulls, value, .. } => {
                out.put(nulls);
                value.write(out);
            }
            Column::Array { offsets, items, .. } => {
                out.put(offsets);
                items.write(out);
            }
            Column::Map { offsets, keys, values, .. } => {
                out.put(offsets);
                out.put(keys);
                values.write(out);
            }
            Column::Tuple(fields) => fields.iter().for_each(|(_, c)| c.write(out)),
        }
    }
}

impl Column {
    /// The leaf columns of a record, flat, each with its path (a record in an array or a map stays a Tuple).
    fn leaves<'a>(&'a self, path: String, out: &mut Vec<(String, &'a Column)>) {
        match self {
            Column::Tuple(fields) => {
                for (name, column) in fields {
                    column.leaves(format!("{path}__{name}"), out);
                }
            }
            _ => out.push((path, self)),
        }
    }
}

const PATH_ROOT: &str = "chained";

/// The bytes object being filled, front to back.
struct Filler<'a> {
    buffer: &'a mut [u8],
    at: usize,
}

impl Filler<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buffer[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

enum Piece<'a> {
    Column(&'a Column),
    Bytes(&'a Vec<u8>),
}

impl Piece<'_> {
    fn size(&self) -> usize {
        match self {
            Piece::Column(column) => column.size(),
            Piece::Bytes(bytes) => bytes.len(),
        }
    }
}

/// Staging blocks of one writer schema (its Parsing Canonical Form): its record's leaves as flat columns.
#[pyclass(frozen, module = "audit_layer_schemas._avro_native")]
pub struct NativeBlock {
    root: Arc<Node>,
    /// every column of a block, (name, ClickHouse type), in the block's order: the staging table's structure
    #[pyo3(get)]
    columns: Vec<(String, String)>,
}

#[pymethods]
impl NativeBlock {
    #[new]
    fn new(py: Python<'_>, canonical_form: &str) -> PyResult<Self> {
        let root = build(py, canonical_form, HashMap::new())?;
        let column = Column::new(py, &root)?;
        if !matches!(column, Column::Tuple(_)) {
            return Err(schema_error("the staged datum is not a record".into()));
        }
        let mut leaves = Vec::new();
        column.leaves(PATH_ROOT.to_string(), &mut leaves);
        let mut columns = vec![("kafka_partition".to_string(), "Int32".to_string()),
                               ("kafka_offset".to_string(), "Int64".to_string())];
        columns.extend(leaves.iter().map(|(name, c)| (name.clone(), c.type_name())));
        let mut names: Vec<&String> = columns.iter().map(|(name, _)| name).collect();
        names.sort();
        names.dedup();
        if names.len() != columns.len() {
            return Err(schema_error("two fields whose paths give one column name".into()));
        }
        Ok(NativeBlock { columns, root })
    }

    /// One block of the rows of `batches`, each (partition, offsets, messages), a message's datum starting
    /// after its `header` bytes. A ValueError names the first message that is not a datum of the schema.
    fn block<'py>(&self, py: Python<'py>, batches: Vec<(i32, Vec<i64>, Vec<Bound<'py, PyBytes>>)>, header: usize)
        -> PyResult<Bound<'py, PyBytes>> {
        let mut partitions = Vec::new();
        let mut offsets = Vec::new();
        let mut chained = Column::new(py, &self.root)?;
        let total: usize = batches.iter().map(|(_, _, messages)| messages.len()).sum();
        chained.reserve(total);
        partitions.reserve(total * 4);
        offsets.reserve(total * 8);
        let mut rows: u64 = 0;
        for (partition, batch_offsets, messages) in &batches {
            if batch_offsets.len() != messages.len() {
                return Err(PyValueError::new_err("a batch with more offsets than messages, or fewer"));
            }
            for (offset, message) in batch_offsets.iter().zip(messages) {
                let data = message.as_bytes();
                let fail = |why: &str| PyValueError::new_err(format!("message at {partition}:{offset}: {why}"));
                if data.len() < header {
                    return Err(fail("shorter than its header"));
                }
                let mut input = Input::new(data, header);
                chained.read(&mut input).map_err(|Malformed(why)| fail(why))?;
                if !input.done() {
                    return Err(fail("trailing bytes after the datum"));
                }
                partitions.extend_from_slice(&partition.to_le_bytes());
                offsets.extend_from_slice(&offset.to_le_bytes());
                rows += 1;
            }
        }
        let mut leaves = Vec::new();
        chained.leaves(PATH_ROOT.to_string(), &mut leaves);
        let mut head = Vec::new();
        varuint(&mut head, self.columns.len() as u64);
        varuint(&mut head, rows);
        let data = [partitions, offsets];
        let mut kept = data.iter();
        let mut pieces: Vec<(Vec<u8>, Piece)> = Vec::with_capacity(self.columns.len());
        for ((name, kind), leaf) in self.columns.iter().zip([None, None].into_iter().chain(leaves.iter().map(Some))) {
            let mut names = Vec::new();
            text(&mut names, name.as_bytes());
            text(&mut names, kind.as_bytes());
            pieces.push((names, match leaf {
                Some((_, column)) => Piece::Column(column),
                None => Piece::Bytes(kept.next().expect("the two Kafka columns")),
            }));
        }
        let size = head.len() + pieces.iter().map(|(names, piece)| names.len() + piece.size()).sum::<usize>();
        // written straight into the bytes object: a block is megabytes, and a copy of it costs a tenth of its making
        PyBytes::new_with(py, size, |buffer: &mut [u8]| {
            let mut out = Filler { buffer, at: 0 };
            out.put(&head);
            for (names, piece) in &pieces {
                out.put(names);
                match piece {
                    Piece::Column(column) => column.write(&mut out),
                    Piece::Bytes(bytes) => out.put(bytes),
                }
            }
            assert_eq!(out.at, size, "a block's size as counted");
            Ok(())
        })

    }
}
