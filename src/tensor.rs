//! A tensor as the backends take it: a view of its GGUF bytes with its
//! shape and format, and the one limit a GPU puts on it. Below the model
//! (which finds tensors in a file) and the backends (which upload them).

use crate::quant::GgmlType;
use crate::error::{Error, Result};

/// A view of one tensor's bytes: a matrix of `rows` rows of `cols` weights
/// (ggml's dims[0] = cols), or a vector when rows == 1.
#[derive(Clone, Copy, Debug)]
pub struct TensorData<'a> {
    pub name: &'a str,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
}

/// Whether one row of `bytes` (plus the kernels' 4 spare bytes) fits a GPU
/// binding of at most `max_binding`.
pub fn fits_binding(name: &str, bytes: u64, max_binding: u64) -> Result<()> {
    if bytes + 8 > max_binding {
        return Err(Error::Backend(format!(
            "tensor '{name}': one row needs {:.1} MB, but this GPU binds at most {:.1} MB per buffer; the model is too big for this device's WebGPU (the CPU can still run it)",
            bytes as f64 / 1e6,
            max_binding as f64 / 1e6
        )));
    }
    Ok(())
}
