// out[r] = x[r] / sqrt(mean(x[r]²) + eps) · w, one workgroup per row.

struct Params {
    d: u32,
    rows: u32,
    eps: f32,
    _pad: u32,
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> x: array<f32>;
@group(1) @binding(1) var<storage, read> w: array<f32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let r = wid.x;
    let base = r * p.d;
    var ss = 0.0;
    for (var i = t; i < p.d; i += WG) {
        let v = x[base + i];
        ss += v * v;
    }
    partial[t] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            partial[t] += partial[t + s];
        }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(partial[0] / f32(p.d) + p.eps);
    for (var i = t; i < p.d; i += WG) {
        out[base + i] = x[base + i] * scale * w[i];
    }
}
