// The RoPE rotation of pair i at position `pos` (llama.cpp's "normal"
// layout): θ_i = pos · ratio^i, ratio = base^(-2/head_dim), built by
// repeated f32 multiplication exactly as the CPU backend and ggml build it
// (same angles, bit for bit). Returns (cos θ, sin θ). One definition,
// spliced into rope.wgsl and into the q/k/v kernel that rotates as it
// stores (norm_matmul.wgsl), so both turn by the same bits.
fn rope_turn(pos: u32, i: u32, ratio: f32) -> vec2<f32> {
    var theta = f32(pos);
    for (var j = 0u; j < i; j++) {
        theta = theta * ratio;
    }
    // Reduce to [-π, π] first (WGSL promises sin/cos accuracy only there):
    // 2π split in two (Cody–Waite), the first part short enough that
    // turns · part is exact for every angle of an 8,192+ context.
    let turns = round(theta * 0.15915494309189535);
    let a = (theta - turns * 6.28125) - turns * 0.0019353071795864769;
    return vec2<f32>(cos(a), sin(a));
}

// Pair (x0, x1) turned by (cos, sin) = cs.
fn rope_pair(x0: f32, x1: f32, cs: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(x0 * cs.x - x1 * cs.y, x0 * cs.y + x1 * cs.x);
}
