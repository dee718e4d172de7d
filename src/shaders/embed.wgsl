// out[r, c] = row tokens[r] of the embedding table w (format spliced in before).
// A table split over buffers takes one dispatch per piece: this one holds
// table rows first..first + count, stored from row row0 of `w`; tokens
// outside it are left to the other pieces.

struct Params {
    k: u32,     // row width (dim)
    rows: u32,
    first: u32,
    count: u32,
    row0: u32,
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
    let t = tokens[r];
    if (t < p.first || t - p.first >= p.count) {
        return;
    }
    out[r * p.k + c] = weight_at(t - p.first + p.row0, p.k, c);
}
