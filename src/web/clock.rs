//! The page's clock.

/// Milliseconds since the page started (performance.now()).
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}
