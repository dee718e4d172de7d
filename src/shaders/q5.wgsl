// The 5-bit quants shared by Q5_0 and Q5_1 (spliced before either): 32
// weights a block, an "item" being 4 bytes of nibbles. Weight j < 16: low
// nibble of byte j with bit j of qh as its fifth bit; weight j + 16: high
// nibble with bit j + 16.

const BLOCK: u32 = 32u;
const ITEMS_PER_BLOCK: u32 = 4u;

fn items_per_row(k: u32) -> u32 {
    return (k / BLOCK) * ITEMS_PER_BLOCK;
}

// Bits j..j+3 of qh as the fifth bit (16) of four weights.
fn fifth(qh: u32, j: u32) -> vec4<u32> {
    return vec4<u32>(((qh >> j) & 1u) << 4u, ((qh >> (j + 1u)) & 1u) << 4u, ((qh >> (j + 2u)) & 1u) << 4u, ((qh >> (j + 3u)) & 1u) << 4u);
}

// Item j of a block with qh at byte `qh_at` and its nibbles at `q_at`: the
// quants (0..31) of columns 4j..4j+3 and 4j+16..4j+19.
fn q5_item(qh_at: u32, q_at: u32, j: u32) -> array<vec4<u32>, 2> {
    let qh = u32_at(qh_at);
    let q = u32_at(q_at + 4u * j);
    return array<vec4<u32>, 2>(nibbles(q, false) | fifth(qh, 4u * j), nibbles(q, true) | fifth(qh, 4u * j + 16u));
}

// The quant (0..31) of weight i of the block.
fn q5_at(qh_at: u32, q_at: u32, i: u32) -> u32 {
    let byte = u8_at(q_at + i % 16u);
    return select(byte & 15u, byte >> 4u, i >= 16u) | (((u32_at(qh_at) >> i) & 1u) << 4u);
}
