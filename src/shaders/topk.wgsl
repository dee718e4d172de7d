// Reduce the logits chunk by chunk so a step reads back ~13 KB, not 196 KB:
// one workgroup per CHUNK logits of a row (x: chunk, y: row of `rows` rows
// of n) writes the chunk's max M, Σ exp(l − M), and its K largest logits
// with their ids within the row, largest first (ties: lower id first).
// Layout per chunk: [M, S, id_0 (u32 bits), l_0, id_1, l_1, ...]; missing
// entries have id 0xffffffff; a row's chunks follow each other. The host
// merges the chunks (backend::merge_topk).

struct Params {
    n: u32,
    rows: u32,
    _pad1: u32,
    _pad2: u32,
}

const CHUNK: u32 = 1024u;
const K: u32 = 32u;
const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
const LOW: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> logits: array<f32>;
@group(1) @binding(1) var<storage, read_write> out: array<f32>;

var<workgroup> keys: array<f32, 1024>;
var<workgroup> ids: array<u32, 1024>;
var<workgroup> red: array<f32, 256>;

fn reduce(t: u32, v: f32, is_max: bool) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] = select(red[t] + red[t + s], max(red[t], red[t + s]), is_max);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

// Whether entry a goes before entry b: larger logit first, then lower id.
fn before(a: u32, b: u32) -> bool {
    return keys[a] > keys[b] || (keys[a] == keys[b] && ids[a] < ids[b]);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let num_workgroups_x = nw.x;
    let base = wid.x * CHUNK;
    let row = wid.y * p.n;
    var m = LOW;
    for (var e = 0u; e < CHUNK / WG; e++) {
        let i = t + e * WG;
        let g = base + i;
        if (g < p.n) {
            keys[i] = logits[row + g];
            ids[i] = g;
            m = max(m, keys[i]);
        } else {
            keys[i] = LOW;
            ids[i] = NONE;
        }
    }
    let chunk_max = reduce(t, m, true);
    var s = 0.0;
    for (var e = 0u; e < CHUNK / WG; e++) {
        let i = t + e * WG;
        if (ids[i] != NONE) {
            s += exp(keys[i] - chunk_max);
        }
    }
    let chunk_sum = reduce(t, s, false);

    // Bitonic sort of the chunk, largest first.
    for (var k = 2u; k <= CHUNK; k <<= 1u) {
        for (var j = k >> 1u; j > 0u; j >>= 1u) {
            for (var e = 0u; e < CHUNK / WG; e++) {
                let i = t + e * WG;
                let l = i ^ j;
                if (l > i) {
                    let first_half = (i & k) == 0u;
                    if (first_half != before(i, l)) {
                        let tk = keys[i];
                        keys[i] = keys[l];
                        keys[l] = tk;
                        let ti = ids[i];
                        ids[i] = ids[l];
                        ids[l] = ti;
                    }
                }
            }
            workgroupBarrier();
        }
    }

    let o = (wid.y * num_workgroups_x + wid.x) * (2u + 2u * K);
    if (t == 0u) {
        out[o] = chunk_max;
        out[o + 1u] = chunk_sum;
    }
    if (t < K) {
        out[o + 2u + 2u * t] = bitcast<f32>(ids[t]);
        out[o + 3u + 2u * t] = keys[t];
    }
}
