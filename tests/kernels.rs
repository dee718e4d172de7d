//! Every GPU kernel against the CPU reference on seeded random inputs,
//! awkward sizes included; each check reports its worst element.
//! A missing GPU adapter is a failure, not a skip (CI installs lavapipe).
//! Each test runs on the portable path (no f16, no subgroups) and on the
//! path with every feature the adapter offers (the subgroup kernels, where
//! the adapter has subgroups: lavapipe does).

mod common;

use std::sync::{Arc, OnceLock};

use glassbox::backend::cpu::Cpu;
use glassbox::backend::gpu::{FeatureUse, Gpu, GpuContext, GpuOptions};
use glassbox::backend::{AttnShape, Backend, CacheShape, LayerTail, QStore, RopeAt, TailBufs, TailTaps};
use glassbox::tensor::TensorData;
use glassbox::quant::GgmlType;
use half::f16;
use pollster::block_on;

fn contexts() -> &'static [Arc<GpuContext>] {
    static C: OnceLock<Vec<Arc<GpuContext>>> = OnceLock::new();
    C.get_or_init(|| {
        [FeatureUse::Portable, FeatureUse::All]
            .into_iter()
            .map(|features| {
                let ctx = block_on(GpuContext::new(GpuOptions { features, ..GpuOptions::default() }))
                    .unwrap_or_else(|e| panic!("a GPU adapter is required for these tests: {e}"));
                eprintln!("GPU: {}", ctx.describe());
                Arc::new(ctx)
            })
            .collect()
    })
}

fn gpus() -> Vec<Gpu> {
    contexts().iter().map(|c| Gpu::new(c.clone())).collect()
}

use common::Rng;

/// Random weights of type `ty`, (rows × cols), as GGUF bytes: random block
/// bytes with every f16 scale field set to a small finite value.
fn random_weights(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    let f16b = |x: f32| f16::from_f32(x).to_bits().to_le_bytes();
    match ty {
        GgmlType::F32 => (0..rows * cols).for_each(|_| v.extend_from_slice(&rng.f().to_le_bytes())),
        GgmlType::F16 => (0..rows * cols).for_each(|_| v.extend_from_slice(&f16b(rng.f()))),
        GgmlType::BF16 => (0..rows * cols).for_each(|_| v.extend_from_slice(&((rng.f().to_bits() >> 16) as u16).to_le_bytes())),
        _ => {
            // (offsets of f16 fields in a block, and their scale)
            let fields: &[(usize, f32)] = match ty {
                GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[(0, 0.1)],
                GgmlType::Q4_1 | GgmlType::Q5_1 => &[(0, 0.1), (2, 1.0)],
                GgmlType::Q4_K | GgmlType::Q5_K => &[(0, 0.01), (2, 0.01)],
                GgmlType::Q6_K => &[(208, 0.001)],
                _ => unreachable!("{ty}"),
            };
            for _ in 0..rows * cols / ty.block_len() {
                let mut b: Vec<u8> = (0..ty.block_bytes()).map(|_| rng.next() as u8).collect();
                for &(o, scale) in fields {
                    b[o..o + 2].copy_from_slice(&f16b(rng.f() * scale));
                }
                v.extend(b);
            }
        }
    }
    v
}

/// Worst |gpu − cpu| relative to the largest |cpu| (at least 1); panics above `tol`.
fn compare(what: &str, cpu: &[f32], gpu: &[f32], tol: f32) {
    assert_eq!(cpu.len(), gpu.len(), "{what}: lengths");
    let scale = cpu.iter().fold(1f32, |m, v| m.max(v.abs()));
    let (mut worst, mut at) = (0f32, 0);
    for (i, (a, b)) in cpu.iter().zip(gpu).enumerate() {
        let e = (a - b).abs() / scale;
        if e > worst || e.is_nan() {
            worst = if e.is_nan() { f32::INFINITY } else { e };
            at = i;
        }
    }
    eprintln!("{what}: worst normalized error {worst:.2e} at [{at}] (cpu {}, gpu {})", cpu.get(at).unwrap_or(&0.0), gpu.get(at).unwrap_or(&0.0));
    assert!(worst <= tol, "{what}: worst normalized error {worst:e} at [{at}]: cpu {} vs gpu {}", cpu[at], gpu[at]);
}

fn read<B: Backend>(b: &mut B, buf: &B::Buf, n: usize) -> Vec<f32> {
    block_on(b.read(&[(buf, n)])).unwrap().remove(0)
}

/// The residual update fused into the matmul on the GPU (one dispatch)
/// against the CPU's matmul then add: decode (1 row, the subgroup path on
/// the all-features device) and prefill tiles, awkward widths.
#[test]
fn matmul_add_fused_equals_matmul_then_add() {
    let mut rng = Rng(11);
    for mut gpu in gpus() {
        for (ty, k) in [(GgmlType::Q4_1, 576), (GgmlType::Q4_K, 256), (GgmlType::Q8_0, 96), (GgmlType::F32, 37)] {
            for n in [1, 33, 576] {
                for rows in [1, 5, 9] {
                    let data = random_weights(ty, n, k, &mut rng);
                    let t = TensorData { name: "w", ty, rows: n, cols: k, data: &data };
                    let (x, res) = (rng.vec(rows * k), rng.vec(rows * n));
                    let mut cpu = Cpu::new();
                    let (wc, xc, mut oc, mut tc) = (cpu.upload_mat(&t).unwrap(), cpu.upload_f32(&x), cpu.upload_f32(&res), cpu.buf(rows * n));
                    cpu.matmul_add(&xc, &wc, &mut oc, &mut tc, rows, n);
                    let (wg, xg, mut og, mut tg) = (gpu.upload_mat(&t).unwrap(), gpu.upload_f32(&x), gpu.upload_f32(&res), gpu.buf(rows * n));
                    gpu.matmul_add(&xg, &wg, &mut og, &mut tg, rows, n);
                    let g = read(&mut gpu, &og, rows * n);
                    compare(&format!("matmul_add {ty} n={n} k={k} rows={rows}"), &oc, &g, 1e-5);
                }
            }
        }
    }
}

/// The fused kernels (RMSNorm and q/k/v in one dispatch; RMSNorm, gate/up
/// and SwiGLU in one) against the CPU's rmsnorm, matmuls and swiglu, on
/// matrices uploaded together: decode and prefill tiles, awkward widths,
/// every tile boundary. Also the unfused fallback, for matrices of mixed
/// formats, and the fused rope of q and k against two CPU ropes.
#[test]
fn fused_norm_projections_equal_the_unfused_ops() {
    let mut rng = Rng(12);
    for mut gpu in gpus() {
        let mut cpu = Cpu::new();
        for (tys, k, n_q, n_kv) in [
            ([GgmlType::Q4_1; 3], 576, 576, 192),
            ([GgmlType::Q8_0; 3], 96, 33, 7),
            ([GgmlType::Q4_K; 3], 256, 64, 1),
            ([GgmlType::Q6_K; 3], 512, 40, 24),
            ([GgmlType::F32; 3], 37, 5, 3),
            ([GgmlType::Q5_0, GgmlType::Q5_0, GgmlType::Q8_0], 64, 17, 9),
        ] {
            for rows in [1, 5, 8, 9, 17] {
                let (x, g) = (rng.vec(rows * k), rng.vec(k));
                let shapes = [n_q, n_kv, n_kv];
                let data: Vec<Vec<u8>> = tys.iter().zip(shapes).map(|(&ty, n)| random_weights(ty, n, k, &mut rng)).collect();
                let ts: Vec<TensorData> = (0..3).map(|i| TensorData { name: "w", ty: tys[i], rows: shapes[i], cols: k, data: &data[i] }).collect();
                let gt = TensorData { name: "g", ty: GgmlType::F32, rows: 1, cols: k, data: bytemuck::cast_slice(&g) };
                let what = format!("norm + q/k/v {:?} k={k} n={shapes:?} rows={rows}", tys[2]);
                let wc = cpu.upload_mats(&ts).unwrap();
                let (xc, gc) = (cpu.upload_f32(&x), cpu.upload_vec(&gt).unwrap());
                let mut want: Vec<Vec<f32>> = shapes.iter().map(|&n| cpu.buf(rows * n)).collect();
                let mut nc = cpu.buf(rows * k);
                {
                    let [o0, o1, o2] = &mut want[..] else { unreachable!() };
                    cpu.norm_matmul(&xc, &gc, 1e-5, &[&wc[0], &wc[1], &wc[2]], &mut [o0, o1, o2], &mut nc, rows);
                }
                let ws = gpu.upload_mats(&ts).unwrap();
                let (xg, gg) = (gpu.upload_f32(&x), gpu.upload_vec(&gt).unwrap());
                let mut o: Vec<_> = shapes.iter().map(|&n| gpu.buf(rows * n)).collect();
                let mut normed = gpu.buf(rows * k);
                {
                    let [o0, o1, o2] = &mut o[..] else { unreachable!() };
                    gpu.norm_matmul(&xg, &gg, 1e-5, &[&ws[0], &ws[1], &ws[2]], &mut [o0, o1, o2], &mut normed, rows);
                }
                let got = block_on(gpu.read(&[(&o[0], rows * n_q), (&o[1], rows * n_kv), (&o[2], rows * n_kv)])).unwrap();
                let fused = if tys[0] == tys[2] { "fused" } else { "fallback" };
                compare(&format!("{what} ({fused})"), &want.concat(), &got.concat(), 1e-5);
                if tys[0] == tys[2] {
                    assert_eq!(gpu.last_dispatches, 1, "{what}: one dispatch");
                }

                // Gate and up (the first two shapes, equal widths), then SwiGLU.
                let f = shapes[0];
                let up_data = random_weights(tys[0], f, k, &mut rng);
                let gu = [ts[0], TensorData { data: &up_data, ..ts[0] }];
                let wc = cpu.upload_mats(&gu).unwrap();
                let (mut oc, mut uc) = (cpu.buf(rows * f), cpu.buf(rows * f));
                cpu.norm_glu(&xc, &gc, 1e-5, &wc[0], &wc[1], &mut oc, &mut uc, &mut nc, rows, f);
                let wg = gpu.upload_mats(&gu).unwrap();
                let (mut og, mut ug, mut ng) = (gpu.buf(rows * f), gpu.buf(rows * f), gpu.buf(rows * k));
                gpu.norm_glu(&xg, &gg, 1e-5, &wg[0], &wg[1], &mut og, &mut ug, &mut ng, rows, f);
                compare(&format!("norm + gate/up + swiglu {:?} k={k} n={f} rows={rows}", tys[0]), &oc, &read(&mut gpu, &og, rows * f), 1e-5);
                assert_eq!(gpu.last_dispatches, 1, "norm_glu: one dispatch");
            }
        }
        for (heads, kv_heads, hd, rows, pos0) in [(9, 3, 64, 1, 0), (9, 3, 64, 7, 1000), (4, 4, 10, 3, 37), (2, 1, 256, 2, 8189)] {
            let (q, k) = (rng.vec(heads * hd * rows), rng.vec(kv_heads * hd * rows));
            let (mut qc, mut kc) = (cpu.upload_f32(&q), cpu.upload_f32(&k));
            cpu.rope_qk(&mut qc, &mut kc, rows, heads, kv_heads, hd, pos0, 100000.0);
            let (mut qg, mut kg) = (gpu.upload_f32(&q), gpu.upload_f32(&k));
            gpu.rope_qk(&mut qg, &mut kg, rows, heads, kv_heads, hd, pos0, 100000.0);
            let got = block_on(gpu.read(&[(&qg, q.len()), (&kg, k.len())])).unwrap();
            assert_eq!(gpu.last_dispatches, 1, "rope_qk: one dispatch");
            compare(&format!("rope q+k heads={heads}/{kv_heads} hd={hd} rows={rows} pos0={pos0}"), &[qc, kc].concat(), &got.concat(), 5e-6);
        }
    }
}

/// RoPE turned as the q/k/v kernel stores (one dispatch) against its
/// definition, norm_matmul then rope_qk: to the bit against the GPU's own
/// two dispatches, and within the usual bound against the CPU. Decode and
/// prefill tiles, positions near the end of a long context, head widths
/// that leave a workgroup's columns mid-head, and widths that cannot pair
/// (the unfused fallback).
#[test]
fn rope_fused_into_qkv_equals_norm_matmul_then_rope() {
    let mut rng = Rng(13);
    for mut gpu in gpus() {
        let mut cpu = Cpu::new();
        for (ty, k, heads, kv_heads, hd) in
            [(GgmlType::Q4_1, 576, 9, 3, 64), (GgmlType::Q8_0, 96, 4, 2, 10), (GgmlType::F32, 37, 3, 1, 6), (GgmlType::Q4_K, 256, 2, 1, 128), (GgmlType::Q8_0, 64, 3, 3, 7)]
        {
            for (rows, pos0) in [(1, 0), (1, 8190), (5, 37), (9, 1000), (17, 3)] {
                let (x, g) = (rng.vec(rows * k), rng.vec(k));
                let shapes = [heads * hd, kv_heads * hd, kv_heads * hd];
                let data: Vec<Vec<u8>> = shapes.iter().map(|&n| random_weights(ty, n, k, &mut rng)).collect();
                let ts: Vec<TensorData> = (0..3).map(|i| TensorData { name: "w", ty, rows: shapes[i], cols: k, data: &data[i] }).collect();
                let gt = TensorData { name: "g", ty: GgmlType::F32, rows: 1, cols: k, data: bytemuck::cast_slice(&g) };
                let rope = RopeAt { n_heads: heads, n_kv_heads: kv_heads, head_dim: hd, pos0, base: 100000.0 };
                let what = format!("norm + q/k/v + rope {ty} k={k} heads={heads}/{kv_heads} hd={hd} rows={rows} pos0={pos0}");
                let len = rows * shapes.iter().sum::<usize>();

                let wc = cpu.upload_mats(&ts).unwrap();
                let (xc, gc) = (cpu.upload_f32(&x), cpu.upload_vec(&gt).unwrap());
                let mut want: Vec<Vec<f32>> = shapes.iter().map(|&n| cpu.buf(rows * n)).collect();
                let mut nc = cpu.buf(rows * k);
                {
                    let [o0, o1, o2] = &mut want[..] else { unreachable!() };
                    cpu.norm_qkv_rope(&xc, &gc, 1e-5, &[&wc[0], &wc[1], &wc[2]], &mut [o0, o1, o2], &mut nc, rows, rope);
                }

                let ws = gpu.upload_mats(&ts).unwrap();
                let (xg, gg) = (gpu.upload_f32(&x), gpu.upload_vec(&gt).unwrap());
                let mut normed = gpu.buf(rows * k);
                let mut run = |gpu: &mut Gpu, fused: bool| {
                    let mut o: Vec<_> = shapes.iter().map(|&n| gpu.buf(rows * n)).collect();
                    {
                        let [o0, o1, o2] = &mut o[..] else { unreachable!() };
                        let ws = [&ws[0], &ws[1], &ws[2]];
                        if fused {
                            gpu.norm_qkv_rope(&xg, &gg, 1e-5, &ws, &mut [o0, o1, o2], &mut normed, rows, rope);
                        } else {
                            glassbox::backend::unfused_norm_qkv_rope(gpu, &xg, &gg, 1e-5, &ws, &mut [o0, o1, o2], &mut normed, rows, rope);
                        }
                    }
                    let got = block_on(gpu.read(&[(&o[0], rows * shapes[0]), (&o[1], rows * shapes[1]), (&o[2], rows * shapes[2])])).unwrap();
                    (got.concat(), gpu.last_dispatches)
                };
                let (fused, n_fused) = run(&mut gpu, true);
                let (unfused, n_unfused) = run(&mut gpu, false);
                let pairs = hd % 2 == 0;
                assert_eq!(n_fused, if pairs { 1 } else { 2 }, "{what}: dispatches");
                assert_eq!(n_unfused, 2, "{what}: the definition's dispatches");
                assert_eq!(fused.len(), len);
                let differ = fused.iter().zip(&unfused).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                assert_eq!(differ, 0, "{what}: the fused kernel's bits are norm_matmul's then rope's ({differ} of {len} differ)");
                compare(&what, &want.concat(), &fused, 1e-5);
            }
        }
    }
}

#[test]
fn matmul_all_formats_and_shapes() {
    let mut rng = Rng(1);
    for mut gpu in gpus() {
        for (ty, ks) in [
            (GgmlType::Q4_1, &[32, 96, 576, 1536][..]),
            (GgmlType::Q8_0, &[32, 64, 576]),
            (GgmlType::F32, &[1, 5, 37, 64]),
            (GgmlType::Q4_0, &[32, 96, 576]),
            (GgmlType::Q5_0, &[32, 160, 576]),
            (GgmlType::Q5_1, &[32, 96, 576]),
            (GgmlType::Q4_K, &[256, 512, 1536]),
            (GgmlType::Q5_K, &[256, 768]),
            (GgmlType::Q6_K, &[256, 512, 1536]),
            (GgmlType::F16, &[1, 5, 37, 64]),
            (GgmlType::BF16, &[3, 37, 576]),
        ] {
            for &k in ks {
                for n in [1, 7, 33, 576] {
                    for rows in [1, 3, 8, 9, 17] {
                        let data = random_weights(ty, n, k, &mut rng);
                        let t = TensorData { name: "w", ty, rows: n, cols: k, data: &data };
                        let x = rng.vec(rows * k);
                        let mut cpu = Cpu::new();
                        let (wc, xc, mut oc) = (cpu.upload_mat(&t).unwrap(), cpu.upload_f32(&x), cpu.buf(rows * n));
                        cpu.matmul(&xc, &wc, &mut oc, rows);
                        let (wg, xg, mut og) = (gpu.upload_mat(&t).unwrap(), gpu.upload_f32(&x), gpu.buf(rows * n));
                        gpu.matmul(&xg, &wg, &mut og, rows);
                        let g = read(&mut gpu, &og, rows * n);
                        compare(&format!("matmul {ty} n={n} k={k} rows={rows}"), &oc, &g, 1e-5);
                    }
                }
            }
        }
    }
}

/// A matrix larger than one binding, split by rows over buffers: matmul
/// (decode, prefill, with the residual add) and embedding equal the CPU's
/// on the whole matrix, for pieces of unequal length, on both paths.
#[test]
fn matrices_split_over_buffers_equal_the_whole() {
    const CAP: u64 = 64 * 1024;
    let mut rng = Rng(11);
    for features in [FeatureUse::Portable, FeatureUse::All] {
        let ctx = Arc::new(block_on(GpuContext::new(GpuOptions { features, max_storage_binding: Some(CAP) })).expect("a GPU adapter"));
        let mut gpu = Gpu::new(ctx.clone());
        for (ty, k) in [(GgmlType::Q8_0, 576), (GgmlType::Q4_1, 576), (GgmlType::Q6_K, 512), (GgmlType::F32, 96), (GgmlType::BF16, 160)] {
            let n = 301;
            let data = random_weights(ty, n, k, &mut rng);
            let t = TensorData { name: "big", ty, rows: n, cols: k, data: &data };
            let mut cpu = Cpu::new();
            let wc = cpu.upload_mat(&t).unwrap();
            let wg = gpu.upload_mat(&t).unwrap();
            let want = (data.len() as u64).div_ceil(CAP - 8) as usize;
            assert!(wg.pieces() >= want && wg.pieces() >= 2, "{ty}: {} bytes in {} pieces", data.len(), wg.pieces());
            for rows in [1, 3, 9] {
                let x = rng.vec(rows * k);
                let base = rng.vec(rows * n);
                let (xc, mut oc, mut ac, mut tc) = (cpu.upload_f32(&x), cpu.buf(rows * n), cpu.upload_f32(&base), cpu.buf(rows * n));
                cpu.matmul(&xc, &wc, &mut oc, rows);
                cpu.matmul_add(&xc, &wc, &mut ac, &mut tc, rows, n);
                let (xg, mut og, mut ag, mut tg) = (gpu.upload_f32(&x), gpu.buf(rows * n), gpu.upload_f32(&base), gpu.buf(rows * n));
                gpu.matmul(&xg, &wg, &mut og, rows);
                gpu.matmul_add(&xg, &wg, &mut ag, &mut tg, rows, n);
                compare(&format!("split matmul {ty} n={n} k={k} rows={rows} ({} pieces, {features:?})", wg.pieces()), &oc, &read(&mut gpu, &og, rows * n), 1e-5);
                compare(&format!("split matmul_add {ty} rows={rows}"), &ac, &read(&mut gpu, &ag, rows * n), 1e-5);
            }
            let tokens: Vec<u32> = vec![300, 0, 106, 107, 108, 214, 215, 17, 299];
            let (mut ec, mut eg) = (cpu.buf(tokens.len() * k), gpu.buf(tokens.len() * k));
            cpu.embed(&wc, &tokens, &mut ec);
            gpu.embed(&wg, &tokens, &mut eg);
            compare(&format!("split embed {ty} k={k}"), &ec, &read(&mut gpu, &eg, tokens.len() * k), 0.0);
        }
        // A matrix whose one row is past the binding cannot be split: said so.
        let data = random_weights(GgmlType::F32, 2, 20_000, &mut rng);
        let err = gpu.upload_mat(&TensorData { name: "wide", ty: GgmlType::F32, rows: 2, cols: 20_000, data: &data }).err().expect("refused").to_string();
        assert!(err.contains("'wide'") && err.contains("one row needs") && err.contains("CPU can still run it"), "{err}");
        ctx.take_error().expect("no GPU validation error");
    }
}

#[test]
fn logits_matvec_at_the_model_shape() {
    // The tied-embedding logits: 49152 × 576 Q8_0, one row.
    let mut rng = Rng(2);
    let (n, k) = (49152, 576);
    let data = random_weights(GgmlType::Q8_0, n, k, &mut rng);
    let t = TensorData { name: "token_embd.weight", ty: GgmlType::Q8_0, rows: n, cols: k, data: &data };
    let x = rng.vec(k);
    let mut cpu = Cpu::new();
    let (wc, xc, mut oc) = (cpu.upload_mat(&t).unwrap(), cpu.upload_f32(&x), cpu.buf(n));
    cpu.matmul(&xc, &wc, &mut oc, 1);
    for mut gpu in gpus() {
        let (wg, xg, mut og) = (gpu.upload_mat(&t).unwrap(), gpu.upload_f32(&x), gpu.buf(n));
        gpu.matmul(&xg, &wg, &mut og, 1);
        compare("logits 49152×576 Q8_0", &oc, &read(&mut gpu, &og, n), 1e-5);
    }
}

#[test]
fn embed_gathers_rows() {
    let mut rng = Rng(3);
    for mut gpu in gpus() {
        for (ty, k) in [
            (GgmlType::Q8_0, 576),
            (GgmlType::Q8_0, 32),
            (GgmlType::Q4_1, 64),
            (GgmlType::F32, 7),
            (GgmlType::Q4_0, 64),
            (GgmlType::Q5_0, 96),
            (GgmlType::Q5_1, 160),
            (GgmlType::Q4_K, 512),
            (GgmlType::Q5_K, 256),
            (GgmlType::Q6_K, 512),
            (GgmlType::F16, 5),
            (GgmlType::BF16, 7),
        ] {
            let n = 301;
            let data = random_weights(ty, n, k, &mut rng);
            let t = TensorData { name: "emb", ty, rows: n, cols: k, data: &data };
            for tokens in [vec![0u32], vec![300, 0, 17, 17, 150], (0..40).map(|i| (i * 7) % 301).collect()] {
                let mut cpu = Cpu::new();
                let (wc, mut oc) = (cpu.upload_mat(&t).unwrap(), cpu.buf(tokens.len() * k));
                cpu.embed(&wc, &tokens, &mut oc);
                let (wg, mut og) = (gpu.upload_mat(&t).unwrap(), gpu.buf(tokens.len() * k));
                gpu.embed(&wg, &tokens, &mut og);
                compare(&format!("embed {ty} k={k} tokens={}", tokens.len()), &oc, &read(&mut gpu, &og, tokens.len() * k), 0.0);
            }
        }
    }
}

#[test]
fn rmsnorm_rope_swiglu_add() {
    let mut rng = Rng(4);
    for mut gpu in gpus() {
        let mut cpu = Cpu::new();
        for (d, rows) in [(1, 1), (63, 5), (576, 1), (576, 9), (1000, 2)] {
            let (x, w) = (rng.vec(d * rows), rng.vec(d));
            let (xc, wc, mut oc) = (cpu.upload_f32(&x), cpu.upload_f32(&w), cpu.buf(d * rows));
            cpu.rmsnorm(&xc, &wc, &mut oc, rows, 1e-5);
            let (xg, wg, mut og) = (gpu.upload_f32(&x), gpu.upload_f32(&w), gpu.buf(d * rows));
            gpu.rmsnorm(&xg, &wg, &mut og, rows, 1e-5);
            compare(&format!("rmsnorm d={d} rows={rows}"), &oc, &read(&mut gpu, &og, d * rows), 1e-5);
        }
        for (heads, hd, rows, pos0) in [(1, 2, 1, 0), (9, 64, 7, 0), (3, 64, 1, 1000), (2, 10, 3, 37), (9, 64, 3, 8189), (1, 256, 2, 131_000)] {
            let x = rng.vec(heads * hd * rows);
            let mut xc = cpu.upload_f32(&x);
            cpu.rope(&mut xc, rows, heads, hd, pos0, 100000.0);
            let mut xg = gpu.upload_f32(&x);
            gpu.rope(&mut xg, rows, heads, hd, pos0, 100000.0);
            // The angles are the same f32 numbers on both backends; what differs
            // is sin/cos of angles up to 131,000 rad (range-reduced on the GPU).
            compare(&format!("rope heads={heads} hd={hd} rows={rows} pos0={pos0}"), &xc, &read(&mut gpu, &xg, x.len()), 5e-6);
        }
        for len in [1, 255, 257, 98304, 70000 * 256] {
            let (a, b) = (rng.vec(len), rng.vec(len));
            let (mut ac, bc) = (cpu.upload_f32(&a), cpu.upload_f32(&b));
            let (mut ag, bg) = (gpu.upload_f32(&a), gpu.upload_f32(&b));
            cpu.swiglu(&mut ac, &bc, len);
            gpu.swiglu(&mut ag, &bg, len);
            cpu.add(&mut ac, &bc, len);
            gpu.add(&mut ag, &bg, len);
            compare(&format!("swiglu+add len={len}"), &ac, &read(&mut gpu, &ag, len), 1e-6);
        }
    }
}

#[test]
fn attention_with_probabilities() {
    let mut rng = Rng(5);
    for mut gpu in gpus() {
        for (n_heads, n_kv_heads, head_dim, first, second) in [(9, 3, 64, 5, 1), (9, 3, 64, 100, 17), (2, 1, 8, 1, 1), (4, 4, 16, 0, 70), (9, 3, 64, 300, 1)] {
            let n_ctx = first + second + 3;
            let (qd, kvd) = (n_heads * head_dim, n_kv_heads * head_dim);
            let shape = CacheShape { n_heads, n_kv_heads, head_dim, q_store: QStore::F32 };
            let mut cpu = Cpu::new();
            let mut kvc = cpu.attn_cache(n_ctx, shape);
            let mut kvg = gpu.attn_cache(n_ctx, shape);
            // Two calls: fill the cache with `first` rows, then attend with `second` new rows.
            for (pos0, rows) in [(0, first), (first, second)] {
                if rows == 0 {
                    continue;
                }
                let s = AttnShape { rows, pos0, n_heads, n_kv_heads, head_dim, store: true };
                let (q, k, v) = (rng.vec(rows * qd), rng.vec(rows * kvd), rng.vec(rows * kvd));
                let offset = 3; // probabilities start mid-buffer
                let (qc, kc, vc, mut oc, mut pc) = (cpu.upload_f32(&q), cpu.upload_f32(&k), cpu.upload_f32(&v), cpu.buf(rows * qd), cpu.buf(offset + s.probs_len()));
                cpu.attention(s, &qc, &kc, &vc, &mut kvc, &mut oc, (&mut pc, offset));
                let (qg, kg, vg, mut og, mut pg) = (gpu.upload_f32(&q), gpu.upload_f32(&k), gpu.upload_f32(&v), gpu.buf(rows * qd), gpu.buf(offset + s.probs_len()));
                gpu.attention(s, &qg, &kg, &vg, &mut kvg, &mut og, (&mut pg, offset));
                let got = block_on(gpu.read(&[(&og, rows * qd), (&pg, offset + s.probs_len()), (&kvg.lse, s.kv_len() * n_heads)])).unwrap();
                let what = format!("attention heads={n_heads}/{n_kv_heads} hd={head_dim} pos0={pos0} rows={rows}");
                compare(&format!("{what} out"), &oc, &got[0], 1e-5);
                compare(&format!("{what} probs"), &pc[offset..], &got[1][offset..], 1e-5);
                compare(&format!("{what} log-sum-exp"), &kvc.lse[..s.kv_len() * n_heads], &got[2], 1e-5);
                for r in 0..rows {
                    for h in 0..n_heads {
                        let row = &got[1][offset + (r * n_heads + h) * s.kv_len()..][..s.kv_len()];
                        let sum: f32 = row.iter().sum();
                        assert!((sum - 1.0).abs() < 1e-5, "{what}: row {r} head {h} sums to {sum}");
                        assert!(row[pos0 + r + 1..].iter().all(|&p| p == 0.0), "{what}: causal mask");
                    }
                }
            }
        }
    }
}

/// The rest of a layer after q, k, v (attention, x += W_o · heads, the
/// FFN) with W_o folded into the attention on the GPU (one row: 3
/// dispatches; each head's share of W_o · heads added to x head by head by
/// the FFN's kernels) against its definition, the ops one by one: on the
/// CPU, and on the GPU itself (the same attention probabilities to the
/// bit), every weight format. Formats whose blocks a head's width splits,
/// and several rows, take the unfused path (4 dispatches).
#[test]
fn attention_with_w_o_folded_in_equals_the_ops_one_by_one() {
    let mut rng = Rng(14);
    for mut gpu in gpus() {
        let mut cpu = Cpu::new();
        for (ty, n_heads, n_kv_heads, hd, dim, f, n, rows) in [
            (GgmlType::Q4_1, 9, 3, 64, 576, 1536, 20, 1),
            (GgmlType::Q8_0, 4, 2, 32, 160, 96, 1, 1),
            (GgmlType::F32, 3, 1, 8, 40, 37, 70, 1),
            (GgmlType::F16, 2, 2, 16, 32, 9, 5, 1),
            (GgmlType::Q4_K, 1, 1, 256, 256, 256, 3, 1),
            (GgmlType::Q4_0, 3, 3, 64, 192, 64, 9, 1),
            (GgmlType::Q5_0, 2, 1, 32, 64, 32, 2, 1),
            (GgmlType::Q5_1, 4, 2, 32, 128, 64, 4, 1),
            (GgmlType::BF16, 2, 1, 8, 16, 24, 3, 1),
            (GgmlType::Q5_K, 1, 1, 256, 256, 256, 2, 1),
            (GgmlType::Q6_K, 1, 1, 256, 256, 256, 2, 1),
            (GgmlType::Q4_K, 4, 2, 64, 256, 256, 3, 1),
            (GgmlType::Q4_1, 9, 3, 64, 576, 64, 20, 3),
        ] {
            let shape = CacheShape { n_heads, n_kv_heads, head_dim: hd, q_store: QStore::F32 };
            let (qd, kvd) = (shape.q_dim(), shape.kv_dim());
            let (mut cc, mut cg) = filled_caches(&mut gpu, &mut cpu, shape, n, n + rows, &mut rng);
            let s = AttnShape { rows, pos0: n, n_heads, n_kv_heads, head_dim: hd, store: true };
            let data: Vec<Vec<u8>> = [(dim, qd), (f, dim), (f, dim), (dim, f)].iter().map(|&(r, c)| random_weights(ty, r, c, &mut rng)).collect();
            let t = |i: usize, r: usize, c: usize| TensorData { name: "w", ty, rows: r, cols: c, data: &data[i] };
            let (wo, gate, up, down) = (t(0, dim, qd), t(1, f, dim), t(2, f, dim), t(3, dim, f));
            let g = rng.vec(dim);
            let gt = TensorData { name: "g", ty: GgmlType::F32, rows: 1, cols: dim, data: bytemuck::cast_slice(&g) };
            let (x, q, k, v) = (rng.vec(rows * dim), rng.vec(rows * qd), rng.vec(rows * kvd), rng.vec(rows * kvd));
            let what = format!("attention + W_o + FFN {ty} heads={n_heads}/{n_kv_heads} hd={hd} dim={dim} ffn={f} pos0={n} rows={rows}");
            let wide = rows * qd.max(dim);

            let (woc, guc, dnc, gc) = (cpu.upload_mat(&wo).unwrap(), cpu.upload_mats(&[gate, up]).unwrap(), cpu.upload_mat(&down).unwrap(), cpu.upload_vec(&gt).unwrap());
            let tail = LayerTail { wo: &woc, ffn_norm: &gc, eps: 1e-5, gate: &guc[0], up: &guc[1], down: &dnc, dim, ffn_dim: f };
            let (qc, kc, vc, mut xc, mut pc) = (cpu.upload_f32(&q), cpu.upload_f32(&k), cpu.upload_f32(&v), cpu.upload_f32(&x), cpu.buf(s.probs_len()));
            let (mut h, mut tmp, mut hid, mut hid2) = (cpu.buf(wide), cpu.buf(rows * dim), cpu.buf(rows * f), cpu.buf(rows * f));
            let bufs = TailBufs { heads: &mut h, tmp: &mut tmp, hidden: &mut hid, hidden2: &mut hid2 };
            cpu.attention_ffn(s, &qc, &kc, &vc, &mut cc, (&mut pc, 0), &mut xc, &tail, bufs, TailTaps::default());

            let (wog, gug, dng, gg) = (gpu.upload_mat(&wo).unwrap(), gpu.upload_mats(&[gate, up]).unwrap(), gpu.upload_mat(&down).unwrap(), gpu.upload_vec(&gt).unwrap());
            let (qg, kg, vg) = (gpu.upload_f32(&q), gpu.upload_f32(&k), gpu.upload_f32(&v));
            read(&mut gpu, &qg, 1); // the cache's filling runs now: each run below counts its own dispatches
            let mut run = |gpu: &mut Gpu, fused: bool| {
                let tail = LayerTail { wo: &wog, ffn_norm: &gg, eps: 1e-5, gate: &gug[0], up: &gug[1], down: &dng, dim, ffn_dim: f };
                let (mut xg, mut pg) = (gpu.upload_f32(&x), gpu.buf(s.probs_len()));
                let (mut h, mut tmp, mut hid, mut hid2) = (gpu.buf(wide), gpu.buf(rows * dim), gpu.buf(rows * f), gpu.buf(rows * f));
                let bufs = TailBufs { heads: &mut h, tmp: &mut tmp, hidden: &mut hid, hidden2: &mut hid2 };
                if fused {
                    gpu.attention_ffn(s, &qg, &kg, &vg, &mut cg, (&mut pg, 0), &mut xg, &tail, bufs, TailTaps::default());
                } else {
                    glassbox::backend::unfused_attention_ffn(gpu, s, &qg, &kg, &vg, &mut cg, (&mut pg, 0), &mut xg, &tail, bufs, TailTaps::default());
                }
                let got = block_on(gpu.read(&[(&xg, rows * dim), (&pg, s.probs_len())])).unwrap();
                (got, gpu.last_dispatches)
            };
            let (fused, n_fused) = run(&mut gpu, true);
            let (unfused, n_unfused) = run(&mut gpu, false);
            // A head's columns of W_o are whole blocks (8-wide items for f32 and f16).
            let folds = rows == 1 && hd % ty.block_len().max(8) == 0;
            assert_eq!(n_unfused, 4, "{what}: the definition's dispatches");
            assert_eq!(n_fused, if folds { 3 } else { 4 }, "{what}: dispatches");
            assert!(fused[1].iter().zip(&unfused[1]).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}: the same attention probabilities");
            compare(&format!("{what}: folded against the GPU's ops"), &unfused[0], &fused[0], 1e-5);
            compare(&format!("{what}: folded against the CPU's"), &xc, &fused[0], 1e-5);
            compare(&format!("{what}: probabilities"), &pc, &fused[1], 1e-5);
        }
    }
}

/// Fill a cache of `shape` with `n` random positions on both backends.
fn filled_caches(gpu: &mut Gpu, cpu: &mut Cpu, shape: CacheShape, n: usize, capacity: usize, rng: &mut Rng) -> (glassbox::backend::cpu::CpuCache, glassbox::backend::gpu::GpuCache) {
    let mut cc = cpu.attn_cache(capacity, shape);
    let mut cg = gpu.attn_cache(capacity, shape);
    let (qd, kvd) = (shape.q_dim(), shape.kv_dim());
    let mut pos0 = 0;
    // Batches of awkward sizes, as prefill and steps write them.
    for rows in [n / 2, 1, n - n / 2 - 1].into_iter().filter(|&r| r > 0) {
        let s = AttnShape { rows, pos0, n_heads: shape.n_heads, n_kv_heads: shape.n_kv_heads, head_dim: shape.head_dim, store: true };
        let (q, k, v) = (rng.vec(rows * qd), rng.vec(rows * kvd), rng.vec(rows * kvd));
        let (qc, kc, vc, mut oc, mut pc) = (cpu.upload_f32(&q), cpu.upload_f32(&k), cpu.upload_f32(&v), cpu.buf(rows * qd), cpu.buf(s.probs_len()));
        cpu.attention(s, &qc, &kc, &vc, &mut cc, &mut oc, (&mut pc, 0));
        let (qg, kg, vg, mut og, mut pg) = (gpu.upload_f32(&q), gpu.upload_f32(&k), gpu.upload_f32(&v), gpu.buf(rows * qd), gpu.buf(s.probs_len()));
        gpu.attention(s, &qg, &kg, &vg, &mut cg, &mut og, (&mut pg, 0));
        pos0 += rows;
    }
    (cc, cg)
}

fn map_on<B: Backend>(b: &mut B, cache: &B::Cache, head: usize, rows: &[u32], cols: &[u32]) -> Vec<f32> {
    let idx: Vec<f32> = rows.iter().chain(cols).map(|&p| f32::from_bits(p)).collect();
    let mut ib = b.buf(idx.len());
    b.write_f32(&mut ib, &idx);
    let offset = 5; // the answer starts mid-buffer
    let mut out = b.buf(offset + rows.len() * cols.len());
    b.attn_map(cache, head, &ib, rows.len(), cols.len(), &mut out, offset);
    let mut got = block_on(b.read(&[(&out, offset + rows.len() * cols.len())])).unwrap().remove(0);
    got.drain(..offset);
    got
}

#[test]
fn attention_maps_from_the_cache() {
    let mut rng = Rng(7);
    for mut gpu in gpus() {
        for (n_heads, n_kv_heads, head_dim, n) in [(9, 3, 64, 37), (2, 1, 8, 3), (4, 4, 16, 70), (9, 3, 64, 300)] {
            for q_store in [QStore::F32, QStore::F16] {
                let shape = CacheShape { n_heads, n_kv_heads, head_dim, q_store };
                let mut cpu = Cpu::new();
                let (cc, cg) = filled_caches(&mut gpu, &mut cpu, shape, n, n + 5, &mut rng);
                let all: Vec<u32> = (0..n as u32).collect();
                let sparse: Vec<u32> = vec![n as u32 - 1, 0, (n / 2) as u32, (n / 3) as u32];
                for head in [0, n_heads - 1, n_heads / 2] {
                    for (rows, cols) in [(&all, &all), (&sparse, &all), (&all, &sparse), (&vec![n as u32 - 1], &all)] {
                        let c = map_on(&mut cpu, &cc, head, rows, cols);
                        let g = map_on(&mut gpu, &cg, head, rows, cols);
                        let what = format!("attn_map {q_store:?} heads={n_heads}/{n_kv_heads} hd={head_dim} n={n} head={head} {}×{}", rows.len(), cols.len());
                        compare(&what, &c, &g, 1e-5);
                        for (i, &r) in rows.iter().enumerate() {
                            for (j, &k) in cols.iter().enumerate() {
                                if k > r {
                                    assert_eq!(g[i * cols.len() + j], 0.0, "{what}: causal mask at ({r}, {k})");
                                }
                            }
                        }
                        if cols.len() == n {
                            // A full row is a distribution.
                            for (i, row) in g.chunks(n).enumerate() {
                                let sum: f32 = row.iter().sum();
                                let tol = if q_store == QStore::F32 { 1e-5 } else { 2e-3 };
                                assert!((sum - 1.0).abs() < tol, "{what}: row {} sums to {sum}", rows[i]);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn caches_grow_keeping_what_they_hold() {
    let mut rng = Rng(8);
    for mut gpu in gpus() {
        let shape = CacheShape { n_heads: 9, n_kv_heads: 3, head_dim: 64, q_store: QStore::F16 };
        let mut cpu = Cpu::new();
        let n = 40;
        let (mut cc, mut cg) = filled_caches(&mut gpu, &mut cpu, shape, n, n, &mut rng);
        let all: Vec<u32> = (0..n as u32).collect();
        let before = map_on(&mut gpu, &cg, 4, &all, &all);
        gpu.grow_cache(&mut cg, 3 * n, n);
        cpu.grow_cache(&mut cc, 3 * n, n);
        let after = map_on(&mut gpu, &cg, 4, &all, &all);
        assert_eq!(before, after, "growing the cache changed what it holds");
        compare("attn_map after growth", &map_on(&mut cpu, &cc, 4, &all, &all), &after, 1e-5);
    }
}

#[test]
fn topk_reduces_like_the_cpu() {
    use glassbox::backend::{merge_topk, topk_len};
    let mut rng = Rng(6);
    for mut gpu in gpus() {
        for n in [1, 31, 1024, 1025, 5000, 49152] {
            let mut logits: Vec<f32> = rng.vec(n).iter().map(|v| v * 20.0).collect();
            if n > 40 {
                // Ties across chunks: equal logits must come out lower id first.
                logits[n - 1] = 100.0;
                logits[3] = 100.0;
            }
            let mut cpu = Cpu::new();
            let (lc, mut oc) = (cpu.upload_f32(&logits), cpu.buf(topk_len(n)));
            cpu.topk(&lc, 1, n, &mut oc);
            let (lg, mut og) = (gpu.upload_f32(&logits), gpu.buf(topk_len(n)));
            gpu.topk(&lg, 1, n, &mut og);
            let g = read(&mut gpu, &og, topk_len(n));
            let (tc, zc) = merge_topk(&oc, n);
            let (tg, zg) = merge_topk(&g, n);
            assert_eq!(tc.iter().map(|x| x.0).collect::<Vec<_>>(), tg.iter().map(|x| x.0).collect::<Vec<_>>(), "top ids, n={n}");
            assert_eq!(tc, tg);
            let mut sorted = logits.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            assert_eq!(tc.iter().map(|x| x.1).collect::<Vec<_>>(), sorted[..n.min(32)].to_vec(), "n={n}");
            let exact = (logits.iter().map(|&l| (l as f64 - sorted[0] as f64).exp()).sum::<f64>()).ln() + sorted[0] as f64;
            eprintln!("topk n={n}: log-sum-exp cpu {zc} gpu {zg} exact {exact}");
            assert!((zc as f64 - exact).abs() < 1e-4 && (zg as f64 - exact).abs() < 1e-4, "n={n}: {zc} {zg} {exact}");
            if n > 40 {
                assert_eq!((tg[0].0, tg[1].0), (3, n as u32 - 1), "ties: lower id first");
            }
        }
    }
}

/// The device's greedy pick (Play ahead) against the first of
/// merge_topk's order and the CPU's pick: random logits through topk, ties
/// across chunks (lower id), −0 against +0 (f32 total order, as the host
/// sorts), and ids past n skipped however large their logits. The picked
/// token is seen through embed_picked of a table whose row i holds i.
#[test]
fn greedy_pick_on_the_device_is_the_first_candidate() {
    use glassbox::backend::{merge_topk, topk_len, TOPK_K};
    let mut rng = Rng(15);
    let stride = 2 + 2 * TOPK_K;
    // Hand-made packed chunks: (id, logit) entries, the rest empty.
    let packed = |n: usize, entries: &[(u32, f32)]| {
        let mut v = vec![0f32; topk_len(n)];
        for c in 0..n.div_ceil(1024) {
            for k in 0..TOPK_K {
                v[c * stride + 2 + 2 * k] = f32::from_bits(u32::MAX);
                v[c * stride + 3 + 2 * k] = -3.0e38;
            }
        }
        for (i, &(id, l)) in entries.iter().enumerate() {
            let (c, k) = (i % n.div_ceil(1024), i / n.div_ceil(1024));
            v[c * stride + 2 + 2 * k] = f32::from_bits(id);
            v[c * stride + 3 + 2 * k] = l;
        }
        v
    };
    for mut gpu in gpus() {
        let mut cpu = Cpu::new();
        let n = 49152;
        let rows: Vec<f32> = (0..n).flat_map(|i| [i as f32; 8]).collect();
        let table = TensorData { name: "emb", ty: GgmlType::F32, rows: n, cols: 8, data: bytemuck::cast_slice(&rows) };
        let (tg, tc) = (gpu.upload_mat(&table).unwrap(), cpu.upload_mat(&table).unwrap());
        let mut cases: Vec<(String, Vec<f32>)> = vec![
            ("ties across chunks".into(), packed(n, &[(2000, 5.0), (7, 5.0), (3, 4.0)])),
            ("−0 and +0".into(), packed(n, &[(9, -0.0), (12, 0.0), (1, -1.0)])),
            ("ids past n".into(), packed(n, &[(n as u32, 1e30), (u32::MAX - 1, 1e30), (40000, -2.0), (41000, -1.0)])),
        ];
        for k in 0..4 {
            let logits: Vec<f32> = rng.vec(n).iter().map(|v| v * 20.0).collect();
            let (lg, mut og) = (gpu.upload_f32(&logits), gpu.buf(topk_len(n)));
            gpu.topk(&lg, 1, n, &mut og);
            cases.push((format!("random logits {k}"), read(&mut gpu, &og, topk_len(n))));
        }
        for (what, p) in cases {
            let want = merge_topk(&p, n).0[0].0;
            let (pg, mut eg) = (gpu.upload_f32(&p), gpu.buf(8));
            gpu.pick(&pg, n);
            gpu.embed_picked(&tg, &mut eg);
            let got = read(&mut gpu, &eg, 8);
            let (pc, mut ec) = (cpu.upload_f32(&p), cpu.buf(8));
            cpu.pick(&pc, n);
            cpu.embed_picked(&tc, &mut ec);
            eprintln!("pick, {what}: {want}; the GPU embedded row {}", got[0]);
            assert_eq!(got, vec![want as f32; 8], "{what}: the GPU's pick");
            assert_eq!(ec, vec![want as f32; 8], "{what}: the CPU's pick");
        }
    }
}

#[test]
fn oversized_weights_are_a_clear_error() {
    let ctx = &contexts()[0];
    let max = ctx.limits.max_storage_buffer_binding_size.min(ctx.limits.max_buffer_size);
    let err = ctx.check_binding("tensor 'huge'", max + 1).unwrap_err().to_string();
    assert!(err.contains("huge") && err.contains("does not fit"), "{err}");
    assert!(ctx.check_binding("tensor 'small'", 1 << 20).is_ok());
}

#[test]
fn topk_and_rank_over_rows() {
    use glassbox::backend::{merge_topk, topk_len};
    let mut rng = Rng(9);
    for mut gpu in gpus() {
        for (rows, n) in [(1, 5), (3, 1025), (7, 49152), (2, 33)] {
            let logits: Vec<f32> = rng.vec(rows * n).iter().map(|v| (v * 8.0).round() / 2.0).collect(); // many ties
            let targets: Vec<f32> = (0..rows).map(|r| f32::from_bits(if r == 1 { u32::MAX } else { ((r * 7919) % n) as u32 })).collect();
            let mut cpu = Cpu::new();
            let (lc, tc, mut oc, mut rc) = (cpu.upload_f32(&logits), cpu.upload_f32(&targets), cpu.buf(rows * topk_len(n)), cpu.buf(2 * rows));
            cpu.topk(&lc, rows, n, &mut oc);
            cpu.token_rank(&lc, rows, n, &tc, &mut rc);
            let (lg, tg, mut og, mut rg) = (gpu.upload_f32(&logits), gpu.upload_f32(&targets), gpu.buf(rows * topk_len(n)), gpu.buf(2 * rows));
            gpu.topk(&lg, rows, n, &mut og);
            gpu.token_rank(&lg, rows, n, &tg, &mut rg);
            let got = block_on(gpu.read(&[(&og, rows * topk_len(n)), (&rg, 2 * rows)])).unwrap();
            for r in 0..rows {
                let tl = topk_len(n);
                let (a, b) = (merge_topk(&oc[r * tl..(r + 1) * tl], n), merge_topk(&got[0][r * tl..(r + 1) * tl], n));
                assert_eq!(a.0, b.0, "rows={rows} n={n} row {r}: top-k");
                assert!((a.1 - b.1).abs() < 1e-4, "row {r}: log-sum-exp {} vs {}", a.1, b.1);
                let row = &logits[r * n..(r + 1) * n];
                let t = targets[r].to_bits() as usize;
                let want = match row.get(t) {
                    Some(&l) => [l, row.iter().filter(|&&x| x > l).count() as f32],
                    None => [0.0, -1.0],
                };
                assert_eq!(&rc[2 * r..2 * r + 2], &want, "cpu rank, row {r}");
                assert_eq!(&got[1][2 * r..2 * r + 2], &want, "gpu rank, row {r}");
            }
            eprintln!("topk/token_rank rows={rows} n={n}: equal");
        }
    }
}

#[test]
fn mask_heads_zeroes_whole_heads() {
    let mut rng = Rng(10);
    for mut gpu in gpus() {
        for (rows, n_heads, hd, offset) in [(1, 9, 64, 0), (5, 4, 16, 9), (3, 2, 7, 1)] {
            let x = rng.vec(rows * n_heads * hd);
            let mask: Vec<f32> = (0..offset + n_heads).map(|i| (i % 3 != 1) as u32 as f32).collect();
            let mut cpu = Cpu::new();
            let (mut xc, mc) = (cpu.upload_f32(&x), cpu.upload_f32(&mask));
            cpu.mask_heads(&mut xc, rows, n_heads, hd, &mc, offset);
            let (mut xg, mg) = (gpu.upload_f32(&x), gpu.upload_f32(&mask));
            gpu.mask_heads(&mut xg, rows, n_heads, hd, &mg, offset);
            let g = read(&mut gpu, &xg, x.len());
            compare(&format!("mask_heads rows={rows} heads={n_heads} hd={hd}"), &xc, &g, 0.0);
            for (i, (&a, &b)) in xc.iter().zip(&x).enumerate() {
                let m = mask[offset + (i / hd) % n_heads];
                assert_eq!(a, if m == 0.0 { 0.0 } else { b }, "element {i}");
            }
        }
    }
}

#[test]
fn read_only_attention_writes_nothing() {
    let mut rng = Rng(11);
    for mut gpu in gpus() {
        for q_store in [QStore::F32, QStore::F16] {
            let shape = CacheShape { n_heads: 9, n_kv_heads: 3, head_dim: 64, q_store };
            let mut cpu = Cpu::new();
            let n = 30;
            let (mut cc, mut cg) = filled_caches(&mut gpu, &mut cpu, shape, n, n, &mut rng);
            let qw = if q_store == QStore::F32 { 576 } else { 288 };
            let before = block_on(gpu.read(&[(&cg.k, n * 192), (&cg.v, n * 192), (&cg.q, n * qw), (&cg.lse, n * 9)])).unwrap();
            let before_cpu = (cc.k.clone(), cc.v.clone(), cc.lse.clone());
            // Positions 20..23 again, read-only: new (different) k and v must not land in the cache.
            let s = AttnShape { rows: 3, pos0: 20, n_heads: 9, n_kv_heads: 3, head_dim: 64, store: false };
            let (q, k, v) = (rng.vec(3 * 576), rng.vec(3 * 192), rng.vec(3 * 192));
            let (qc, kc, vc, mut oc, mut pc) = (cpu.upload_f32(&q), cpu.upload_f32(&k), cpu.upload_f32(&v), cpu.buf(3 * 576), cpu.buf(s.probs_len()));
            cpu.attention(s, &qc, &kc, &vc, &mut cc, &mut oc, (&mut pc, 0));
            let (qg, kg, vg, mut og, mut pg) = (gpu.upload_f32(&q), gpu.upload_f32(&k), gpu.upload_f32(&v), gpu.buf(3 * 576), gpu.buf(s.probs_len()));
            gpu.attention(s, &qg, &kg, &vg, &mut cg, &mut og, (&mut pg, 0));
            let after = block_on(gpu.read(&[(&cg.k, n * 192), (&cg.v, n * 192), (&cg.q, n * qw), (&cg.lse, n * 9), (&og, 3 * 576), (&pg, s.probs_len())])).unwrap();
            for i in 0..4 {
                assert!(before[i] == after[i], "{q_store:?}: read-only attention wrote buffer {i} of the GPU cache");
            }
            assert!(before_cpu == (cc.k.clone(), cc.v.clone(), cc.lse.clone()), "read-only attention wrote the CPU cache");
            compare(&format!("read-only attention {q_store:?} out"), &oc, &after[4], 1e-5);
            compare(&format!("read-only attention {q_store:?} probs"), &pc, &after[5], 1e-5);
        }
    }
}
