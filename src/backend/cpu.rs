//! The CPU reference backend: plain loops in f32 on the exact dequantized
//! weights. Matrices stay in their GGUF blocks and are dequantized inside the
//! dot product (see `quant`); output rows are spread over a thread pool
//! (`pool`: natively all cores; in the page a pool of Web Workers, see
//! `worker::threads`). Each output element is computed by one thread in a
//! fixed order, so results do not depend on the thread count
//! (tests/threads.rs).

use half::f16;

use crate::backend::pool::Pool;
use crate::backend::{AttnShape, Backend, CacheShape, QStore};
use crate::tensor::TensorData;
use crate::quant::{self, GgmlType};
use crate::error::Result;

/// One (row, head) of attention's results: its probabilities, output and log-sum-exp.
type HeadRow<'a> = (&'a mut [f32], &'a mut [f32], &'a mut f32);

/// A weight matrix: `rows` rows of `cols` weights, each row `row_bytes` of blocks.
pub struct CpuMat {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    row_bytes: usize,
    data: Vec<u8>,
}

impl CpuMat {
    pub fn new(ty: GgmlType, rows: usize, cols: usize, data: Vec<u8>) -> CpuMat {
        let row_bytes = ty.bytes_for(cols);
        assert_eq!(data.len(), rows * row_bytes, "matrix data size");
        CpuMat { ty, rows, cols, row_bytes, data }
    }
    pub fn row(&self, i: usize) -> &[u8] {
        &self.data[i * self.row_bytes..(i + 1) * self.row_bytes]
    }
    /// Row i as f32.
    pub fn dequantize_row(&self, i: usize, out: &mut [f32]) {
        quant::dequantize(self.ty, self.row(i), &mut out[..self.cols]);
    }
}

/// One layer's attention cache (see `Backend::Cache`).
pub struct CpuCache {
    pub shape: CacheShape,
    pub k: Vec<f32>,   // (capacity, kv_dim)
    pub v: Vec<f32>,   // (capacity, kv_dim)
    pub q: QRows,      // (capacity, n_heads·head_dim)
    pub lse: Vec<f32>, // (capacity, n_heads)
}

/// Stored q rows, at the precision the cache was made with.
pub enum QRows {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

impl CpuCache {
    fn resize(&mut self, capacity: usize) {
        let s = self.shape;
        self.k.resize(capacity * s.kv_dim(), 0.0);
        self.v.resize(capacity * s.kv_dim(), 0.0);
        self.lse.resize(capacity * s.n_heads, 0.0);
        match &mut self.q {
            QRows::F32(q) => q.resize(capacity * s.q_dim(), 0.0),
            QRows::F16(q) => q.resize(capacity * s.q_dim(), f16::ZERO),
        }
    }
    /// Positions this cache holds.
    pub fn capacity(&self) -> usize {
        self.lse.len() / self.shape.n_heads
    }
    /// Query head `h`'s stored q at position `pos`, as f32.
    pub fn q_row(&self, pos: usize, h: usize, out: &mut [f32]) {
        let hd = self.shape.head_dim;
        let start = pos * self.shape.q_dim() + h * hd;
        match &self.q {
            QRows::F32(q) => out[..hd].copy_from_slice(&q[start..start + hd]),
            QRows::F16(q) => out[..hd].iter_mut().zip(&q[start..start + hd]).for_each(|(o, v)| *o = v.to_f32()),
        }
    }
}

/// The CPU backend, computing on a thread pool (`pool`).
pub struct Cpu {
    pool: Pool,
    /// The token the last `pick` chose.
    picked: u32,
}

impl Default for Cpu {
    fn default() -> Cpu {
        Cpu::new()
    }
}

impl Cpu {
    /// On the shared pool: every core natively (`GLASSBOX_THREADS` sets
    /// the count), the page's Web Worker pool in its threaded build, the
    /// one thread in its plain build.
    pub fn new() -> Cpu {
        Cpu { pool: Pool::global(), picked: 0 }
    }
    /// On a pool of `threads` threads of its own (the caller counted).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_threads(threads: usize) -> Cpu {
        Cpu { pool: Pool::new(threads), picked: 0 }
    }
    /// Threads computing: the caller and its pool's.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }
}

/// Weight rows a task of a prefill matmul takes (each is dequantized once
/// and used for every activation row).
const MATMUL_CHUNK: usize = 32;

/// Weight rows a task of a decode pass takes: the job's rows in about two
/// pieces a thread (rounded to the four-row kernel), at least 32, at most
/// about a million weights. A task is a claim both threads write to and a
/// new stream of weights: with 32-row tasks (about 6,400 a step) two threads
/// decoded at 89–103 tok/s, with pieces like these at 117–126 (medians of
/// interleaved runs, AVX2, 2 threads; one thread: the same either way).
/// Which rows a task takes never changes what is computed for a row.
fn decode_chunk(total_rows: usize, cols: usize, threads: usize) -> usize {
    let even = total_rows.div_ceil(2 * threads.max(1)).div_ceil(4) * 4;
    let most = ((1 << 20) / cols.max(1)).max(32) / 4 * 4;
    even.clamp(32, most.max(32))
}

/// Decode: out[j] = (row start + j of w) · x, four rows at a time where the
/// format has a four-row kernel (the same bits as one row at a time).
fn matvec_rows(w: &CpuMat, start: usize, x: &[f32], out: &mut [f32], scratch: &mut Vec<f32>) {
    type Dot4 = fn([&[u8]; 4], &[f32]) -> [f32; 4];
    let quad: Option<Dot4> = match w.ty {
        GgmlType::Q4_1 => Some(quant::dot4_q4_1),
        GgmlType::Q8_0 => Some(quant::dot4_q8_0),
        _ => None,
    };
    let mut done = 0;
    if let Some(dot4) = quad {
        for (q, o) in out.chunks_exact_mut(4).enumerate() {
            let r = start + 4 * q;
            o.copy_from_slice(&dot4([w.row(r), w.row(r + 1), w.row(r + 2), w.row(r + 3)], x));
            done += 4;
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(done) {
        *o = quant::dot_row(w.ty, w.row(start + j), x, scratch);
    }
}

/// Decode for several matrices that read the same `x` (one row), in one
/// parallel job: `jobs` pairs each matrix with its output (w.rows floats).
/// Every output element is computed by one thread as `matvec_rows` does,
/// so the result does not depend on the split.
fn matvecs(pool: &Pool, jobs: Vec<(&CpuMat, &mut [f32])>, x: &[f32]) {
    let chunk = decode_chunk(jobs.iter().map(|j| j.0.rows).sum(), jobs.first().map_or(1, |j| j.0.cols), pool.threads());
    let tasks: Vec<(&CpuMat, usize, SyncCell<&mut [f32]>)> = jobs
        .into_iter()
        .flat_map(|(w, out)| out[..w.rows].chunks_mut(chunk).enumerate().map(move |(c, o)| (w, c * chunk, SyncCell::new(o))))
        .collect();
    let x = &x[..tasks.first().map_or(0, |t| t.0.cols)];
    pool.run(tasks.len(), |i| {
        let (w, start, o) = &tasks[i];
        // SAFETY: task i alone takes output piece i.
        let o = unsafe { o.get() };
        SCRATCH.with(|s| matvec_rows(w, *start, x, o, &mut s.borrow_mut()));
    });
}

/// Decode's gate and up projections and the SwiGLU between them, in one
/// parallel job: each task computes the same rows of both and applies
/// `swiglu` to them (`out` = silu(gate)·up, `up_out` = up), so the 1,536
/// exponentials of a layer no longer run on one thread after the job.
fn matvec_glu(pool: &Pool, gate: &CpuMat, up: &CpuMat, out: &mut [f32], up_out: &mut [f32], x: &[f32]) {
    let n = out.len().min(up_out.len()).min(gate.rows).min(up.rows);
    let chunk = decode_chunk(2 * n, gate.cols, pool.threads()).div_ceil(2).div_ceil(4) * 4;
    type Piece<'a> = (usize, SyncCell<(&'a mut [f32], &'a mut [f32])>);
    let tasks: Vec<Piece> =
        out[..n].chunks_mut(chunk).zip(up_out[..n].chunks_mut(chunk)).enumerate().map(|(c, p)| (c * chunk, SyncCell::new(p))).collect();
    let x = &x[..gate.cols];
    pool.run(tasks.len(), |i| {
        let (start, cell) = &tasks[i];
        // SAFETY: task i alone takes output pieces i.
        let (g, u) = unsafe { cell.get() };
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            matvec_rows(gate, *start, x, g, &mut s);
            matvec_rows(up, *start, x, u, &mut s);
        });
        swiglu_rows(g, u);
    });
}

/// out = silu(gate)·up, element by element (`Backend::swiglu`).
fn swiglu_rows(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// The output rows of a prefill matmul, written by column ranges (each task its own).
struct Columns(*mut f32);
unsafe impl Sync for Columns {}

thread_local! {
    /// Four weight rows dequantized, for the prefill matmul.
    static WBUF: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A row dequantized for formats without a fused dot product.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A value that one task of a job takes mutably (tasks take different ones).
struct SyncCell<T>(std::cell::UnsafeCell<T>);
unsafe impl<T: Send> Sync for SyncCell<T> {}
impl<T> SyncCell<T> {
    fn new(v: T) -> SyncCell<T> {
        SyncCell(std::cell::UnsafeCell::new(v))
    }
    /// SAFETY: one task at a time takes it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self) -> &mut T {
        &mut *self.0.get()
    }
}

impl Backend for Cpu {
    type Buf = Vec<f32>;
    type Mat = CpuMat;
    type Vec = Vec<f32>;
    type Cache = CpuCache;

    fn name(&self) -> String {
        "CPU".into()
    }

    fn sibling(&self) -> Cpu {
        Cpu { pool: self.pool.clone(), picked: 0 }
    }

    fn upload_mat(&mut self, t: &TensorData) -> Result<CpuMat> {
        Ok(CpuMat::new(t.ty, t.rows, t.cols, t.data.to_vec()))
    }

    fn upload_vec(&mut self, t: &TensorData) -> Result<Vec<f32>> {
        let mut v = vec![0f32; t.rows * t.cols];
        quant::dequantize(t.ty, t.data, &mut v);
        Ok(v)
    }

    fn buf(&mut self, len: usize) -> Vec<f32> {
        vec![0f32; len]
    }

    fn upload_f32(&mut self, data: &[f32]) -> Vec<f32> {
        data.to_vec()
    }

    fn attn_cache(&mut self, capacity: usize, shape: CacheShape) -> CpuCache {
        let q = match shape.q_store {
            QStore::F32 => QRows::F32(Vec::new()),
            QStore::F16 => QRows::F16(Vec::new()),
        };
        let mut c = CpuCache { shape, k: Vec::new(), v: Vec::new(), q, lse: Vec::new() };
        c.resize(capacity);
        c
    }

    fn grow_cache(&mut self, cache: &mut CpuCache, capacity: usize, _len: usize) {
        if capacity > cache.capacity() {
            cache.resize(capacity);
        }
    }

    fn copy_cache(&mut self, src: &CpuCache, dst: &mut CpuCache, len: usize) {
        let s = src.shape;
        assert_eq!(s, dst.shape, "copy_cache between different shapes");
        let (kv, qd, nh) = (s.kv_dim(), s.q_dim(), s.n_heads);
        dst.k[..len * kv].copy_from_slice(&src.k[..len * kv]);
        dst.v[..len * kv].copy_from_slice(&src.v[..len * kv]);
        dst.lse[..len * nh].copy_from_slice(&src.lse[..len * nh]);
        match (&src.q, &mut dst.q) {
            (QRows::F32(a), QRows::F32(b)) => b[..len * qd].copy_from_slice(&a[..len * qd]),
            (QRows::F16(a), QRows::F16(b)) => b[..len * qd].copy_from_slice(&a[..len * qd]),
            _ => unreachable!("same shape, same q store"),
        }
    }

    fn write_f32(&mut self, buf: &mut Vec<f32>, data: &[f32]) {
        buf[..data.len()].copy_from_slice(data);
    }

    fn embed(&mut self, table: &CpuMat, tokens: &[u32], out: &mut Vec<f32>) {
        let d = table.cols;
        for (r, &t) in tokens.iter().enumerate() {
            table.dequantize_row(t as usize, &mut out[r * d..(r + 1) * d]);
        }
    }

    fn rmsnorm(&mut self, x: &Vec<f32>, w: &Vec<f32>, out: &mut Vec<f32>, rows: usize, eps: f32) {
        let d = w.len();
        for r in 0..rows {
            let xr = &x[r * d..(r + 1) * d];
            // Sum of squares in f64, as ggml does.
            let ss: f64 = xr.iter().map(|&v| (v * v) as f64).sum();
            let scale = 1.0 / ((ss / d as f64) as f32 + eps).sqrt();
            for ((o, &xi), &wi) in out[r * d..(r + 1) * d].iter_mut().zip(xr).zip(w) {
                *o = xi * scale * wi;
            }
        }
    }

    fn matmul(&mut self, x: &Vec<f32>, w: &CpuMat, out: &mut Vec<f32>, rows: usize) {
        let (n, k) = (w.rows, w.cols);
        if rows == 1 {
            // Decode: one activation row, dequantize inside the dot product.
            matvecs(&self.pool, vec![(w, &mut out[..])], x);
            return;
        }
        // Prefill: dequantize each weight row once and use it for every
        // activation row, four weight rows by four activation rows at a
        // time (a register tile: `dot_f32_tile`). Results per element are
        // bit-identical to the decode path. Each task takes MATMUL_CHUNK
        // weight rows: its own columns of every output row.
        let xs: Vec<&[f32]> = x[..rows * k].chunks_exact(k).collect();
        let out = &mut out[..rows * n];
        let base = Columns(out.as_mut_ptr());
        self.pool.run(n.div_ceil(MATMUL_CHUNK), |c| {
            let base = &base;
            // SAFETY: task c alone writes columns c·CHUNK.. of each row, all inside `out`.
            let put = |r: usize, i: usize, v: f32| unsafe { *base.0.add(r * n + i) = v };
            WBUF.with(|wb| {
                let mut wbuf = wb.borrow_mut();
                wbuf.resize(4 * k, 0.0);
                let end = ((c + 1) * MATMUL_CHUNK).min(n);
                for i0 in (c * MATMUL_CHUNK..end).step_by(4) {
                    let nw = (end - i0).min(4);
                    for j in 0..nw {
                        w.dequantize_row(i0 + j, &mut wbuf[j * k..(j + 1) * k]);
                    }
                    let ws = |j: usize| &wbuf[j * k..(j + 1) * k];
                    let mut r = 0;
                    if nw == 4 {
                        while r + 4 <= rows {
                            let t = quant::dot_f32_tile([ws(0), ws(1), ws(2), ws(3)], [xs[r], xs[r + 1], xs[r + 2], xs[r + 3]]);
                            for (j, tj) in t.iter().enumerate() {
                                for (ri, &v) in tj.iter().enumerate() {
                                    put(r + ri, i0 + j, v);
                                }
                            }
                            r += 4;
                        }
                    }
                    for j in 0..nw {
                        for (rr, x) in xs.iter().enumerate().skip(r) {
                            put(rr, i0 + j, quant::dot_f32(ws(j), x));
                        }
                    }
                }
            });
        });
    }

    // Decode: the same ops, with every projection in one parallel pass.
    fn norm_matmul(&mut self, x: &Vec<f32>, g: &Vec<f32>, eps: f32, ws: &[&CpuMat], outs: &mut [&mut Vec<f32>], normed: &mut Vec<f32>, rows: usize) {
        if rows > 1 {
            return crate::backend::unfused_norm_matmul(self, x, g, eps, ws, outs, normed, rows);
        }
        self.rmsnorm(x, g, normed, 1, eps);
        matvecs(&self.pool, ws.iter().copied().zip(outs.iter_mut().map(|o| &mut o[..])).collect(), normed);
    }

    fn norm_glu(&mut self, x: &Vec<f32>, g: &Vec<f32>, eps: f32, gate: &CpuMat, up: &CpuMat, out: &mut Vec<f32>, up_out: &mut Vec<f32>, normed: &mut Vec<f32>, rows: usize, n: usize) {
        if rows > 1 {
            return crate::backend::unfused_norm_glu(self, x, g, eps, gate, up, out, up_out, normed, rows, n);
        }
        self.rmsnorm(x, g, normed, 1, eps);
        matvec_glu(&self.pool, gate, up, &mut out[..n], &mut up_out[..n], normed);
    }

    fn rope(&mut self, x: &mut Vec<f32>, rows: usize, n_heads: usize, head_dim: usize, pos0: usize, base: f32) {
        // As ggml: theta_i = pos · scale^i with scale = base^(-2/head_dim),
        // built by repeated multiplication in f32 (see `rope_angles`).
        let width = n_heads * head_dim;
        for r in 0..rows {
            let cs: Vec<(f32, f32)> = crate::backend::rope_angles(pos0 + r, head_dim, base).iter().map(|t| (t.cos(), t.sin())).collect();
            for h in 0..n_heads {
                let v = &mut x[r * width + h * head_dim..r * width + (h + 1) * head_dim];
                for (i, &(c, s)) in cs.iter().enumerate() {
                    let (x0, x1) = (v[2 * i], v[2 * i + 1]);
                    v[2 * i] = x0 * c - x1 * s;
                    v[2 * i + 1] = x0 * s + x1 * c;
                }
            }
        }
    }

    fn attention(
        &mut self,
        s: AttnShape,
        q: &Vec<f32>,
        k: &Vec<f32>,
        v: &Vec<f32>,
        cache: &mut CpuCache,
        out: &mut Vec<f32>,
        (probs, offset): (&mut Vec<f32>, usize),
    ) {
        let (hd, kvd) = (s.head_dim, cache.shape.kv_dim());
        let qd = s.n_heads * hd;
        let group = s.n_heads / s.n_kv_heads;
        let kv_len = s.kv_len();
        // Append the new keys, values and queries to the cache.
        if s.store {
            cache.k[s.pos0 * kvd..kv_len * kvd].copy_from_slice(&k[..s.rows * kvd]);
            cache.v[s.pos0 * kvd..kv_len * kvd].copy_from_slice(&v[..s.rows * kvd]);
            match &mut cache.q {
                QRows::F32(qs) => qs[s.pos0 * qd..kv_len * qd].copy_from_slice(&q[..s.rows * qd]),
                QRows::F16(qs) => qs[s.pos0 * qd..kv_len * qd].iter_mut().zip(&q[..s.rows * qd]).for_each(|(o, &x)| *o = f16::from_f32(x)),
            }
        }
        let scale = 1.0 / (hd as f32).sqrt();
        let (kc, vc) = (&cache.k, &cache.v);
        let key = |t: usize, kvh: usize| &kc[t * kvd + kvh * hd..t * kvd + (kvh + 1) * hd];
        let query = |r: usize, h: usize| &q[r * qd + h * hd..r * qd + (h + 1) * hd];
        // A row's probabilities from its scores (in `att`), its output and lse.
        let finish = |r: usize, h: usize, att: &mut [f32], oh: &mut [f32], lse: &mut f32| {
            let n_keys = s.pos0 + r + 1; // causal: keys 0..=pos
            let kvh = h / group; // GQA: query head h reads KV head h / group
            *lse = crate::sampling::softmax_in_place(&mut att[..n_keys]);
            att[n_keys..].fill(0.0);
            oh.fill(0.0);
            // oh += a_t · v_t for t in order (the sums kept in registers).
            quant::axpy_rows(oh, &att[..n_keys], &vc[kvh * hd..], kvd);
        };
        let n = s.rows * s.n_heads;
        let probs = &mut probs[offset..offset + n * kv_len];
        let out = &mut out[..n * hd];
        let mut unstored = Vec::new();
        let lse = if s.store {
            &mut cache.lse[s.pos0 * s.n_heads..(s.pos0 + s.rows) * s.n_heads]
        } else {
            unstored.resize(n, 0.0);
            &mut unstored[..]
        };
        // Each (row, head)'s probabilities, output and lse: disjoint slices.
        let cells: Vec<SyncCell<HeadRow>> =
            probs.chunks_mut(kv_len).zip(out.chunks_mut(hd)).zip(lse.iter_mut()).map(|((a, o), l)| SyncCell::new((a, o, l))).collect();
        // One task per head and group of four rows: the scores of four
        // queries against four keys at a time (`dot_f32_tile`, each score
        // with `dot_f32`'s bits), where every row of the group sees the
        // keys; the rest one by one. Each value is computed the same way
        // on any thread and in any group.
        let groups = s.rows.div_ceil(4);
        self.pool.run(groups * s.n_heads, |j| {
            let (g, h) = (j / s.n_heads, j % s.n_heads);
            let kvh = h / group;
            let rows = 4 * g..(4 * g + 4).min(s.rows);
            // SAFETY: this task alone takes the cells of its rows and head.
            let mut mine: Vec<&mut (&mut [f32], &mut [f32], &mut f32)> = rows.clone().map(|r| unsafe { cells[r * s.n_heads + h].get() }).collect();
            let mut tiled = 0;
            if mine.len() == 4 {
                let qs = [query(4 * g, h), query(4 * g + 1, h), query(4 * g + 2, h), query(4 * g + 3, h)];
                tiled = (s.pos0 + 4 * g + 1) / 4 * 4; // keys every row of the group sees
                for t in (0..tiled).step_by(4) {
                    let sc = quant::dot_f32_tile([key(t, kvh), key(t + 1, kvh), key(t + 2, kvh), key(t + 3, kvh)], qs);
                    for (ri, cell) in mine.iter_mut().enumerate() {
                        for (i, sci) in sc.iter().enumerate() {
                            cell.0[t + i] = sci[ri] * scale;
                        }
                    }
                }
            }
            for (cell, r) in mine.iter_mut().zip(rows) {
                let qh = query(r, h);
                let (end, mut t) = (s.pos0 + r + 1, tiled);
                // Four keys at a time, each score with `dot_f32`'s bits.
                while t + 4 <= end {
                    let sc = quant::dot4_f32([key(t, kvh), key(t + 1, kvh), key(t + 2, kvh), key(t + 3, kvh)], qh);
                    for (i, v) in sc.iter().enumerate() {
                        cell.0[t + i] = v * scale;
                    }
                    t += 4;
                }
                for t in t..end {
                    cell.0[t] = quant::dot_f32(qh, key(t, kvh)) * scale;
                }
                let (att, oh, l) = &mut **cell;
                finish(r, h, att, oh, l);
            }
        });
    }

    fn attn_map(&mut self, cache: &CpuCache, head: usize, idx: &Vec<f32>, n_rows: usize, n_cols: usize, out: &mut Vec<f32>, offset: usize) {
        let sh = cache.shape;
        let (hd, kvd) = (sh.head_dim, sh.kv_dim());
        let kvh = head / (sh.n_heads / sh.n_kv_heads);
        let scale = 1.0 / (hd as f32).sqrt();
        let (rows, cols) = idx[..n_rows + n_cols].split_at(n_rows);
        let mut qh = vec![0f32; hd];
        for (i, r) in rows.iter().map(|r| r.to_bits() as usize).enumerate() {
            cache.q_row(r, head, &mut qh);
            let lse = cache.lse[r * sh.n_heads + head];
            let o = &mut out[offset + i * n_cols..offset + (i + 1) * n_cols];
            for (w, c) in o.iter_mut().zip(cols.iter().map(|c| c.to_bits() as usize)) {
                *w = if c <= r {
                    // The score exactly as `attention` computed it.
                    let kc = &cache.k[c * kvd + kvh * hd..c * kvd + (kvh + 1) * hd];
                    (quant::dot_f32(&qh, kc) * scale - lse).exp()
                } else {
                    0.0
                };
            }
        }
    }

    fn pick(&mut self, topk: &Vec<f32>, n: usize) {
        let (top, _) = crate::backend::merge_topk(&topk[..crate::backend::topk_len(n)], n);
        self.picked = top.first().map_or(0, |t| t.0);
    }

    fn embed_picked(&mut self, table: &CpuMat, out: &mut Vec<f32>) {
        let t = self.picked;
        self.embed(table, &[t], out);
    }

    fn topk(&mut self, logits: &Vec<f32>, rows: usize, n: usize, out: &mut Vec<f32>) {
        use crate::backend::{topk_len, TOPK_CHUNK, TOPK_K};
        let stride = 2 + 2 * TOPK_K;
        for r in 0..rows {
            let (row, packed) = (&logits[r * n..(r + 1) * n], &mut out[r * topk_len(n)..(r + 1) * topk_len(n)]);
            // Chunks on the pool's threads (each fills its own slot, the
            // same numbers whoever computes it): a step's 48 exp-sums and
            // selections were the engine's longest serial stretch.
            self.pool.chunks(packed, stride, |c, o| {
                let chunk = &row[c * TOPK_CHUNK..((c + 1) * TOPK_CHUNK).min(n)];
                let m = chunk.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                o[0] = m;
                o[1] = chunk.iter().map(|&l| (l - m).exp()).sum();
                let base = c * TOPK_CHUNK;
                let top = crate::sampling::top_n(chunk, TOPK_K);
                for k in 0..TOPK_K {
                    let (id, l) = top.get(k).map(|&(i, l)| (base as u32 + i, l)).unwrap_or((u32::MAX, -3.0e38));
                    o[2 + 2 * k] = f32::from_bits(id);
                    o[3 + 2 * k] = l;
                }
            });
        }
    }

    fn token_rank(&mut self, logits: &Vec<f32>, rows: usize, n: usize, targets: &Vec<f32>, out: &mut Vec<f32>) {
        for r in 0..rows {
            let row = &logits[r * n..(r + 1) * n];
            let t = targets[r].to_bits() as usize;
            let (logit, rank) = match row.get(t) {
                Some(&l) => (l, row.iter().filter(|&&x| x > l).count() as f32),
                None => (0.0, -1.0),
            };
            out[2 * r] = logit;
            out[2 * r + 1] = rank;
        }
    }

    fn mask_heads(&mut self, x: &mut Vec<f32>, rows: usize, n_heads: usize, head_dim: usize, mask: &Vec<f32>, offset: usize) {
        for (i, head) in x[..rows * n_heads * head_dim].chunks_mut(head_dim).enumerate() {
            let m = mask[offset + i % n_heads];
            head.iter_mut().for_each(|v| *v *= m);
        }
    }

    fn cache_kv(cache: &CpuCache) -> (&Vec<f32>, &Vec<f32>) {
        (&cache.k, &cache.v)
    }

    fn swiglu(&mut self, gate: &mut Vec<f32>, up: &Vec<f32>, len: usize) {
        swiglu_rows(&mut gate[..len], &up[..len]);
    }

    fn add(&mut self, x: &mut Vec<f32>, y: &Vec<f32>, len: usize) {
        for (a, &b) in x[..len].iter_mut().zip(&y[..len]) {
            *a += b;
        }
    }

    fn copy(&mut self, src: &Vec<f32>, src_off: usize, dst: &mut Vec<f32>, dst_off: usize, len: usize) {
        dst[dst_off..dst_off + len].copy_from_slice(&src[src_off..src_off + len]);
    }

    async fn read(&mut self, bufs: &[(&Vec<f32>, usize)]) -> Result<Vec<Vec<f32>>> {
        Ok(bufs.iter().map(|(b, len)| b[..*len].to_vec()).collect())
    }
}

