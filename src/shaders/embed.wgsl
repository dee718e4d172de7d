// out[r, c] = row tokens[r] of the embedding table w (format spliced in before).

struct Params {
    k: u32,     // row width (dim)
    rows: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> w: array<u32>;
@group(1) @binding(1) var<storage, read> tokens: array<u32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let c = g.x;
    let r = g.y;
    if (c >= p.k || r >= p.rows) {
        return;
    }
    out[r * p.k + c] = weight_at(tokens[r], p.k, c);
}
