// x[r, h, d] *= mask[offset + h] over rows × n_heads × head_dim: a head's
// output is switched off (0) or kept (1) before W_o (ablation), or all but
// one head are, to see that head's own contribution (probe).

struct Params {
    len: u32,
    n_heads: u32,
    head_dim: u32,
    offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read_write> x: array<f32>;
@group(1) @binding(1) var<storage, read> mask: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.x + g.y * 65535u * 256u;
    if (i >= p.len) {
        return;
    }
    let h = (i / p.head_dim) % p.n_heads;
    x[i] *= mask[p.offset + h];
}
