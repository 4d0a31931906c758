//! A linear layer as one cuBLASLt call: `D = X W^T + bias + residual`, the bias added in the GEMM's
//! epilogue (in f32, before the output is rounded to its dtype) and the residual read as its `C`
//! operand (`beta = 1`). candle's cuBLAS matmul followed by our epilogue pass reads and writes the
//! whole output once more (QKV, the projection and fc2 spend a third of their time there at batch
//! 64); cuBLASLt's own GELU is the tanh approximation, so fc1's exact GELU stays a pass of ours.
//!
//! One cuBLASLt handle per GPU for the process, with the algorithm chosen for each problem
//! (`gemm_algo`) cached: choosing costs more than many GEMMs (the problem and its cuBLASLt
//! objects: `gemm_problem`). The workspace is allocated for each
//! call, in stream order from the device's pool (`devices::keep_freed_memory`), so that GEMMs on
//! two streams (two models' inference threads) never share one and nothing outlives the models.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Mutex, OnceLock};

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaStream, CudaView, DevicePtr, DevicePtrMut};
use candle_core::cuda_backend::{CudaDevice, CudaStorage};
use candle_core::Layout;
use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;

use crate::cuda::args::{by_float, contiguous, Float};
use crate::cuda::gemm_algo;
use crate::cuda::gemm_problem::{alignment, lt_error, Descriptors, Problem, Raw, WORKSPACE_BYTES};

/// The operands, row-major and contiguous: `x` `[rows, k]`, `weight` `[n, k]`, `bias` `[n]`,
/// `residual` `[rows, n]`.
pub struct LinearOperands<'a, T> {
    pub x: CudaView<'a, T>,
    pub weight: CudaView<'a, T>,
    pub bias: Option<CudaView<'a, T>>,
    pub residual: Option<CudaView<'a, T>>,
    pub rows: usize,
    pub k: usize,
    pub n: usize,
}

/// `act(x W^T + bias) + residual` (act the exact GELU when `gelu`; a GELU layer has no residual
/// in BEiT, and gets none here) over `x` `[.., k]` and `weight` `[n, k]`, into `[rows, n]`.
pub fn fused_linear(
    x: (&CudaStorage, &Layout),
    weight: (&CudaStorage, &Layout),
    bias: Option<(&CudaStorage, &Layout)>,
    residual: Option<(&CudaStorage, &Layout)>,
    gelu: bool,
) -> candle_core::Result<CudaStorage> {
    if gelu && residual.is_some() {
        candle_core::bail!("fused_linear: a residual after the GELU is not fused");
    }
    by_float!(x.0.dtype(), "fused_linear", run(x, weight, bias, residual, gelu))
}

fn run<T: Float>(
    (xs, xl): (&CudaStorage, &Layout),
    (ws, wl): (&CudaStorage, &Layout),
    bias: Option<(&CudaStorage, &Layout)>,
    residual: Option<(&CudaStorage, &Layout)>,
    gelu: bool,
) -> candle_core::Result<CudaStorage> {
    let dev = &xs.device;
    let (n, k) = wl.shape().dims2()?;
    let rows = xl.shape().elem_count().checked_div(k).unwrap_or(0);
    let ops = LinearOperands {
        x: view::<T>((xs, xl), "linear input")?,
        weight: view::<T>((ws, wl), "linear weight")?,
        bias: bias.map(|b| view::<T>(b, "linear bias")).transpose()?,
        residual: residual.map(|r| view::<T>(r, "linear residual")).transpose()?,
        rows,
        k,
        n,
    };
    if ops.x.len() != rows * k
        || ops.bias.as_ref().is_some_and(|b| b.len() != n)
        || ops.residual.as_ref().is_some_and(|r| r.len() != rows * n)
    {
        candle_core::bail!("fused_linear: input, bias or residual does not fit a [{n}, {k}] weight");
    }
    let y = linear(dev, &ops)?;
    if gelu {
        crate::cuda::epilogue::gelu_in_place(dev, &y, rows, n)?;
    }
    Ok(CudaStorage::wrap_cuda_slice(y, dev.clone()))
}

fn view<'a, T: Float>(
    (s, l): (&'a CudaStorage, &Layout),
    what: &str,
) -> candle_core::Result<CudaView<'a, T>> {
    contiguous(s.as_cuda_slice::<T>()?, l, what)
}

/// `x W^T + bias + residual` into a new `[rows, n]` buffer.
pub fn linear<T: Float>(dev: &CudaDevice, ops: &LinearOperands<T>) -> candle_core::Result<CudaSlice<T>> {
    // SAFETY: every element of `out` is written by the GEMM (beta reads `residual`, not `out`).
    let mut out = unsafe { dev.alloc::<T>(ops.rows * ops.n)? };
    if ops.rows * ops.n > 0 {
        enqueue(dev, ops, &mut out)?;
    }
    Ok(out)
}

/// Enqueues the GEMM into `out`.
fn enqueue<T: Float>(
    dev: &CudaDevice,
    ops: &LinearOperands<T>,
    out: &mut CudaSlice<T>,
) -> candle_core::Result<()> {
    let stream = dev.cuda_stream();
    let (x, _x) = ops.x.device_ptr(&stream);
    let (w, _w) = ops.weight.device_ptr(&stream);
    let bias = ops.bias.as_ref().map(|b| b.device_ptr(&stream));
    let residual = ops.residual.as_ref().map(|r| r.device_ptr(&stream));
    let (d, _d) = out.device_ptr_mut(&stream);
    let c = residual.as_ref().map_or(d, |r| r.0);
    let problem = Problem {
        dtype: T::DTYPE,
        m: ops.n as u64,
        n: ops.rows as u64,
        k: ops.k as u64,
        bias: bias.is_some(),
        beta_one: residual.is_some(),
        align: [w, x, c, d].map(alignment),
    };
    // SAFETY: scratch that cuBLASLt writes before it reads.
    let scratch = unsafe { dev.alloc::<u8>(WORKSPACE_BYTES)? };
    let (workspace, _ws) = scratch.device_ptr(&stream);
    let mut handles = handles().lock().unwrap_or_else(|e| e.into_inner());
    let handle = match handles.entry(stream.context().ordinal()) {
        std::collections::hash_map::Entry::Occupied(h) => h.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => v.insert(Handle::new(&stream)?),
    };
    let descriptors = Descriptors::new(&problem, bias.as_ref().map(|b| b.0))?;
    let (alpha, beta) = (1.0f32, if problem.beta_one { 1.0f32 } else { 0.0 });
    let raw = handle.raw.0;
    let launch = |algo: &sys::cublasLtMatmulAlgo_t| {
        // SAFETY: the layouts describe the buffers as allocated and checked by the caller; the
        // pointers stay valid until the stream runs the GEMM (their guards live to the end of this
        // function, and candle frees device memory in stream order).
        unsafe {
            lt::matmul(
                raw,
                descriptors.matmul.0,
                (&alpha as *const f32).cast(),
                (&beta as *const f32).cast(),
                w as *const c_void,
                descriptors.a.0,
                x as *const c_void,
                descriptors.b.0,
                c as *const c_void,
                descriptors.cd.0,
                d as *mut c_void,
                descriptors.cd.0,
                algo,
                workspace as *mut c_void,
                WORKSPACE_BYTES,
                stream.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(lt_error("matmul"))
    };
    let algo = match handle.algos.get(&problem) {
        Some(algo) => *algo,
        None => {
            let algo = gemm_algo::choose(raw, &descriptors, &problem, &stream, &launch)?;
            handle.algos.insert(problem, algo);
            algo
        }
    };
    launch(&algo)
}

/// A cuBLASLt handle and the algorithms chosen with it for each problem.
struct Handle {
    raw: Raw<sys::cublasLtHandle_t>,
    algos: HashMap<Problem, sys::cublasLtMatmulAlgo_t>,
}

impl Handle {
    /// Created with the GPU's context current, as cuBLASLt asks.
    fn new(stream: &CudaStream) -> candle_core::Result<Self> {
        stream
            .context()
            .bind_to_thread()
            .map_err(candle_core::Error::wrap)?;
        Ok(Self {
            raw: Raw(lt::create_handle().map_err(lt_error("create"))?),
            algos: HashMap::new(),
        })
    }
}

// SAFETY: a cuBLASLt handle may be used from any thread, one call at a time (the mutex below).
unsafe impl Send for Handle {}

/// By GPU ordinal.
type Handles = Mutex<HashMap<usize, Handle>>;

fn handles() -> &'static Handles {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    HANDLES.get_or_init(Default::default)
}
