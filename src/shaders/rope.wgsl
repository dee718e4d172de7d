// Rotary position embedding in place, llama.cpp's "normal" layout: in each
// head, the pair (2i, 2i+1) of row r turns by (pos0 + r) · base^(-2i/head_dim).

struct Params {
    rows: u32,
    n_heads: u32,
    head_dim: u32,
    pos0: u32,
    base: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let half = p.head_dim / 2u;
    let i = g.x % half;
    let h = g.x / half;
    let r = g.y;
    if (h >= p.n_heads || r >= p.rows) {
        return;
    }
    let theta = f32(p.pos0 + r) * pow(p.base, -2.0 * f32(i) / f32(p.head_dim));
    let c = cos(theta);
    let s = sin(theta);
    let o = (r * p.n_heads + h) * p.head_dim + 2u * i;
    let x0 = x[o];
    let x1 = x[o + 1u];
    x[o] = x0 * c - x1 * s;
    x[o + 1u] = x0 * s + x1 * c;
}
