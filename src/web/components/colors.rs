//! The colour scale of attention weights: white → deep blue, on √weight so
//! that small but real weights stay visible (the legend says so).

/// RGB for an attention weight in [0, 1].
pub fn weight_rgb(w: f32) -> [u8; 3] {
    let t = w.clamp(0.0, 1.0).sqrt();
    let lerp = |a: f32, b: f32| (a + (b - a) * t).round() as u8;
    [lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 130.0)]
}

/// RGB for a difference of two weights in [-1, 1]: blue below zero, white
/// at zero, orange above (on √|d|, as the weights).
pub fn diff_rgb(d: f32) -> [u8; 3] {
    let t = d.abs().min(1.0).sqrt();
    let (r, g, b) = if d >= 0.0 { (217.0, 72.0, 15.0) } else { (24.0, 100.0, 171.0) };
    let lerp = |c: f32| (255.0 + (c - 255.0) * t).round() as u8;
    [lerp(r), lerp(g), lerp(b)]
}

/// A CSS gradient for the B − A legend that matches `diff_rgb` (−1 to +1).
pub fn diff_gradient() -> String {
    let stops: Vec<String> = (-10..=10)
        .map(|i| {
            let d = i as f32 / 10.0;
            let [r, g, b] = diff_rgb(d.signum() * d * d);
            format!("rgb({r},{g},{b}) {}%", (i + 10) * 5)
        })
        .collect();
    format!("linear-gradient(to right, {})", stops.join(", "))
}

/// CSS colour for one of the KV groups (grouped-query attention).
pub fn group_css(g: usize) -> &'static str {
    ["#d9480f", "#2b8a3e", "#5f3dc4", "#1864ab", "#c2255c", "#e67700"][g % 6]
}

/// A CSS gradient for the legend that matches `weight_rgb`.
pub fn legend_gradient() -> String {
    let stops: Vec<String> = (0..=10)
        .map(|i| {
            let w = (i as f32 / 10.0).powi(2);
            let [r, g, b] = weight_rgb(w);
            format!("rgb({r},{g},{b}) {}%", (w.sqrt() * 100.0).round())
        })
        .collect();
    format!("linear-gradient(to right, {})", stops.join(", "))
}
