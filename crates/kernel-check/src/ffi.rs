//! The C ABI of host_check.cpp: each function mirrors a kernel's arguments (f32 data only).

use std::os::raw::c_int;

extern "C" {
    pub fn beit_host_attention(
        qkv: *const f32,
        bias: *const f32,
        out: *mut f32,
        batch: c_int,
        seq: c_int,
        heads: c_int,
        head_dim: c_int,
        bias_ld: c_int,
        scale: f32,
    );
    pub fn beit_host_bias_offset(head: c_int, i: c_int, j: c_int, seq: c_int, ld: c_int) -> c_int;
    pub fn beit_host_flash_bias_async(address: u64, ld: c_int) -> c_int;
    pub fn beit_host_attention_shared_bytes(head_dim: c_int) -> c_int;
    pub fn beit_host_launch_constants(out: *mut c_int);
    pub fn beit_host_mma_smem(head_dim: c_int, out: *mut c_int);
    pub fn beit_host_flash_shared_bytes(head_dim: c_int, warps: c_int) -> c_int;
    pub fn beit_host_flash_row_stride(head_dim: c_int) -> c_int;
    pub fn beit_host_flash_bias_stride() -> c_int;
    pub fn beit_host_layer_norm(
        x: *const f32,
        weight: *const f32,
        bias: *const f32,
        y: *mut f32,
        rows: c_int,
        dim: c_int,
        eps: f32,
    );
    pub fn beit_host_bias_act_residual(
        x: *const f32,
        bias: *const f32,
        residual: *const f32,
        y: *mut f32,
        rows: c_int,
        n: c_int,
        gelu: c_int,
    );
    pub fn beit_host_resample_h_u8(
        src: *const u8,
        dst: *mut u8,
        batch: c_int,
        h: c_int,
        w: c_int,
        out_w: c_int,
        channels: c_int,
        bounds: *const c_int,
        coeffs: *const c_int,
        ksize: c_int,
    );
    pub fn beit_host_resample_v_u8(
        src: *const u8,
        dst: *mut u8,
        batch: c_int,
        h: c_int,
        w: c_int,
        out_h: c_int,
        channels: c_int,
        bounds: *const c_int,
        coeffs: *const c_int,
        ksize: c_int,
    );
    pub fn beit_host_normalize_f32(
        src: *const u8,
        dst: *mut f32,
        batch: c_int,
        h: c_int,
        w: c_int,
        channels: c_int,
        top: c_int,
        left: c_int,
        out_h: c_int,
        out_w: c_int,
        factor: *const f64,
        mean: *const f32,
        std: *const f32,
        do_rescale: c_int,
        do_normalize: c_int,
    );
}
