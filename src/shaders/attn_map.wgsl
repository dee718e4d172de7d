// Attention weights of one query head recomputed from a layer's cache, at
// sampled points: the maps the page draws, on demand, without storing T².
// idx holds n_rows query positions, then n_cols key positions. For i < n_rows
// (workgroup y, z) and j < n_cols (64 per workgroup along x), with r = idx[i],
// c = idx[n_rows + j]:
//   out[out_offset + i·n_cols + j] = exp(q_r·k_c · scale − lse[r, head])  if c ≤ r
//                                    0                                    otherwise (causal mask)
// q_r comes from the q store (f32 bits, or f16 pairs when q_f16 = 1); the
// score is summed in the same order as attention.wgsl, so with an f32 store
// the weights equal the forward pass's own.

struct Params {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    head: u32,
    n_rows: u32,
    n_cols: u32,
    out_offset: u32,
    scale: f32,
    q_f16: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> q_store: array<u32>;
@group(1) @binding(1) var<storage, read> kc: array<f32>;
@group(1) @binding(2) var<storage, read> lse: array<f32>;
@group(1) @binding(3) var<storage, read> idx: array<u32>;
@group(1) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> qs: array<f32, 256>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let i = wid.y + wid.z * 65535u;
    if (i >= p.n_rows) {
        return;
    }
    let hd = p.head_dim;
    let h = p.head;
    let kvh = h / (p.n_heads / p.n_kv_heads);
    let kv_dim = p.n_kv_heads * hd;
    let r = idx[i];
    let base = (r * p.n_heads + h) * hd;
    for (var d = t; d < hd; d += WG) {
        if (p.q_f16 == 1u) {
            let pair = unpack2x16float(q_store[(base + d) / 2u]);
            qs[d] = select(pair.x, pair.y, (d & 1u) == 1u);
        } else {
            qs[d] = bitcast<f32>(q_store[base + d]);
        }
    }
    workgroupBarrier();

    let j = wid.x * WG + t;
    if (j >= p.n_cols) {
        return;
    }
    let c = idx[p.n_rows + j];
    var w = 0.0;
    if (c <= r) {
        var s = 0.0;
        let kb = c * kv_dim + kvh * hd;
        for (var d = 0u; d < hd; d++) {
            s += qs[d] * kc[kb + d];
        }
        s *= p.scale;
        w = exp(s - lse[r * p.n_heads + h]);
    }
    out[p.out_offset + i * p.n_cols + j] = w;
}
