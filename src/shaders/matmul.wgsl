// out (rows × n) = x (rows × k) · wᵀ, w (n × k) in the format spliced in
// before this file (fmt_*.wgsl provides Item, items_per_row, load_item).
// One workgroup computes one output column n for a tile of up to TILE rows:
// its 64 threads split the row of w into items (8 weights each), dequantize
// each item once and use it for every row of the tile, then reduce.

struct Params {
    n: u32,
    k: u32,
    rows: u32,
    _pad: u32,
}

const WG: u32 = 64u;
const TILE: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> w: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 512>; // (TILE, WG)

fn xload(r: u32, c: u32) -> vec4<f32> {
    let base = r * p.k + c;
    if (c + 3u < p.k) {
        return vec4<f32>(x[base], x[base + 1u], x[base + 2u], x[base + 3u]);
    }
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (c + e < p.k) {
            v[e] = x[base + e];
        }
    }
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let col = wid.x + wid.z * 65535u;
    let r0 = wid.y * TILE;
    let in_range = col < p.n;
    let nr = min(TILE, p.rows - r0);
    var acc: array<f32, 8>;
    for (var r = 0u; r < TILE; r++) {
        acc[r] = 0.0;
    }
    if (in_range) {
        let n_items = items_per_row(p.k);
        for (var i = t; i < n_items; i += WG) {
            let it = load_item(col, p.k, i);
            for (var r = 0u; r < nr; r++) {
                acc[r] += dot(it.w0, xload(r0 + r, it.c0)) + dot(it.w1, xload(r0 + r, it.c1));
            }
        }
    }
    for (var r = 0u; r < TILE; r++) {
        partial[r * WG + t] = acc[r];
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            for (var r = 0u; r < TILE; r++) {
                partial[r * WG + t] += partial[r * WG + t + s];
            }
        }
        workgroupBarrier();
    }
    if (in_range && t < nr) {
        out[(r0 + t) * p.n + col] = partial[t * WG];
    }
}
