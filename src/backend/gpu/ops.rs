//! The `Backend` ops on the GPU: each records its dispatches (see `record`);
//! `read` submits them and maps the results back.

use bytemuck::{Pod, Zeroable};

use super::*;

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct P4 {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

fn f(x: f32) -> u32 {
    x.to_bits()
}

impl Gpu {

    /// out = x · wᵀ, or out += x · wᵀ with `acc` (the residual add fused in):
    /// one dispatch per piece of `w`, each writing its own columns of `out`.
    /// With `parts` (one row, acc): the attention heads' shares of W_o
    /// waiting in that buffer, (n, out's width), added to out first (pending.wgsl).
    fn matmul_acc(&mut self, x: &GpuBuf, w: &GpuMat, out: &mut GpuBuf, rows: usize, acc: bool, parts: Option<(&GpuBuf, usize)>) {
        let (kernel, tile, lanes) = if rows == 1 && self.ctx.subgroups {
            (Kernel::MatvecSg(w.fmt), 1, 64.0) // one column per workgroup
        } else if rows == 1 {
            (Kernel::Matvec(w.fmt), 1, kernels::MATVEC_LANES)
        } else {
            (Kernel::Matmul(w.fmt), 8, kernels::MATMUL_LANES)
        };
        debug_assert!(parts.is_none() || (rows == 1 && acc), "pending parts are added to one row's residual");
        // Without parts, x is bound again in their place (read-only both times).
        let (pb, n_parts) = parts.map_or((x, 0), |(b, n)| (b, n as u32));
        for pc in &w.pieces {
            let p = [pc.rows as u32, w.cols as u32, rows as u32, acc as u32, pc.row0 as u32, w.rows as u32, pc.first as u32, n_parts];
            let (gx, gz) = groups_1d(pc.rows, 64 / lanes as usize);
            self.dispatch(
                kernel,
                &[(&pc.buffer, pc.id), (&x.buffer, x.id), (&out.buffer, out.id), (&pb.buffer, pb.id)],
                bytemuck::cast_slice(&p),
                [gx, rows.div_ceil(tile) as u32, gz],
            );
        }
    }


    /// One dispatch of the fused norm + projection kernel over rows
    /// w.row0..w.row0 + n (+ n more for `glu`) of `w`'s buffer; `outs` are
    /// its three outputs (see norm_matmul.wgsl), `n0`, `n1` the first two
    /// widths; with `rope`, the first two outputs (q, k) turned as stored.
    /// With `parts` > 0 (GLU, one row): that many heads' shares of W_o wait
    /// in outs[1], added to x first.
    #[allow(clippy::too_many_arguments)]
    fn norm_dispatch(&mut self, x: &GpuBuf, g: &GpuBuf, eps: f32, w: &GpuMat, n: usize, n0: usize, n1: usize, glu: bool, outs: [&GpuBuf; 3], rows: usize, rope: Option<RopeAt>, parts: usize) {
        let pc = w.whole().expect("the fused kernels read matrices in one piece");
        let (head_dim, pos0, ratio) = rope.map_or((0, 0, 0), |r| (r.head_dim as u32, r.pos0 as u32, f(crate::backend::rope_ratio(r.head_dim, r.base))));
        let p = [n as u32, w.cols as u32, rows as u32, pc.row0 as u32, n0 as u32, n1 as u32, f(eps), head_dim, pos0, ratio, parts as u32, 0];
        let (kernel, tile, lanes) =
            if rows == 1 { (Kernel::NormMatvec(w.fmt, glu), 1, kernels::MATVEC_LANES) } else { (Kernel::NormMatmul(w.fmt, glu), 8, kernels::MATMUL_LANES) };
        let (gx, gz) = groups_1d(n, 64 / lanes as usize);
        let [o0, o1, o2] = outs;
        self.dispatch(
            kernel,
            &[(&pc.buffer, pc.id), (&x.buffer, x.id), (&g.buffer, g.id), (&o0.buffer, o0.id), (&o1.buffer, o1.id), (&o2.buffer, o2.id)],
            bytemuck::cast_slice(&p),
            [gx, rows.div_ceil(tile) as u32, gz],
        );
    }


    /// The attention kernel; with `wo` (one row), W_o folded in: `out`
    /// gets each head's share of W_o · heads, (n_heads, wo.rows).
    #[allow(clippy::too_many_arguments)]
    fn attention_dispatch(&mut self, s: AttnShape, q: &GpuBuf, k: &GpuBuf, v: &GpuBuf, cache: &mut GpuCache, out: &GpuBuf, probs: (&mut GpuBuf, usize), wo: Option<&GpuMat>) {
        let row_bytes = (cache.shape.kv_dim() * 4) as u64;
        if s.store {
            let (kb, vb) = (cache.k.buffer.clone(), cache.v.buffer.clone());
            self.copy_bytes(&k.buffer, 0, &kb, s.pos0 as u64 * row_bytes, s.rows as u64 * row_bytes);
            self.copy_bytes(&v.buffer, 0, &vb, s.pos0 as u64 * row_bytes, s.rows as u64 * row_bytes);
        }
        let (pb, offset) = probs;
        let (pbuf, pid) = (pb.buffer.clone(), pb.id);
        let p = [
            s.rows as u32,
            s.pos0 as u32,
            s.n_heads as u32,
            s.n_kv_heads as u32,
            s.head_dim as u32,
            s.kv_len() as u32,
            offset as u32,
            f(1.0 / (s.head_dim as f32).sqrt()),
            (cache.shape.q_store == QStore::F16) as u32,
            s.store as u32,
            wo.map_or(0, |w| w.rows as u32),
            wo.and_then(|w| w.whole()).map_or(0, |pc| pc.row0 as u32),
        ];
        let c = &*cache;
        // (Without W_o the last binding is not passed: no allocation a dispatch.)
        let (kernel, wb) = match wo {
            Some(w) => {
                debug_assert_eq!(s.rows, 1, "W_o folds into one row's attention");
                let pc = w.whole().expect("W_o in one piece");
                (Kernel::AttentionWo(w.fmt), (&pc.buffer, pc.id))
            }
            None => (Kernel::Attention, (&q.buffer, q.id)),
        };
        let binds = [
            (&q.buffer, q.id),
            (&c.k.buffer, c.k.id),
            (&c.v.buffer, c.v.id),
            (&out.buffer, out.id),
            (&pbuf, pid),
            (&c.q.buffer, c.q.id),
            (&c.lse.buffer, c.lse.id),
            wb,
        ];
        let n = if wo.is_some() { 8 } else { 7 };
        self.dispatch(kernel, &binds[..n], bytemuck::cast_slice(&p), [s.n_heads as u32, s.rows as u32, 1]);
    }

    /// The fused norm + q/k/v dispatch, when the three matrices were
    /// uploaded together (false: nothing recorded).
    #[allow(clippy::too_many_arguments)]
    fn norm_qkv_dispatch(&mut self, x: &GpuBuf, g: &GpuBuf, eps: f32, ws: &[&GpuMat], outs: &mut [&mut GpuBuf], rows: usize, rope: Option<RopeAt>) -> bool {
        let ([w0, w1, w2], [o0, o1, o2]) = (ws, &mut *outs) else { return false };
        if !(w0.followed_by(w1) && w1.followed_by(w2)) {
            return false;
        }
        let n = w0.rows + w1.rows + w2.rows;
        self.norm_dispatch(x, g, eps, w0, n, w0.rows, w1.rows, false, [o0, o1, o2], rows, rope, 0);
        true
    }

    /// Rotate q's `n_heads` and then k's `n_kv_heads` heads in one dispatch.
    #[allow(clippy::too_many_arguments)]
    fn rope_dispatch(&mut self, q: (&wgpu::Buffer, u64), k: (&wgpu::Buffer, u64), rows: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize, pos0: usize, base: f32) {
        // The angles are built as on the CPU (crate::backend::rope_angles):
        // the same f32 ratio, multiplied in the same order.
        let p = [rows as u32, n_heads as u32, head_dim as u32, pos0 as u32, f(crate::backend::rope_ratio(head_dim, base)), n_kv_heads as u32, 0, 0];
        let groups = [((n_heads + n_kv_heads) * head_dim / 2).div_ceil(64) as u32, rows as u32, 1];
        self.dispatch(Kernel::Rope, &[q, k], bytemuck::cast_slice(&p), groups);
    }
}

/// Workgroups for `n` items of `per` threads, split over x and z when x would pass the limit.
fn groups_1d(n: usize, per: usize) -> (u32, u32) {
    let g = n.div_ceil(per).max(1) as u32;
    if g <= 65535 {
        (g, 1)
    } else {
        (65535, g.div_ceil(65535))
    }
}

impl Backend for Gpu {
    type Buf = GpuBuf;
    type Mat = GpuMat;
    type Vec = GpuBuf;
    type Cache = GpuCache;

    fn name(&self) -> String {
        format!("GPU · {}", self.ctx.describe())
    }

    fn device_bytes(&self) -> Option<u64> {
        Some(self.bytes_alive)
    }

    fn max_binding(&self) -> Option<u64> {
        Some(self.ctx.max_binding())
    }

    /// Shares the compiled pipelines (and can use weights uploaded by this one).
    fn sibling(&self) -> Gpu {
        Gpu::with_kernels(self.ctx.clone(), self.kernels.clone())
    }

    fn upload_mat(&mut self, t: &TensorData) -> Result<GpuMat> {
        if t.data.len() as u64 + 4 > self.ctx.max_binding() {
            return self.upload_split(t);
        }
        Ok(self.upload_together(std::slice::from_ref(t))?.remove(0))
    }

    /// Matrices of one format and width go into one buffer, one after the
    /// other, so that the fused kernels read them in one dispatch (unless
    /// together they would pass the binding limit: then each alone).
    fn upload_mats(&mut self, ts: &[TensorData]) -> Result<Vec<GpuMat>> {
        let same = ts.windows(2).all(|p| p[0].ty == p[1].ty && p[0].cols == p[1].cols);
        let bytes: u64 = ts.iter().map(|t| t.data.len() as u64).sum();
        if ts.len() > 1 && same && self.ctx.check_binding("matrices uploaded together", bytes + 4).is_ok() {
            self.upload_together(ts)
        } else {
            ts.iter().map(|t| self.upload_mat(t)).collect()
        }
    }

    fn upload_vec(&mut self, t: &TensorData) -> Result<GpuBuf> {
        let mut v = vec![0f32; t.rows * t.cols];
        quant::dequantize(t.ty, t.data, &mut v);
        let b = self.buf(v.len());
        self.ctx.queue.write_buffer(&b.buffer, 0, bytemuck::cast_slice(&v));
        Ok(b)
    }

    fn buf(&mut self, len: usize) -> GpuBuf {
        let buffer = self.storage("activations", len as u64 * 4, wgpu::BufferUsages::empty());
        GpuBuf { buffer, len, id: self.id() }
    }

    fn upload_f32(&mut self, data: &[f32]) -> GpuBuf {
        let b = self.buf(data.len());
        self.ctx.queue.write_buffer(&b.buffer, 0, bytemuck::cast_slice(data));
        b
    }

    fn attn_cache(&mut self, capacity: usize, shape: CacheShape) -> GpuCache {
        let [k, v, q, lse] = GpuCache::widths(&shape).map(|w| self.buf(capacity * w));
        GpuCache { shape, capacity, k, v, q, lse }
    }

    fn grow_cache(&mut self, cache: &mut GpuCache, capacity: usize, len: usize) {
        if capacity <= cache.capacity {
            return;
        }
        // New buffers; the positions in use are copied over in order with
        // the recorded ops, then the old buffers are given back.
        let widths = GpuCache::widths(&cache.shape);
        let mut bigger = widths.map(|w| self.buf(capacity * w));
        let old = [&mut cache.k, &mut cache.v, &mut cache.q, &mut cache.lse];
        for ((o, n), w) in old.into_iter().zip(bigger.iter_mut()).zip(widths) {
            let (src, dst) = (o.buffer.clone(), n.buffer.clone());
            self.copy_bytes(&src, 0, &dst, 0, (len.min(cache.capacity) * w * 4) as u64);
            std::mem::swap(o, n);
        }
        for b in bigger {
            self.free(b);
        }
        cache.capacity = capacity;
    }

    fn copy_cache(&mut self, src: &GpuCache, dst: &mut GpuCache, len: usize) {
        assert_eq!(src.shape, dst.shape, "copy_cache between different shapes");
        assert!(len <= src.capacity && len <= dst.capacity, "copy_cache past a cache's capacity");
        let widths = GpuCache::widths(&src.shape);
        for ((a, b), w) in [(&src.k, &dst.k), (&src.v, &dst.v), (&src.q, &dst.q), (&src.lse, &dst.lse)].into_iter().zip(widths) {
            let (a, b) = (a.buffer.clone(), b.buffer.clone());
            self.copy_bytes(&a, 0, &b, 0, (len * w * 4) as u64);
        }
    }

    fn free(&mut self, buf: GpuBuf) {
        self.forget(buf.id);
        self.bytes_alive = self.bytes_alive.saturating_sub((buf.len as u64 * 4).max(4).next_multiple_of(4));
        // wgpu keeps the buffer alive while a recorded command still uses it.
        drop(buf);
    }

    fn write_f32(&mut self, buf: &mut GpuBuf, data: &[f32]) {
        assert!(data.len() <= buf.len, "write_f32 past the end of the buffer");
        // Queue writes land before the next submission, which carries every
        // recorded op that could read this buffer.
        self.ctx.queue.write_buffer(&buf.buffer, 0, bytemuck::cast_slice(data));
    }

    fn embed(&mut self, table: &GpuMat, tokens: &[u32], out: &mut GpuBuf) {
        assert!(tokens.len() <= MAX_TOKENS);
        // One list of tokens goes up with each submission: what an earlier
        // embedding of other tokens recorded runs first (two passes over
        // different prompts between reads: activation patching).
        if self.tokens.as_deref().is_some_and(|t| t != tokens) {
            self.submit(|_| {});
        }
        self.tokens = Some(tokens.to_vec());
        let tb = self.tokens_buf.clone();
        // One dispatch per piece: each writes the tokens whose rows it holds.
        for pc in &table.pieces {
            if !tokens.iter().any(|&t| (pc.first..pc.first + pc.rows).contains(&(t as usize))) {
                continue;
            }
            let p = [table.cols as u32, tokens.len() as u32, pc.first as u32, pc.rows as u32, pc.row0 as u32, 0, 0, 0];
            self.dispatch(
                Kernel::Embed(table.fmt),
                &[(&pc.buffer, pc.id), (&tb, 0), (&out.buffer, out.id)],
                bytemuck::cast_slice(&p),
                [table.cols.div_ceil(64) as u32, tokens.len() as u32, 1],
            );
        }
    }

    fn pick(&mut self, topk: &GpuBuf, n: usize) {
        let p = P4 { a: n as u32, b: n.div_ceil(crate::backend::TOPK_CHUNK) as u32, c: 0, d: 0 };
        let (pb, pid) = (self.picked.clone(), self.picked_id);
        self.dispatch(Kernel::Pick, &[(&topk.buffer, topk.id), (&pb, pid)], bytemuck::bytes_of(&p), [1, 1, 1]);
    }

    fn embed_picked(&mut self, table: &GpuMat, out: &mut GpuBuf) {
        // Every piece looks: the host does not know which holds the token.
        let (pb, pid) = (self.picked.clone(), self.picked_id);
        for pc in &table.pieces {
            let p = [table.cols as u32, 1, pc.first as u32, pc.rows as u32, pc.row0 as u32, 0, 0, 0];
            self.dispatch(Kernel::Embed(table.fmt), &[(&pc.buffer, pc.id), (&pb, pid), (&out.buffer, out.id)], bytemuck::cast_slice(&p), [table.cols.div_ceil(64) as u32, 1, 1]);
        }
    }

    fn flush(&mut self) {
        if !self.cmds.is_empty() {
            self.submit(|_| {});
        }
    }

    fn submissions(&self) -> Option<usize> {
        Some(self.submissions)
    }

    fn readbacks(&self) -> Option<(usize, u64)> {
        Some((self.reads, self.bytes_read))
    }

    fn rmsnorm(&mut self, x: &GpuBuf, w: &GpuBuf, out: &mut GpuBuf, rows: usize, eps: f32) {
        let p = P4 { a: w.len as u32, b: rows as u32, c: f(eps), d: 0 };
        self.dispatch(Kernel::RmsNorm, &[(&x.buffer, x.id), (&w.buffer, w.id), (&out.buffer, out.id)], bytemuck::bytes_of(&p), [rows as u32, 1, 1]);
    }

    fn matmul(&mut self, x: &GpuBuf, w: &GpuMat, out: &mut GpuBuf, rows: usize) {
        self.matmul_acc(x, w, out, rows, false, None);
    }

    fn matmul_add(&mut self, x: &GpuBuf, w: &GpuMat, out: &mut GpuBuf, _tmp: &mut GpuBuf, rows: usize, _n: usize) {
        self.matmul_acc(x, w, out, rows, true, None);
    }


    fn rope(&mut self, x: &mut GpuBuf, rows: usize, n_heads: usize, head_dim: usize, pos0: usize, base: f32) {
        // No k heads: the kernel's k binding is bound to a buffer it never touches.
        let tb = self.tokens_buf.clone();
        self.rope_dispatch((&x.buffer, x.id), (&tb, 0), rows, n_heads, 0, head_dim, pos0, base);
    }

    fn rope_qk(&mut self, q: &mut GpuBuf, k: &mut GpuBuf, rows: usize, n_heads: usize, n_kv_heads: usize, head_dim: usize, pos0: usize, base: f32) {
        self.rope_dispatch((&q.buffer, q.id), (&k.buffer, k.id), rows, n_heads, n_kv_heads, head_dim, pos0, base);
    }

    fn norm_matmul(&mut self, x: &GpuBuf, g: &GpuBuf, eps: f32, ws: &[&GpuMat], outs: &mut [&mut GpuBuf], normed: &mut GpuBuf, rows: usize) {
        if !self.norm_qkv_dispatch(x, g, eps, ws, outs, rows, None) {
            crate::backend::unfused_norm_matmul(self, x, g, eps, ws, outs, normed, rows);
        }
    }

    fn norm_qkv_rope(&mut self, x: &GpuBuf, g: &GpuBuf, eps: f32, ws: &[&GpuMat], outs: &mut [&mut GpuBuf], normed: &mut GpuBuf, rows: usize, rope: RopeAt) {
        // A pair (2i, 2i+1) is two neighbouring columns of one workgroup
        // when q's and k's widths are whole pairs.
        let pairs = rope.head_dim.is_multiple_of(2)
            && ws.first().is_some_and(|w| w.rows == rope.n_heads * rope.head_dim)
            && ws.get(1).is_some_and(|w| w.rows == rope.n_kv_heads * rope.head_dim);
        if !(pairs && self.norm_qkv_dispatch(x, g, eps, ws, outs, rows, Some(rope))) {
            crate::backend::unfused_norm_qkv_rope(self, x, g, eps, ws, outs, normed, rows, rope);
        }
    }

    fn norm_glu(&mut self, x: &GpuBuf, g: &GpuBuf, eps: f32, gate: &GpuMat, up: &GpuMat, out: &mut GpuBuf, up_out: &mut GpuBuf, normed: &mut GpuBuf, rows: usize, n: usize) {
        if gate.followed_by(up) && gate.rows == up.rows {
            // out1 and out2 are bound but never written under GLU.
            self.norm_dispatch(x, g, eps, gate, gate.rows, gate.rows, 0, true, [out, up_out, normed], rows, None, 0);
            return;
        }
        crate::backend::unfused_norm_glu(self, x, g, eps, gate, up, out, up_out, normed, rows, n);
    }

    fn attention(
        &mut self,
        s: AttnShape,
        q: &GpuBuf,
        k: &GpuBuf,
        v: &GpuBuf,
        cache: &mut GpuCache,
        out: &mut GpuBuf,
        probs: (&mut GpuBuf, usize),
    ) {
        self.attention_dispatch(s, q, k, v, cache, out, probs, None);
    }

    fn attention_ffn(&mut self, s: AttnShape, q: &GpuBuf, k: &GpuBuf, v: &GpuBuf, cache: &mut GpuCache, probs: (&mut GpuBuf, usize), x: &mut GpuBuf, w: &LayerTail<Self>, t: TailBufs<Self>, taps: TailTaps<Self>) {
        // W_o folds into the attention for one row, a head's columns being
        // whole blocks of W_o's format, the FFN's norm taking gate and up in
        // one dispatch, and the row fitting that kernel's workgroup memory.
        let hd = s.head_dim;
        let fold = s.rows == 1
            && w.wo.whole().is_some()
            && w.wo.rows == w.dim
            && w.wo.cols == s.n_heads * hd
            && hd.is_multiple_of(w.wo.fmt.block_cols())
            && hd <= 256
            && w.dim <= kernels::PARTS_MAX_DIM
            && w.gate.followed_by(w.up)
            && w.gate.rows == w.up.rows;
        if !fold {
            return crate::backend::unfused_attention_ffn(self, s, q, k, v, cache, probs, x, w, t, taps);
        }
        let len = s.n_heads * w.dim;
        if self.parts.as_ref().is_none_or(|p| p.len < len) {
            if let Some(old) = self.parts.take() {
                self.free(old);
            }
            self.parts = Some(self.buf(len));
        }
        let parts = self.parts.take().expect("the parts buffer");
        let (pb, poff) = probs;
        self.attention_dispatch(s, q, k, v, cache, &parts, (&mut *pb, poff), Some(w.wo));
        self.norm_dispatch(x, w.ffn_norm, w.eps, w.gate, w.gate.rows, w.gate.rows, 0, true, [t.hidden, &parts, t.heads], 1, None, s.n_heads);
        self.matmul_acc(t.hidden, w.down, x, 1, true, Some((&parts, s.n_heads)));
        // What the map reads, copied out after: extra dispatches, no number
        // of x changed. The folded kernel keeps the heads in workgroup
        // memory: the plain kernel again, over what the cache now holds.
        let d = w.dim;
        if taps.heads_out.is_some() || taps.updates.is_some() {
            self.attention_dispatch(AttnShape { store: false, ..s }, q, k, v, cache, t.heads, (&mut *pb, poff), None);
        }
        if let Some((out, off)) = taps.heads_out {
            self.copy(t.heads, 0, out, off, d);
        }
        if let Some((u, attn_at, ffn_at)) = taps.updates {
            // Each block's update alone, as its definition computes it.
            self.matmul(t.heads, w.wo, t.tmp, 1);
            self.copy(t.tmp, 0, u, attn_at, d);
            self.matmul(t.hidden, w.down, t.tmp, 1);
            self.copy(t.tmp, 0, u, ffn_at, d);
        }
        if let Some((out, off)) = taps.ffn_hidden {
            self.copy(t.hidden, 0, out, off, w.ffn_dim);
        }
        self.parts = Some(parts);
    }

    fn attn_map(&mut self, cache: &GpuCache, head: usize, idx: &GpuBuf, n_rows: usize, n_cols: usize, out: &mut GpuBuf, offset: usize) {
        let sh = cache.shape;
        let p = [
            sh.n_heads as u32,
            sh.n_kv_heads as u32,
            sh.head_dim as u32,
            head as u32,
            n_rows as u32,
            n_cols as u32,
            offset as u32,
            f(1.0 / (sh.head_dim as f32).sqrt()),
            (sh.q_store == QStore::F16) as u32,
        ];
        let (gy, gz) = groups_1d(n_rows, 1);
        self.dispatch(
            Kernel::AttnMap,
            &[(&cache.q.buffer, cache.q.id), (&cache.k.buffer, cache.k.id), (&cache.lse.buffer, cache.lse.id), (&idx.buffer, idx.id), (&out.buffer, out.id)],
            bytemuck::cast_slice(&p),
            [n_cols.div_ceil(64) as u32, gy, gz],
        );
    }

    fn topk(&mut self, logits: &GpuBuf, rows: usize, n: usize, out: &mut GpuBuf) {
        let p = P4 { a: n as u32, b: rows as u32, c: 0, d: 0 };
        let chunks = n.div_ceil(crate::backend::TOPK_CHUNK) as u32;
        self.dispatch(Kernel::TopK, &[(&logits.buffer, logits.id), (&out.buffer, out.id)], bytemuck::bytes_of(&p), [chunks, rows as u32, 1]);
    }

    fn token_rank(&mut self, logits: &GpuBuf, rows: usize, n: usize, targets: &GpuBuf, out: &mut GpuBuf) {
        let p = P4 { a: n as u32, b: rows as u32, c: 0, d: 0 };
        self.dispatch(
            Kernel::TokenRank,
            &[(&logits.buffer, logits.id), (&targets.buffer, targets.id), (&out.buffer, out.id)],
            bytemuck::bytes_of(&p),
            [rows as u32, 1, 1],
        );
    }

    fn mask_heads(&mut self, x: &mut GpuBuf, rows: usize, n_heads: usize, head_dim: usize, mask: &GpuBuf, offset: usize) {
        let len = rows * n_heads * head_dim;
        let p = P4 { a: len as u32, b: n_heads as u32, c: head_dim as u32, d: offset as u32 };
        let (gx, gy) = groups_1d(len, 256);
        self.dispatch(Kernel::MaskHeads, &[(&x.buffer, x.id), (&mask.buffer, mask.id)], bytemuck::bytes_of(&p), [gx, gy, 1]);
    }

    fn cache_kv(cache: &GpuCache) -> (&GpuBuf, &GpuBuf) {
        (&cache.k, &cache.v)
    }

    fn swiglu(&mut self, gate: &mut GpuBuf, up: &GpuBuf, len: usize) {
        let p = P4 { a: len as u32, b: 0, c: 0, d: 0 };
        let (gx, gy) = groups_1d(len, 256);
        self.dispatch(Kernel::SwiGlu, &[(&gate.buffer, gate.id), (&up.buffer, up.id)], bytemuck::bytes_of(&p), [gx, gy, 1]);
    }

    fn add(&mut self, x: &mut GpuBuf, y: &GpuBuf, len: usize) {
        let p = P4 { a: len as u32, b: 0, c: 0, d: 0 };
        let (gx, gy) = groups_1d(len, 256);
        self.dispatch(Kernel::Add, &[(&x.buffer, x.id), (&y.buffer, y.id)], bytemuck::bytes_of(&p), [gx, gy, 1]);
    }

    fn copy(&mut self, src: &GpuBuf, src_off: usize, dst: &mut GpuBuf, dst_off: usize, len: usize) {
        let (s, d) = (src.buffer.clone(), dst.buffer.clone());
        self.copy_bytes(&s, src_off as u64 * 4, &d, dst_off as u64 * 4, len as u64 * 4);
    }

    fn enable_profiling(&mut self) -> bool {
        self.start_profiling()
    }
    fn take_profile(&mut self) -> Vec<(String, f64, usize)> {
        self.profile()
    }
    fn last_dispatches(&self) -> Option<usize> {
        Some(self.last_dispatches)
    }

    async fn read(&mut self, bufs: &[(&GpuBuf, usize)]) -> Result<Vec<Vec<f32>>> {
        let total: u64 = bufs.iter().map(|(_, n)| *n as u64 * 4).sum::<u64>().max(4);
        self.reads += 1;
        self.bytes_read += total;
        // Sized by the buffers' capacities, not this read's lengths, so that
        // a growing sequence does not reallocate it.
        let capacity: u64 = bufs.iter().map(|(b, _)| b.len as u64 * 4).sum::<u64>().max(total);
        if self.staging.as_ref().is_none_or(|s| s.size() < total) {
            self.buffers_created += 1;
            self.staging = Some(self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("staging"),
                size: capacity.next_multiple_of(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let staging = self.staging.clone().expect("staging buffer");
        self.submit(|enc| {
            let mut off = 0;
            for (b, n) in bufs {
                let bytes = *n as u64 * 4;
                if bytes > 0 {
                    enc.copy_buffer_to_buffer(&b.buffer, 0, &staging, off, bytes);
                }
                off += bytes;
            }
        });
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..total).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Backend(format!("waiting for the GPU: {e}")))?;
        rx.await
            .map_err(|_| Error::Backend("the GPU readback was dropped".into()))?
            .map_err(|e| Error::Backend(format!("reading back from the GPU: {e}")))?;
        let out = {
            let view = staging.slice(..total).get_mapped_range().map_err(|e| Error::Backend(format!("reading back from the GPU: {e}")))?;
            let all: &[f32] = bytemuck::cast_slice(&view);
            let mut off = 0;
            bufs.iter()
                .map(|(_, n)| {
                    let v = all[off..off + n].to_vec();
                    off += n;
                    v
                })
                .collect()
        };
        staging.unmap();
        self.collect_profile().await?;
        // A validation or memory error anywhere since the last readback
        // makes these numbers suspect: say so instead of returning them.
        self.ctx.take_error()?;
        Ok(out)
    }
}
