// Greedy pick on the device: the token with the largest logit among the
// packed per-chunk candidates of one row (topk.wgsl's layout), ties to the
// lower id, ids at or past n skipped: the first of backend::merge_topk's
// order (f32 total order, as the host sorts), without a readback. It goes
// to picked[0], which the next step's embedding reads (Play ahead).

struct Params {
    n: u32,
    chunks: u32,
    _pad1: u32,
    _pad2: u32,
}

const K: u32 = 32u;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> packed: array<f32>;
@group(1) @binding(1) var<storage, read_write> picked: array<u32>;

var<workgroup> best_key: array<i32, 64>;
var<workgroup> best_id: array<u32, 64>;

// f32 bits mapped to integers in the order of f32::total_cmp.
fn order(x: f32) -> i32 {
    let s = bitcast<i32>(x);
    return s ^ bitcast<i32>(bitcast<u32>(s >> 31u) >> 1u);
}

fn better(k: i32, id: u32, bk: i32, bid: u32) -> bool {
    return k > bk || (k == bk && id < bid);
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32) {
    var bk = -2147483647 - 1;
    var bid = 0xffffffffu;
    let stride = 2u + 2u * K;
    for (var e = t; e < p.chunks * K; e += WG) {
        let at = (e / K) * stride + 2u + 2u * (e % K);
        let id = bitcast<u32>(packed[at]);
        let k = order(packed[at + 1u]);
        if (id < p.n && better(k, id, bk, bid)) {
            bk = k;
            bid = id;
        }
    }
    best_key[t] = bk;
    best_id[t] = bid;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s && better(best_key[t + s], best_id[t + s], best_key[t], best_id[t])) {
            best_key[t] = best_key[t + s];
            best_id[t] = best_id[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        picked[0] = best_id[0];
    }
}
