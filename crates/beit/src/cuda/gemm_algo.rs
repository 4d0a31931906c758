//! Which cuBLASLt algorithm runs a linear layer's GEMM: the heuristic's best few, each timed once
//! on the call's own buffers, the fastest kept (by `cuda::gemm`, per problem).
//!
//! The heuristic's first choice is not always the fastest for BEiT's shapes: the attention
//! projection (12,608 x 768 x 768 at batch 64) fills its tiles in 2.3 waves of an H200's 132
//! multiprocessors and ran at two thirds of the others' TFLOP/s. Timing costs a few GEMMs and one
//! synchronize, once per shape and process.

use std::ffi::c_void;

use candle_core::cuda_backend::cudarc::driver::sys::CUevent_flags;
use candle_core::cuda_backend::cudarc::driver::CudaStream;
use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;

use crate::cuda::gemm_problem::{lt_error, Descriptors, Problem, Raw, WORKSPACE_BYTES};

type Algo = sys::cublasLtMatmulAlgo_t;

/// Algorithms asked of the heuristic, and timed runs of each.
const CANDIDATES: usize = 6;
const TIMED_RUNS: usize = 3;

/// The fastest of the heuristic's candidates for `problem`, each run by `launch` on the call's
/// buffers (which it only writes the output of: running it more than once changes nothing).
pub(super) fn choose(
    handle: sys::cublasLtHandle_t,
    descriptors: &Descriptors,
    problem: &Problem,
    stream: &CudaStream,
    launch: &dyn Fn(&Algo) -> candle_core::Result<()>,
) -> candle_core::Result<Algo> {
    let candidates = heuristics(handle, descriptors, problem)?;
    if let [only] = candidates[..] {
        return Ok(only);
    }
    let context = stream.context();
    let timing = Some(CUevent_flags::CU_EVENT_DEFAULT);
    let (start, end) = (
        context.new_event(timing).map_err(candle_core::Error::wrap)?,
        context.new_event(timing).map_err(candle_core::Error::wrap)?,
    );
    let mut best: Option<(f32, Algo)> = None;
    for algo in candidates {
        // The first run warms the algorithm up; one the library refuses at launch is passed over.
        if launch(&algo).is_err() {
            continue;
        }
        start.record(stream).map_err(candle_core::Error::wrap)?;
        for _ in 0..TIMED_RUNS {
            launch(&algo)?;
        }
        end.record(stream).map_err(candle_core::Error::wrap)?;
        let ms = start.elapsed_ms(&end).map_err(candle_core::Error::wrap)?;
        if best.is_none_or(|(fastest, _)| ms < fastest) {
            best = Some((ms, algo));
        }
    }
    match best {
        Some((_, algo)) => Ok(algo),
        None => candle_core::bail!("cuBLASLt launched none of its algorithms for {problem:?}"),
    }
}

/// Up to `CANDIDATES` algorithms for the problem, the heuristic's best first.
fn heuristics(
    handle: sys::cublasLtHandle_t,
    descriptors: &Descriptors,
    problem: &Problem,
) -> candle_core::Result<Vec<Algo>> {
    let pref = Raw(lt::create_matmul_pref().map_err(lt_error("preference"))?);
    let set = |attr, value: *const c_void, size| {
        // SAFETY: `value` points to `size` bytes of the attribute's type.
        unsafe { lt::set_matmul_pref_attribute(pref.0, attr, value, size) }.map_err(lt_error("preference"))
    };
    use sys::cublasLtMatmulPreferenceAttributes_t as P;
    let workspace = WORKSPACE_BYTES as u64;
    set(
        P::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
        (&workspace as *const u64).cast(),
        8,
    )?;
    let attrs = [
        P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
        P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
        P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
    ];
    for (attr, align) in attrs.into_iter().zip(&problem.align) {
        set(attr, (align as *const u32).cast(), 4)?;
    }
    // SAFETY: an all-zero heuristic result is a valid value of the plain C struct, and cuBLASLt
    // writes the first `found` of them.
    let mut results: Vec<sys::cublasLtMatmulHeuristicResult_t> =
        vec![unsafe { std::mem::zeroed() }; CANDIDATES];
    let mut found = 0;
    // SAFETY: the handle, descriptors and preference are live; `results` holds CANDIDATES entries.
    unsafe {
        sys::cublasLtMatmulAlgoGetHeuristic(
            handle,
            descriptors.matmul.0,
            descriptors.a.0,
            descriptors.b.0,
            descriptors.cd.0,
            descriptors.cd.0,
            pref.0,
            CANDIDATES as i32,
            results.as_mut_ptr(),
            &mut found,
        )
    }
    .result()
    .map_err(lt_error("heuristic"))?;
    let algos: Vec<Algo> = results[..(found.max(0) as usize).min(CANDIDATES)]
        .iter()
        .filter(|r| r.state == sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS)
        .map(|r| r.algo)
        .collect();
    if algos.is_empty() {
        candle_core::bail!(
            "cuBLASLt has no GEMM for {problem:?}; {} runs candle's cuBLAS matmul instead",
            crate::cuda_settings::GEMM_ENV_CUBLAS
        );
    }
    Ok(algos)
}
