// Four activations x[r, c..c+4] of a (rows × p.k) matrix; columns at or past
// p.k read as 0 (so widths that are not multiples of 4 work). Spliced into
// the matrix kernels, which declare `x` and `p`.
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
