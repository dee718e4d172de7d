//! Per-kernel GPU time from timestamp queries, for `glassbox bench` (native only).

use super::*;

/// Per-kernel GPU time from timestamp queries (native benchmarks only: each
/// dispatch then gets a pass of its own, which itself costs a little).
pub(super) struct Profiler {
    pub(super) queries: wgpu::QuerySet,
    pub(super) resolve: wgpu::Buffer,
    pub(super) readback: wgpu::Buffer,
    /// Kernels of the last submission, in dispatch order.
    pub(super) last: Vec<Kernel>,
    /// Total nanoseconds and dispatch count per kernel name.
    pub(super) totals: HashMap<String, (f64, usize)>,
}

impl Gpu {
    /// Start timing every dispatch with timestamp queries (needs the
    /// adapter's `timestamp-query`). Returns false when it is unavailable.
    pub fn start_profiling(&mut self) -> bool {
        if !self.ctx.timestamps {
            return false;
        }
        let n = MAX_SLOTS * 2;
        let d = &self.ctx.device;
        let queries = d.create_query_set(&wgpu::QuerySetDescriptor { label: Some("timestamps"), ty: wgpu::QueryType::Timestamp, count: n });
        let resolve = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: n as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: n as u64 * 8,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.profiler = Some(Profiler { queries, resolve, readback, last: Vec::new(), totals: HashMap::new() });
        true
    }


    /// Total GPU milliseconds and dispatch count per kernel since profiling
    /// started (or since the last call), most expensive first.
    pub fn profile(&mut self) -> Vec<(String, f64, usize)> {
        let Some(prof) = self.profiler.as_mut() else { return Vec::new() };
        let mut v: Vec<_> = prof.totals.drain().map(|(k, (ns, n))| (k, ns / 1e6, n)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }


    pub(super) async fn collect_profile(&mut self) -> Result<()> {
        let Some(prof) = self.profiler.as_mut() else { return Ok(()) };
        let n = prof.last.len();
        if n == 0 {
            return Ok(());
        }
        let slice = prof.readback.slice(..n as u64 * 16);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Backend(format!("waiting for the GPU: {e}")))?;
        rx.await
            .map_err(|_| Error::Backend("timestamp readback dropped".into()))?
            .map_err(|e| Error::Backend(format!("timestamp readback: {e}")))?;
        let period = self.ctx.queue.get_timestamp_period() as f64;
        {
            let view = slice.get_mapped_range().map_err(|e| Error::Backend(format!("timestamp readback: {e}")))?;
            let ts: &[u64] = bytemuck::cast_slice(&view);
            for (i, k) in prof.last.iter().enumerate() {
                let ns = ts[2 * i + 1].saturating_sub(ts[2 * i]) as f64 * period;
                let e = prof.totals.entry(k.name()).or_insert((0.0, 0));
                e.0 += ns;
                e.1 += 1;
            }
        }
        prof.readback.unmap();
        prof.last.clear();
        Ok(())
    }
}
