// Rotary position embedding in place, llama.cpp's "normal" layout: in each
// head of q (n_heads) and then of k (n_kv_heads, 0 to rotate q alone), the
// pair (2i, 2i+1) of row r turns by θ_i = (pos0 + r) · ratio^i,
// ratio = base^(-2/head_dim), built by repeated f32 multiplication exactly
// as the CPU backend and ggml build it (same angles, bit for bit).

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
    var theta = f32(p.pos0 + r);
    for (var j = 0u; j < i; j++) {
        theta = theta * p.ratio;
    }
    // Reduce to [-π, π] first (WGSL promises sin/cos accuracy only there):
    // 2π split in two (Cody–Waite), the first part short enough that
    // turns · part is exact for every angle of an 8,192+ context.
    let turns = round(theta * 0.15915494309189535);
    let a = (theta - turns * 6.28125) - turns * 0.0019353071795864769;
    let c = cos(a);
    let s = sin(a);
    if (h < p.n_heads) {
        let o = (r * p.n_heads + h) * p.head_dim + 2u * i;
        let x0 = q[o];
        let x1 = q[o + 1u];
        q[o] = x0 * c - x1 * s;
        q[o + 1u] = x0 * s + x1 * c;
    } else {
        let o = (r * p.n_kv_heads + h - p.n_heads) * p.head_dim + 2u * i;
        let x0 = k[o];
        let x1 = k[o + 1u];
        k[o] = x0 * c - x1 * s;
        k[o + 1u] = x0 * s + x1 * c;
    }
}
