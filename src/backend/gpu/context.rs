//! Getting a GPU device: async (the browser requires it; natively use
//! `pollster::block_on`), kept apart from the kernels.

use crate::error::{Error, Result};

/// Which optional shader features to use when the adapter has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureUse {
    /// None: the plain f32, no-subgroup path that every WebGPU device runs.
    Portable,
    /// `subgroups` on hardware GPUs; the portable path on software
    /// rasterizers (lavapipe, SwiftShader), where subgroup kernels measured
    /// about 4× slower.
    Auto,
    /// Every feature the adapter has, software or not (tests use this to
    /// check the subgroup kernels on lavapipe).
    All,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuOptions {
    pub features: FeatureUse,
    /// Open the device with at most this many bytes per storage binding
    /// (below what the adapter offers), as a smaller GPU would have: tests
    /// use it to exercise matrices split over buffers.
    pub max_storage_binding: Option<u64>,
}

impl Default for GpuOptions {
    fn default() -> GpuOptions {
        GpuOptions { features: FeatureUse::Auto, max_storage_binding: None }
    }
}

/// A device and queue, with what the adapter said about itself.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// Subgroup operations are enabled on this device.
    pub subgroups: bool,
    /// `shader-f16` is enabled on this device.
    pub f16: bool,
    /// Timestamp queries are enabled (for per-kernel timing in `bench`).
    pub timestamps: bool,
    /// Errors the device reported outside any error scope (validation,
    /// out of memory): the next readback turns them into an `Error`, so a
    /// failing pipeline never gives numbers in silence.
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuContext({})", self.describe())
    }
}

impl GpuContext {
    /// Find an adapter and open a device on it.
    pub async fn new(opts: GpuOptions) -> Result<GpuContext> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = if cfg!(target_arch = "wasm32") {
            wgpu::Backends::BROWSER_WEBGPU
        } else {
            wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY)
        };
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| {
                Error::Backend(format!(
                    "no GPU adapter found ({e}). In a browser this needs WebGPU; natively a Vulkan, Metal or DX12 driver \
                     (on Debian: apt-get install mesa-vulkan-drivers libvulkan1 gives the lavapipe software GPU)"
                ))
            })?;
        let info = adapter.get_info();
        let have = adapter.features();
        let mut want = wgpu::Features::empty();
        let software = info.device_type == wgpu::DeviceType::Cpu;
        let fast = match opts.features {
            FeatureUse::Portable => false,
            FeatureUse::Auto => !software,
            FeatureUse::All => true,
        };
        if fast {
            want |= have & (wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP);
        }
        want |= have & wgpu::Features::TIMESTAMP_QUERY;
        // Ask for everything the adapter offers: larger storage bindings let
        // bigger models and longer traces fit.
        let mut limits = adapter.limits();
        if let Some(m) = opts.max_storage_binding {
            // Below WebGPU's default (128 MiB): wgpu natively accepts it.
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(m);
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("glassbox"),
                required_features: want,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Backend(format!("could not open the GPU device on {}: {e}", info.name)))?;
        let features = device.features();
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
            // wgpu's own text is only "Validation Error": its causes say what.
            let mut text = match &e {
                wgpu::Error::Validation { .. } => "validation error".to_string(),
                wgpu::Error::Internal { description, .. } => format!("internal error: {}", description.trim()),
                wgpu::Error::OutOfMemory { .. } => "out of GPU memory".to_string(),
            };
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            if let Ok(mut v) = sink.lock() {
                v.push(text);
            }
        }));
        Ok(GpuContext {
            errors,
            limits: device.limits(),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            f16: features.contains(wgpu::Features::SHADER_F16),
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            device,
            queue,
            info,
        })
    }

    /// e.g. "Vulkan · llvmpipe (LLVM 19.1.7, 256 bits) · subgroups".
    pub fn describe(&self) -> String {
        let mut s = format!("{:?} · {}", self.info.backend, self.info.name);
        if self.subgroups {
            s += " · subgroups";
        }
        if self.f16 {
            s += " · f16";
        }
        s
    }

    /// The first error the device reported since the last call, as an
    /// `Error` (and forget them all).
    pub fn take_error(&self) -> Result<()> {
        let mut v = self.errors.lock().map_err(|_| Error::Backend("the GPU error log is poisoned".into()))?;
        if v.is_empty() {
            return Ok(());
        }
        let first = v[0].clone();
        let n = v.len();
        v.clear();
        Err(Error::Backend(format!(
            "the GPU reported {} error{}, so these numbers cannot be trusted: {first}",
            n,
            if n == 1 { "" } else { "s" }
        )))
    }

    /// The largest buffer this device binds as storage.
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Refuse a buffer the device cannot bind, with a message saying which.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<()> {
        let max = self.max_binding();
        if bytes > max {
            return Err(Error::Backend(format!(
                "{what} needs a {:.1} MB buffer but this GPU binds at most {:.1} MB; the model (or this context/batch size) does not fit",
                bytes as f64 / 1e6,
                max as f64 / 1e6
            )));
        }
        Ok(())
    }
}
