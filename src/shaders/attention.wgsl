// Causal grouped-query attention, one workgroup per (query head, row).
// The new keys and values are already in the cache (copied before this runs).
// Row r sits at position pos0 + r and sees keys 0..=pos0+r:
//   p = softmax(q·kᵀ · scale), out = p·v.
// The probabilities are written to `probs` at probs_offset as
// (rows, n_heads, kv_len), zero above the diagonal: the attention trace.
// For attention maps on demand (attn_map.wgsl), q goes into the layer's
// q store at its position (f32 bits, or f16 pairs when q_f16 = 1) and the
// row's log Σ exp(scores) into lse (positions, n_heads).
// What happens to a head's output is spliced in before this file: it goes
// to `out` (rows, n_heads · head_dim) as below, or, with W_o folded in
// (attention_wo.wgsl), the head's share of W_o · heads goes to `out`.

struct Params {
    rows: u32,
    pos0: u32,
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    kv_len: u32,
    probs_offset: u32,
    scale: f32,
    q_f16: u32,
    // 0: a read-only pass over positions already cached (q and lse not written).
    store: u32,
    // With W_o folded in (attention_wo.wgsl): its rows and first row in `w`.
    wo_rows: u32,
    wo_row0: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> q: array<f32>;
@group(1) @binding(1) var<storage, read> kc: array<f32>;
@group(1) @binding(2) var<storage, read> vc: array<f32>;
@group(1) @binding(3) var<storage, read_write> out: array<f32>;
@group(1) @binding(4) var<storage, read_write> probs: array<f32>;
@group(1) @binding(5) var<storage, read_write> q_store: array<u32>;
@group(1) @binding(6) var<storage, read_write> lse: array<f32>;

var<workgroup> qs: array<f32, 256>;
var<workgroup> red: array<f32, 64>;

fn reduce_max(t: u32, v: f32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] = max(red[t], red[t + s]);
        }
        workgroupBarrier();
    }
    let m = red[0];
    workgroupBarrier();
    return m;
}

fn reduce_sum(t: u32, v: f32) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] += red[t + s];
        }
        workgroupBarrier();
    }
    let m = red[0];
    workgroupBarrier();
    return m;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let h = wid.x;
    let r = wid.y;
    let hd = p.head_dim;
    let kvh = h / (p.n_heads / p.n_kv_heads); // GQA: query head h reads KV head h / group
    let kv_dim = p.n_kv_heads * hd;
    let n_keys = p.pos0 + r + 1u;
    let row = p.probs_offset + (r * p.n_heads + h) * p.kv_len;

    let pos = p.pos0 + r;
    for (var d = t; d < hd; d += WG) {
        qs[d] = q[(r * p.n_heads + h) * hd + d];
    }
    workgroupBarrier();
    if (p.store == 0u) {
        // Read-only: nothing is written to the cache.
    } else if (p.q_f16 == 1u) {
        for (var i = t; i < hd / 2u; i += WG) {
            q_store[((pos * p.n_heads + h) * hd) / 2u + i] = pack2x16float(vec2<f32>(qs[2u * i], qs[2u * i + 1u]));
        }
    } else {
        for (var d = t; d < hd; d += WG) {
            q_store[(pos * p.n_heads + h) * hd + d] = bitcast<u32>(qs[d]);
        }
    }

    // Scores; each thread owns keys t, t+64, ... through the softmax.
    var m = -3.0e38;
    for (var j = t; j < n_keys; j += WG) {
        var s = 0.0;
        let kb = j * kv_dim + kvh * hd;
        for (var d = 0u; d < hd; d++) {
            s += qs[d] * kc[kb + d];
        }
        s *= p.scale;
        probs[row + j] = s;
        m = max(m, s);
    }
    m = reduce_max(t, m);
    var sum = 0.0;
    for (var j = t; j < n_keys; j += WG) {
        let e = exp(probs[row + j] - m);
        probs[row + j] = e;
        sum += e;
    }
    sum = reduce_sum(t, sum);
    if (t == 0u && p.store == 1u) {
        lse[pos * p.n_heads + h] = m + log(sum);
    }
    let inv = 1.0 / sum;
    for (var j = t; j < p.kv_len; j += WG) {
        probs[row + j] = select(0.0, probs[row + j] * inv, j < n_keys);
    }
    storageBarrier();
    workgroupBarrier();

    // Weighted sum of values; each thread owns output dimensions d, d+64, ...
    for (var d = t; d < hd; d += WG) {
        var acc = 0.0;
        for (var j = 0u; j < n_keys; j++) {
            acc += probs[row + j] * vc[j * kv_dim + kvh * hd + d];
        }
        put_head(r, h, d, acc);
    }
    after_heads(r, h, t);
}
