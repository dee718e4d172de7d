// out (rows × n) = x (rows × k) · wᵀ, w (n × k) in the format spliced in
// before this file (fmt_*.wgsl provides Item, items_per_row, load_item).
// A workgroup of 64 threads computes 16 output columns for a tile of TILE
// rows: 4 threads share each column, stepping through its items (8 weights
// each, dequantized once and used for every row of the tile), and their 4
// partial sums are added at the end. TILE is a pipeline constant: 1 for
// decode, 8 for prefill.

struct Params {
    n: u32,
    k: u32,
    rows: u32,
    // 1: add to what `out` holds (the residual stream), as add.wgsl would.
    acc: u32,
    // First row of this matrix in `w` (matrices uploaded together share a buffer).
    row0: u32,
    // `out`'s row stride and the column of `out` this matrix's row 0 writes
    // (a matrix split over buffers: one dispatch per piece; else n and 0).
    ld: u32,
    c0: u32,
    // With acc, one row: the attention heads' shares of W_o waiting in
    // `parts` (parts × ld), added to the residual first (pending.wgsl).
    parts: u32,
}

fn store(i: u32, s: f32) {
    if (p.acc != 0u) {
        out[i] = pending(i) + s;
    } else {
        out[i] = s;
    }
}

override TILE: u32 = 8u;
override COLS: u32 = 64u / LANES; // output columns per workgroup
override LANES: u32 = 4u;  // threads per column (1, 2 or 4)

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> w: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;
@group(1) @binding(3) var<storage, read> parts_in: array<f32>;

var<workgroup> partial: array<f32, 512>; // (64 threads, 8 rows)

// Row r of the tile (rows past the end repeat the last row; their results are dropped).
fn rowdot(it: Item, r0: u32, r: u32) -> f32 {
    let row = min(r0 + r, p.rows - 1u);
    return dot(it.w0, xload(row, it.c0)) + dot(it.w1, xload(row, it.c1));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let col = (wid.x + wid.z * 65535u) * COLS + t / LANES;
    let lane = t % LANES;
    let r0 = wid.y * TILE;
    let nr = min(TILE, p.rows - r0);
    // Rows 0..3 and 4..7 of the tile, unrolled by hand (TILE is 1 or 8).
    var a = vec4<f32>(0.0);
    var b = vec4<f32>(0.0);
    if (col < p.n) {
        let n_items = items_per_row(p.k);
        for (var i = lane; i < n_items; i += LANES) {
            let it = load_item(p.row0 + col, p.k, i);
            a.x += rowdot(it, r0, 0u);
            if (TILE > 1u) {
                a.y += rowdot(it, r0, 1u);
                a.z += rowdot(it, r0, 2u);
                a.w += rowdot(it, r0, 3u);
                b.x += rowdot(it, r0, 4u);
                b.y += rowdot(it, r0, 5u);
                b.z += rowdot(it, r0, 6u);
                b.w += rowdot(it, r0, 7u);
            }
        }
    }
    if (LANES == 1u) {
        if (col < p.n) {
            for (var r = 0u; r < nr; r++) {
                store((r0 + r) * p.ld + p.c0 + col, select(a[r], b[r % 4u], r >= 4u));
            }
        }
        return;
    }
    for (var r = 0u; r < 4u; r++) {
        partial[t * 8u + r] = a[r];
        partial[t * 8u + 4u + r] = b[r];
    }
    workgroupBarrier();
    if (lane == 0u && col < p.n) {
        for (var r = 0u; r < nr; r++) {
            var s = 0.0;
            for (var l = 0u; l < LANES; l++) {
                s += partial[(t + l) * 8u + r];
            }
            store((r0 + r) * p.ld + p.c0 + col, s);
        }
    }
}
