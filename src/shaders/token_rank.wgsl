// For each of `rows` rows of n logits (one workgroup per row) and its target
// id: out[2r] = the target's logit, out[2r + 1] = how many logits in the row
// are larger (the target's rank, from 0). A target ≥ n gives (0, −1).
// The logit lens uses it for the token that actually came next.

struct Params {
    n: u32,
    rows: u32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> logits: array<f32>;
@group(1) @binding(1) var<storage, read> targets: array<u32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> counts: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let r = wid.x;
    if (r >= p.rows) {
        return;
    }
    let target_id = targets[r];
    if (target_id >= p.n) {
        if (t == 0u) {
            out[2u * r] = 0.0;
            out[2u * r + 1u] = -1.0;
        }
        return;
    }
    let base = r * p.n;
    let l = logits[base + target_id];
    var c = 0u;
    for (var i = t; i < p.n; i += WG) {
        c += select(0u, 1u, logits[base + i] > l);
    }
    counts[t] = c;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            counts[t] += counts[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        out[2u * r] = l;
        out[2u * r + 1u] = f32(counts[0]);
    }
}
