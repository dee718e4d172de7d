// The attention kernel's ending with W_o folded in (one row): head h's
// output o_h stays in workgroup memory, and the workgroup writes the head's
// share of the output projection to `out` as (n_heads, wo_rows):
//   out[h, j] = Σ_{d < head_dim} W_o[j, h·head_dim + d] · o_h[d],
// over the items of W_o's columns h·head_dim.. (whole blocks of the format
// spliced in before this file; the host checks that heads are). The FFN's
// kernels add the shares to the residual (pending.wgsl, norm_matmul.wgsl):
// the attention block's update without a dispatch of its own.

@group(1) @binding(7) var<storage, read> w: array<u32>;

var<workgroup> os: array<f32, 256>;

fn put_head(r: u32, h: u32, d: u32, v: f32) {
    os[d] = v;
}

// o_h[c..c+4] for head-relative column c.
fn oload(c: u32) -> vec4<f32> {
    return vec4<f32>(os[c], os[c + 1u], os[c + 2u], os[c + 3u]);
}

fn after_heads(r: u32, h: u32, t: u32) {
    workgroupBarrier();
    let hd = p.head_dim;
    let k = p.n_heads * hd;
    let i0 = items_per_row(h * hd);
    let n_items = items_per_row(hd);
    let c0 = h * hd;
    for (var j = t; j < p.wo_rows; j += WG) {
        var s = 0.0;
        for (var i = 0u; i < n_items; i++) {
            let it = load_item(p.wo_row0 + j, k, i0 + i);
            s += dot(it.w0, oload(it.c0 - c0)) + dot(it.w1, oload(it.c1 - c0));
        }
        out[(r * p.n_heads + h) * p.wo_rows + j] = s;
    }
}
