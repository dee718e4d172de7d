// The attention kernel's plain ending: head h's output of row r at dims
// d goes to `out` (rows, n_heads · head_dim).
fn put_head(r: u32, h: u32, d: u32, v: f32) {
    out[(r * p.n_heads + h) * p.head_dim + d] = v;
}

fn after_heads(r: u32, h: u32, t: u32) {}
