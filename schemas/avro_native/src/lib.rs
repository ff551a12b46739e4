//! The compiled Avro codec of the workers' hot path (issue 20): a reader and a writer built once per
//! schema. The Python code stays the reference (fastavro for reading, avro_writer.py for writing);
//! tests hold each side by side with it. The sink's staging blocks (native_block.rs) are held against the
//! engine's own Avro reader.

mod cursor;
mod native_block;
mod reader;
mod schema;
mod writer;

use pyo3::prelude::*;

#[pymodule]
fn _avro_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<reader::Reader>()?;
    module.add_class::<native_block::NativeBlock>()?;
    module.add_class::<writer::Writer>()
}
