// RMSNorm fused into the projections that read it, in one dispatch:
//   xn = x / sqrt(mean(x²) + eps) · g   (per row, as rmsnorm.wgsl computes it)
// then, with GLU off, the rows row0..row0+n of a matrix that holds up to
// three projections one after the other (q, k, v) multiply xn, and output
// column c goes to out0 (c < n0), out1 (c < n0 + n1) or out2 (the rest),
// each (rows × its width);
// with GLU on, the matrix holds gate (rows row0..row0+n) then up (the next
// n rows), and out0 (rows × n) = silu(xn · gateᵀ) ⊙ (xn · upᵀ).
// The weight format is spliced in before this file (Item, items_per_row,
// load_item), with xload. The layout is matmul.wgsl's: 64 threads compute
// COLS output columns for a tile of TILE rows, LANES threads a column,
// the same items in the same order, so each dot product is the unfused
// kernel's to the bit; the scale is rmsnorm.wgsl's reduction, also to the
// bit. TILE is 1 (decode) or 8 (prefill).
// With head_dim > 0 (GLU off), the outputs out0 (q) and out1 (k) are turned
// by RoPE as they are stored: row r at position pos0 + r, pair (2i, 2i+1)
// of each head, as rope.wgsl turns them (rope_turn.wgsl, spliced in before
// this file): the same numbers as a rope dispatch after this one. A pair's
// two columns are neighbours in one workgroup (COLS is even, q's and k's
// widths are even).
// With parts > 0 (GLU, one row, k ≤ XS): x is the residual before the
// attention block's update, which waits in out1 as each head's share of
// W_o (attention.wgsl with W_o folded in); the row x + part_0 + part_1 + …
// is built once in workgroup memory and read from there.

struct Params {
    n: u32,
    k: u32,
    rows: u32,
    row0: u32,
    n0: u32,
    n1: u32,
    eps: f32,
    // RoPE of q and k as they are stored (0: none).
    head_dim: u32,
    pos0: u32,
    ratio: f32,
    // Under GLU, one row: the attention heads' shares of W_o waiting in out1
    // (parts × k), added to x first (as pending.wgsl adds them).
    parts: u32,
    _pad1: u32,
}

override TILE: u32 = 8u;
override LANES: u32 = 4u;
override COLS: u32 = 64u / LANES;
override GLU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> w: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read> g: array<f32>;
@group(1) @binding(3) var<storage, read_write> out0: array<f32>;
@group(1) @binding(4) var<storage, read_write> out1: array<f32>;
@group(1) @binding(5) var<storage, read_write> out2: array<f32>;

var<workgroup> partial: array<f32, 1024>; // (64 threads, 8 rows, 2 matrices)
var<workgroup> scale: array<f32, 8>;
var<workgroup> done: array<f32, 128>; // (8 rows, COLS ≤ 16 columns): sums waiting for RoPE
// Room for the row with the pending parts added: only the one-row kernels
// take parts (prefill's tiles keep their workgroup memory small).
override XS: u32 = 2048u;
var<workgroup> xs: array<f32, XS>;

// x[row, c..c+4], or the row built in xs.
fn xget(row: u32, c: u32) -> vec4<f32> {
    if (p.parts == 0u) {
        return xload(row, c);
    }
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (c + e < p.k) {
            v[e] = xs[c + e];
        }
    }
    return v;
}

// Four norm gains g[c..c+4]; past k they read as 0.
fn gload(c: u32) -> vec4<f32> {
    if (c + 3u < p.k) {
        return vec4<f32>(g[c], g[c + 1u], g[c + 2u], g[c + 3u]);
    }
    var v = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) {
        if (c + e < p.k) {
            v[e] = g[c + e];
        }
    }
    return v;
}

// Tile row r's normed activations at the item's columns, times the item
// (x) and, under GLU, times the up matrix's item at the same columns (y):
// the activations are normed once for both.
// ga, gb: the gains at those columns.
fn rowdot(it: Item, iu: Item, ga: vec4<f32>, gb: vec4<f32>, r0: u32, r: u32) -> vec2<f32> {
    let row = min(r0 + r, p.rows - 1u);
    let a = xget(row, it.c0) * scale[r] * ga;
    let b = xget(row, it.c1) * scale[r] * gb;
    var s = vec2<f32>(dot(it.w0, a) + dot(it.w1, b), 0.0);
    if (GLU) {
        s.y = dot(iu.w0, a) + dot(iu.w1, b);
    }
    return s;
}

fn silu_mul(a: f32, b: f32) -> f32 {
    return a / (1.0 + exp(-a)) * b;
}

fn store(r: u32, col: u32, s: f32) {
    if (col < p.n0) {
        out0[r * p.n0 + col] = s;
    } else if (col < p.n0 + p.n1) {
        out1[r * p.n1 + col - p.n0] = s;
    } else {
        let n2 = p.n - p.n0 - p.n1;
        out2[r * n2 + col - p.n0 - p.n1] = s;
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let col = (wid.x + wid.z * 65535u) * COLS + t / LANES;
    let lane = t % LANES;
    let r0 = wid.y * TILE;
    let nr = min(TILE, p.rows - r0);

    if (p.parts != 0u) {
        for (var c = t; c < p.k; c += 64u) {
            var v = x[c];
            for (var h = 0u; h < p.parts; h++) {
                v += out1[h * p.k + c];
            }
            xs[c] = v;
        }
        workgroupBarrier();
    }
    // The norm's scale for each row of the tile, reduced as rmsnorm.wgsl does.
    for (var r = 0u; r < TILE; r++) {
        let base = min(r0 + r, p.rows - 1u) * p.k;
        var ss = 0.0;
        for (var i = t; i < p.k; i += 64u) {
            var v = 0.0;
            if (p.parts == 0u) {
                v = x[base + i];
            } else {
                v = xs[i];
            }
            ss += v * v;
        }
        partial[r * 64u + t] = ss;
    }
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (t < s) {
            for (var r = 0u; r < TILE; r++) {
                partial[r * 64u + t] += partial[r * 64u + t + s];
            }
        }
        workgroupBarrier();
    }
    if (t < TILE) {
        scale[t] = 1.0 / sqrt(partial[t * 64u] / f32(p.k) + p.eps);
    }
    workgroupBarrier();

    // a, b: rows 0..3 and 4..7 of the tile (gate under GLU); c, d: up.
    var a = vec4<f32>(0.0);
    var b = vec4<f32>(0.0);
    var c = vec4<f32>(0.0);
    var d = vec4<f32>(0.0);
    if (col < p.n) {
        let n_items = items_per_row(p.k);
        for (var i = lane; i < n_items; i += LANES) {
            let it = load_item(p.row0 + col, p.k, i);
            // Same format and item: the up item covers the same columns.
            var iu = it;
            if (GLU) {
                iu = load_item(p.row0 + p.n + col, p.k, i);
            }
            let ga = gload(it.c0);
            let gb = gload(it.c1);
            var s = rowdot(it, iu, ga, gb, r0, 0u);
            a.x += s.x;
            c.x += s.y;
            if (TILE > 1u) {
                s = rowdot(it, iu, ga, gb, r0, 1u);
                a.y += s.x;
                c.y += s.y;
                s = rowdot(it, iu, ga, gb, r0, 2u);
                a.z += s.x;
                c.z += s.y;
                s = rowdot(it, iu, ga, gb, r0, 3u);
                a.w += s.x;
                c.w += s.y;
                s = rowdot(it, iu, ga, gb, r0, 4u);
                b.x += s.x;
                d.x += s.y;
                s = rowdot(it, iu, ga, gb, r0, 5u);
                b.y += s.x;
                d.y += s.y;
                s = rowdot(it, iu, ga, gb, r0, 6u);
                b.z += s.x;
                d.z += s.y;
                s = rowdot(it, iu, ga, gb, r0, 7u);
                b.w += s.x;
                d.w += s.y;
            }
        }
    }
    for (var r = 0u; r < 4u; r++) {
        partial[t * 16u + r] = a[r];
        partial[t * 16u + 4u + r] = b[r];
        partial[t * 16u + 8u + r] = c[r];
        partial[t * 16u + 12u + r] = d[r];
    }
    workgroupBarrier();
    if (lane == 0u && col < p.n) {
        for (var r = 0u; r < nr; r++) {
            // The LANES partial sums, added as matmul.wgsl adds them.
            var s = partial[t * 16u + r];
            var u = partial[t * 16u + 8u + r];
            for (var l = 1u; l < LANES; l++) {
                s += partial[(t + l) * 16u + r];
                u += partial[(t + l) * 16u + 8u + r];
            }
            if (GLU) {
                out0[(r0 + r) * p.n + col] = silu_mul(s, u);
            } else if (p.head_dim == 0u) {
                store(r0 + r, col, s);
            } else {
                done[r * COLS + t / LANES] = s;
            }
        }
    }
    if (!GLU && p.head_dim != 0u) {
        workgroupBarrier();
        let c = t / LANES;
        if (lane == 0u && col < p.n) {
            for (var r = 0u; r < nr; r++) {
                var s = done[r * COLS + c];
                if (col < p.n0 + p.n1) {
                    // The column within q or within k, and its pair.
                    let hc = select(col - p.n0, col, col < p.n0);
                    let cs = rope_turn(p.pos0 + r0 + r, (hc % p.head_dim) / 2u, p.ratio);
                    let y = rope_pair(done[r * COLS + (c & ~1u)], done[r * COLS + (c | 1u)], cs);
                    s = select(y.y, y.x, (c & 1u) == 0u);
                }
                store(r0 + r, col, s);
            }
        }
    }
}
