//! The linear epilogue kernel (emulated on the host) against beit's CPU ops: the fused linear
//! (bias and residual accumulated by the GEMM) and the erf GELU.

use beit::ops::{gelu_erf, linear};
use candle_core::{Device, Tensor};
use kernel_check::epilogue::bias_act_residual;

fn random(rng: &mut fastrand::Rng, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.f32() * 2.0 - 1.0) * amplitude).collect()
}

fn tensor(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
}

/// `x I^T + bias` through beit's linear: the GEMM of an identity is exact, so this is the CPU
/// op's bias (and residual) arithmetic alone.
fn cpu_linear(x: &[f32], rows: usize, n: usize, bias: Option<&[f32]>, residual: Option<&[f32]>) -> Tensor {
    let identity = Tensor::eye(n, candle_core::DType::F32, &Device::Cpu).unwrap();
    let bias = bias.map(|b| tensor(b, &[n]));
    let residual = residual.map(|r| tensor(r, &[rows, n]));
    linear(
        &tensor(x, &[rows, n]),
        &identity,
        bias.as_ref(),
        residual.as_ref(),
    )
    .unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff <= tol, "{what}: max |diff| {diff}");
}

#[test]
fn bias_and_residual_without_activation() {
    let mut rng = fastrand::Rng::with_seed(1);
    for (rows, n) in [(1, 1), (3, 768), (5, 37)] {
        let x = random(&mut rng, rows * n, 4.0);
        let b = random(&mut rng, n, 1.0);
        let r = random(&mut rng, rows * n, 1.0);
        let want = values(&cpu_linear(&x, rows, n, Some(&b), Some(&r)));
        assert_close(
            &bias_act_residual(&x, Some(&b), Some(&r), n, false),
            &want,
            1e-6,
            "bias+res",
        );
        let want = values(&cpu_linear(&x, rows, n, None, Some(&r)));
        assert_close(
            &bias_act_residual(&x, None, Some(&r), n, false),
            &want,
            1e-6,
            "res",
        );
        let want = values(&cpu_linear(&x, rows, n, Some(&b), None));
        assert_close(
            &bias_act_residual(&x, Some(&b), None, n, false),
            &want,
            1e-6,
            "bias",
        );
        assert_eq!(bias_act_residual(&x, None, None, n, false), x, "identity");
    }
}

#[test]
fn exact_gelu_after_the_bias() {
    let mut rng = fastrand::Rng::with_seed(2);
    for (rows, n) in [(1, 1), (2, 3072), (7, 13)] {
        // Past |x| = 4 GELU is x or 0 to float precision: cover the curved part densely.
        let x = random(&mut rng, rows * n, 5.0);
        let b = random(&mut rng, n, 0.5);
        let r = random(&mut rng, rows * n, 1.0);
        let act = gelu_erf(&cpu_linear(&x, rows, n, Some(&b), None)).unwrap();
        // The same erf approximation as the CPU's, with fused multiply-adds where the CPU rounds
        // twice: a few f32 ulp of values up to 5.5 (5e-7 each).
        let tol = 2e-6;
        assert_close(
            &bias_act_residual(&x, Some(&b), None, n, true),
            &values(&act),
            tol,
            "gelu",
        );
        let with_res = (act + tensor(&r, &[rows, n])).unwrap();
        let got = bias_act_residual(&x, Some(&b), Some(&r), n, true);
        assert_close(&got, &values(&with_res), tol, "gelu+res");
    }
}
