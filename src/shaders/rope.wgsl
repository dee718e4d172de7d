// Rotary position embedding in place, llama.cpp's "normal" layout: in each
// head of q (n_heads) and then of k (n_kv_heads, 0 to rotate q alone), the
// pair (2i, 2i+1) of row r turns by θ_i = (pos0 + r) · ratio^i (rope_turn.wgsl,
// spliced in before this file).

struct Params {
    rows: u32,
    n_heads: u32,
    head_dim: u32,
    pos0: u32,
    ratio: f32,
    n_kv_heads: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read_write> q: array<f32>;
@group(1) @binding(1) var<storage, read_write> k: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let half = p.head_dim / 2u;
    let i = g.x % half;
    let h = g.x / half; // q heads first, then k heads
    let r = g.y;
    if (h >= p.n_heads + p.n_kv_heads || r >= p.rows) {
        return;
    }
    let cs = rope_turn(p.pos0 + r, i, p.ratio);
    if (h < p.n_heads) {
        let o = (r * p.n_heads + h) * p.head_dim + 2u * i;
        let y = rope_pair(q[o], q[o + 1u], cs);
        q[o] = y.x;
        q[o + 1u] = y.y;
    } else {
        let o = (r * p.n_kv_heads + h - p.n_heads) * p.head_dim + 2u * i;
        let y = rope_pair(k[o], k[o + 1u], cs);
        k[o] = y.x;
        k[o + 1u] = y.y;
    }
}
