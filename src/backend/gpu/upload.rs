//! Uploads: weights in their GGUF blocks (a matrix larger than one binding
//! split by rows over buffers, matrices read by one kernel uploaded into one
//! buffer), and the storage buffers every op writes.

use super::*;

impl Gpu {

    pub(super) fn storage(&mut self, label: &str, bytes: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
        self.buffers_created += 1;
        let size = bytes.max(4).next_multiple_of(4);
        self.bytes_alive += size;
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST | extra,
            mapped_at_creation: false,
        })
    }


    /// Upload `ts` (one format and width) into one buffer, rows one after the other.
    pub(super) fn upload_together(&mut self, ts: &[TensorData]) -> Result<Vec<GpuMat>> {
        let t0 = &ts[0];
        let fmt = WeightFmt::of(t0.ty).ok_or_else(|| Error::Backend(format!("tensor '{}' ({}) cannot be read by the GPU kernels", t0.name, t0.ty)))?;
        self.kernels.warm(fmt, ts.len() > 1);
        let len: usize = ts.iter().map(|t| t.data.len()).sum();
        // 4 spare bytes: the Q8_0 reader may load one word past a row's last block.
        let size = (len as u64 + 4).next_multiple_of(4);
        let names: Vec<&str> = ts.iter().map(|t| t.name).collect();
        let label = names.join(" + ");
        self.ctx.check_binding(&format!("tensor '{label}'"), size)?;
        let buffer = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&label),
            size,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: true,
        });
        {
            let mut view = buffer.slice(..).get_mapped_range_mut().map_err(|e| Error::Backend(format!("mapping the buffer for '{label}': {e}")))?;
            let mut off = 0;
            for t in ts {
                view.slice(off..off + t.data.len()).copy_from_slice(t.data);
                off += t.data.len();
            }
        }
        buffer.unmap();
        self.bytes_alive += size;
        let id = self.id();
        let mut row0 = 0;
        Ok(ts
            .iter()
            .map(|t| {
                let piece = Piece { buffer: buffer.clone(), id, first: 0, rows: t.rows, row0 };
                row0 += t.rows;
                GpuMat { fmt, rows: t.rows, cols: t.cols, pieces: vec![piece] }
            })
            .collect())
    }


    /// Upload a matrix larger than one binding as pieces of whole rows, each
    /// uploaded alone (a buffer of its own that the device can bind).
    pub(super) fn upload_split(&mut self, t: &TensorData) -> Result<GpuMat> {
        let row_bytes = t.data.len() / t.rows.max(1);
        crate::tensor::fits_binding(t.name, row_bytes as u64, self.ctx.max_binding())?;
        let per = split_rows(row_bytes, t.rows, self.ctx.max_binding());
        let mut pieces = Vec::new();
        let mut fmt = None;
        for first in (0..t.rows).step_by(per) {
            let rows = per.min(t.rows - first);
            let part = TensorData { rows, data: &t.data[first * row_bytes..(first + rows) * row_bytes], ..*t };
            let m = self.upload_together(std::slice::from_ref(&part))?.remove(0);
            fmt = Some(m.fmt);
            pieces.extend(m.pieces.into_iter().map(|p| Piece { first, ..p }));
        }
        Ok(GpuMat { fmt: fmt.expect("a matrix has rows"), rows: t.rows, cols: t.cols, pieces })
    }
}

pub(super) fn split_rows(row_bytes: usize, rows: usize, max: u64) -> usize {
    (max.saturating_sub(8) / row_bytes.max(1) as u64).min(rows as u64) as usize
}
