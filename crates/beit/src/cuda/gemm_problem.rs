//! One GEMM problem as cuBLASLt takes it: the problem itself (what the choice of algorithm depends
//! on), its matmul descriptor and matrix layouts, and cuBLASLt objects destroyed on drop. Shared by
//! the call (`cuda::gemm`) and the choice of its algorithm (`cuda::gemm_algo`).

use std::ffi::c_void;

use candle_core::DType;
use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;

/// cuBLASLt's recommendation for Hopper (4 MiB suffice before it).
pub(super) const WORKSPACE_BYTES: usize = 32 << 20;

/// What the algorithm depends on. cuBLAS is column-major, so the row-major `Y = X W^T` is
/// `Y^T = W X^T`: `A` is the weight (transposed), `B` the input, `m` the output features and `n`
/// the rows; the bias runs along `m`, as cuBLASLt's bias epilogue adds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Problem {
    pub(super) dtype: DType,
    pub(super) m: u64,
    pub(super) n: u64,
    pub(super) k: u64,
    pub(super) bias: bool,
    pub(super) beta_one: bool,
    /// Of A, B, C and D in bytes, at most 256: the heuristic may pick a kernel that needs more
    /// than a pointer has unless told.
    pub(super) align: [u32; 4],
}

/// The largest power of two up to 256 that divides `ptr` (256 for no pointer).
pub(super) fn alignment(ptr: u64) -> u32 {
    if ptr == 0 {
        256
    } else {
        1u32 << ptr.trailing_zeros().min(8)
    }
}

fn data_type(dtype: DType) -> sys::cudaDataType {
    match dtype {
        DType::F16 => sys::cudaDataType_t::CUDA_R_16F,
        DType::BF16 => sys::cudaDataType_t::CUDA_R_16BF,
        _ => sys::cudaDataType_t::CUDA_R_32F,
    }
}

pub(super) fn lt_error(what: &str) -> impl Fn(lt::CublasError) -> candle_core::Error + '_ {
    move |e| candle_core::Error::Msg(format!("cuBLASLt {what}: {e:?}"))
}

/// The matmul descriptor and the matrix layouts of one call.
pub(super) struct Descriptors {
    pub(super) matmul: Raw<sys::cublasLtMatmulDesc_t>,
    pub(super) a: Raw<sys::cublasLtMatrixLayout_t>,
    pub(super) b: Raw<sys::cublasLtMatrixLayout_t>,
    pub(super) cd: Raw<sys::cublasLtMatrixLayout_t>,
}

impl Descriptors {
    pub(super) fn new(p: &Problem, bias: Option<u64>) -> candle_core::Result<Self> {
        let ty = data_type(p.dtype);
        let layout =
            |rows, cols, ld| lt::create_matrix_layout(ty, rows, cols, ld).map_err(lt_error("layout"));
        let a = Raw(layout(p.k, p.m, p.k as i64)?);
        let b = Raw(layout(p.k, p.n, p.k as i64)?);
        let cd = Raw(layout(p.m, p.n, p.m as i64)?);
        let matmul = Raw(lt::create_matmul_desc(
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            sys::cudaDataType_t::CUDA_R_32F,
        )
        .map_err(lt_error("descriptor"))?);
        use sys::cublasLtMatmulDescAttributes_t as M;
        let set = |attr, value: *const c_void, size| {
            // SAFETY: `value` points to `size` bytes of the attribute's type.
            unsafe { lt::set_matmul_desc_attribute(matmul.0, attr, value, size) }
                .map_err(lt_error("descriptor"))
        };
        // cublasOperation_t, an int: CUBLAS_OP_T.
        let transpose: i32 = 1;
        set(
            M::CUBLASLT_MATMUL_DESC_TRANSA,
            (&transpose as *const i32).cast(),
            4,
        )?;
        if let Some(ptr) = bias {
            let epilogue = sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_BIAS;
            set(
                M::CUBLASLT_MATMUL_DESC_EPILOGUE,
                (&epilogue as *const sys::cublasLtEpilogue_t).cast(),
                std::mem::size_of::<sys::cublasLtEpilogue_t>(),
            )?;
            set(
                M::CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                (&ptr as *const u64).cast(),
                8,
            )?;
        }
        Ok(Self { matmul, a, b, cd })
    }
}

/// A cuBLASLt object, destroyed on drop.
pub(super) struct Raw<H: Destroy>(pub(super) H);

pub(super) trait Destroy: Copy {
    /// # Safety
    /// `self` is live and not destroyed again.
    unsafe fn destroy(self);
}

impl Destroy for sys::cublasLtHandle_t {
    unsafe fn destroy(self) {
        let _ = lt::destroy_handle(self);
    }
}

impl Destroy for sys::cublasLtMatmulDesc_t {
    unsafe fn destroy(self) {
        let _ = lt::destroy_matmul_desc(self);
    }
}

impl Destroy for sys::cublasLtMatrixLayout_t {
    unsafe fn destroy(self) {
        let _ = lt::destroy_matrix_layout(self);
    }
}

impl Destroy for sys::cublasLtMatmulPreference_t {
    unsafe fn destroy(self) {
        let _ = lt::destroy_matmul_pref(self);
    }
}

impl<H: Destroy> Drop for Raw<H> {
    fn drop(&mut self) {
        // SAFETY: created live by cuBLASLt and dropped once.
        unsafe { self.0.destroy() }
    }
}

#[cfg(test)]
mod tests {
    use super::alignment;

    #[test]
    fn alignment_is_the_largest_power_of_two_up_to_256() {
        assert_eq!(alignment(0x1000), 256);
        assert_eq!(alignment(0x1010), 16);
        assert_eq!(alignment(0x1002), 2);
        assert_eq!(alignment(0), 256);
    }
}
