// What every weight format (fmt_*.wgsl) hands the matrix kernels: 8 weights,
// w0 for columns c0..c0+3 and w1 for columns c1..c1+3.
struct Item {
    w0: vec4<f32>,
    w1: vec4<f32>,
    c0: u32,
    c1: u32,
}
