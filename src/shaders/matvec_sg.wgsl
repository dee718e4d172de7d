// Decode matrix × vector with subgroup reductions (used when the device has
// the `subgroups` feature): out (n) = w (n × k) · x (k), w in the format
// spliced in before this file. One workgroup per output column: its 64
// threads step through the row's items (8 weights each), each subgroup adds
// its partial sums with subgroupAdd, and thread 0 adds the subgroups'
// totals. Which threads form a subgroup is up to the device, so each
// subgroup's total is picked out by its lane 0, not by a guessed index.

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
    // With acc: the heads' shares of W_o waiting in `parts` (pending.wgsl).
    parts: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> w: array<u32>;
@group(1) @binding(1) var<storage, read> x: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;
@group(1) @binding(3) var<storage, read> parts_in: array<f32>;

var<workgroup> partial: array<f32, 64>;
var<workgroup> leader: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let col = wid.x + wid.z * 65535u;
    var acc = 0.0;
    if (col < p.n) {
        let n_items = items_per_row(p.k);
        for (var i = t; i < n_items; i += WG) {
            let it = load_item(p.row0 + col, p.k, i);
            acc += dot(it.w0, xload(0u, it.c0)) + dot(it.w1, xload(0u, it.c1));
        }
    }
    // Every thread reaches this: subgroup operations need uniform control flow.
    let s = subgroupAdd(acc);
    partial[t] = s;
    leader[t] = select(0u, 1u, lane == 0u);
    workgroupBarrier();
    if (t == 0u && col < p.n) {
        var total = 0.0;
        for (var i = 0u; i < WG; i++) {
            if (leader[i] == 1u) {
                total += partial[i];
            }
        }
        let o = p.c0 + col;
        if (p.acc != 0u) {
            out[o] = pending(o) + total;
        } else {
            out[o] = total;
        }
    }
}
