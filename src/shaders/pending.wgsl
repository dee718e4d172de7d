// The residual stream at column i (one row) with the attention heads'
// shares of W_o still waiting in `parts_in` (parts × ld, written by the
// attention kernel with W_o folded in) added head by head, in order:
// ((x + part_0) + part_1) + ... The FFN's fused norm and its down
// projection both add them in this order, so both see the same residual.
// Spliced into the matrix kernels, which declare `out`, `parts_in` and `p`.
fn pending(i: u32) -> f32 {
    var v = out[i];
    for (var h = 0u; h < p.parts; h++) {
        v += parts_in[h * p.ld + i];
    }
    return v;
}
