//! The dense heads' packed convolutions (`ops::packed_conv`) against candle's own `conv2d` and
//! `conv_transpose2d`, followed by the BatchNorm, the activation and the concatenation done with
//! plain tensor ops: exact on small integers (every product and sum is then exact in f32, so the
//! order of the sums cannot hide a wrong index), within rounding on random values, at every CPU
//! level this machine has, on sizes that cut the panels, tiles and passes over the inputs short.

use beit::cpu::level::CpuLevel;
use beit::ops::packed_conv::{Activation, ChannelAffine, PackedConv2d};
use beit::{DType, Device, Tensor};
use candle_core::IndexOp;

/// Integers in `lo..hi`, deterministic.
fn ints(dims: &[usize], lo: i64, hi: i64, seed: u64) -> Tensor {
    let n: usize = dims.iter().product();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (lo + ((state >> 33) as i64).rem_euclid(hi - lo)) as f32
        })
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// `x * scale + shift` per channel of an NCHW map, then the activation: the layers the packed
/// convolution folds in, as the model computed them before.
fn affine_then(x: &Tensor, affine: Option<&ChannelAffine>, activation: Activation) -> Tensor {
    let c = x.dim(1).unwrap();
    let x = match affine {
        Some(a) => {
            let scale = Tensor::from_vec(a.scale.clone(), (1, c, 1, 1), &Device::Cpu).unwrap();
            let shift = Tensor::from_vec(a.shift.clone(), (1, c, 1, 1), &Device::Cpu).unwrap();
            x.broadcast_mul(&scale).unwrap().broadcast_add(&shift).unwrap()
        }
        None => x.clone(),
    };
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.relu().unwrap(),
        Activation::GeluErf => x.gelu_erf().unwrap(),
    }
}

fn with_bias(x: Tensor, bias: Option<&Tensor>) -> Tensor {
    match bias {
        Some(b) => x
            .broadcast_add(&b.reshape((1, b.dim(0).unwrap(), 1, 1)).unwrap())
            .unwrap(),
        None => x,
    }
}

/// The conv of `inputs` concatenated, by candle, then bias, affine and activation.
fn conv_reference(
    inputs: &[&Tensor],
    w: &Tensor,
    bias: Option<&Tensor>,
    affine: Option<&ChannelAffine>,
    pad: usize,
    activation: Activation,
) -> Tensor {
    let x = Tensor::cat(inputs, 1).unwrap();
    let y = with_bias(x.conv2d(w, pad, 1, 1, 1).unwrap(), bias);
    affine_then(&y, affine, activation)
}

/// (batch, input channels per input, output channels, height, width, kernel, padding)
type Case = (usize, &'static [usize], usize, usize, usize, usize, usize);

fn affine(c: usize, seed: u64) -> ChannelAffine {
    ChannelAffine {
        scale: values(&ints(&[c], -3, 4, seed)),
        shift: values(&ints(&[c], -20, 20, seed + 1)),
    }
}

#[test]
fn packed_conv_is_exact_on_integers_for_every_shape_and_level() {
    let cases: [Case; 7] = [
        (1, &[5], 7, 9, 11, 3, 1),
        (2, &[3, 4], 33, 7, 5, 3, 1),
        (1, &[40, 24, 20], 17, 13, 6, 3, 1),
        (3, &[9], 16, 4, 4, 1, 0),
        (1, &[300], 40, 5, 7, 1, 0),
        (1, &[2], 3, 1, 1, 3, 1),
        (2, &[6], 5, 6, 8, 3, 0),
    ];
    for (i, (n, channels, c_out, h, w, k, pad)) in cases.into_iter().enumerate() {
        let seed = 10 * i as u64;
        let inputs: Vec<Tensor> = channels
            .iter()
            .enumerate()
            .map(|(j, &c)| ints(&[n, c, h, w], -4, 5, seed + j as u64))
            .collect();
        let inputs: Vec<&Tensor> = inputs.iter().collect();
        let c_in: usize = channels.iter().sum();
        let weight = ints(&[c_out, c_in, k, k], -3, 4, seed + 5);
        let bias = ints(&[c_out], -9, 9, seed + 6);
        let affine = affine(c_out, seed + 7);
        for (bias, affine, activation) in [
            (None, None, Activation::Identity),
            (Some(&bias), None, Activation::Relu),
            (None, Some(&affine), Activation::Relu),
            (Some(&bias), Some(&affine), Activation::Identity),
        ] {
            let want = conv_reference(&inputs, &weight, bias, affine, pad, activation);
            let layer = PackedConv2d::conv(&weight, bias, affine, pad, activation).unwrap();
            for level in CpuLevel::available() {
                let got = layer.forward_at(&inputs, level).unwrap();
                assert_eq!(got.dims(), want.dims(), "case {i}");
                assert_eq!(
                    values(&got),
                    values(&want),
                    "case {i} at {level:?}, {activation:?}"
                );
            }
        }
    }
}

#[test]
fn packed_transposed_conv_is_exact_on_integers_for_every_shape_and_level() {
    for (i, (n, c_in, c_out, h, w)) in [
        (1, 5, 7, 3, 4),
        (2, 20, 33, 5, 5),
        (1, 300, 16, 2, 9),
        (1, 3, 1, 1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 100 + 10 * i as u64;
        let x = ints(&[n, c_in, h, w], -4, 5, seed);
        let weight = ints(&[c_in, c_out, 2, 2], -3, 4, seed + 1);
        let bias = ints(&[c_out], -9, 9, seed + 2);
        let affine = affine(c_out, seed + 3);
        let plain = with_bias(x.conv_transpose2d(&weight, 0, 0, 2, 1).unwrap(), Some(&bias));
        let want = affine_then(&plain, Some(&affine), Activation::Relu);
        let layer = PackedConv2d::up2x2(&weight, Some(&bias), Some(&affine), Activation::Relu).unwrap();
        for level in CpuLevel::available() {
            let got = layer.forward_at(&[&x], level).unwrap();
            assert_eq!(got.dims(), &[n, c_out, 2 * h, 2 * w]);
            assert_eq!(values(&got), values(&want), "case {i} at {level:?}");
        }
    }
}

/// On real values the sums come in another order than candle's, and the GELU is the fast erf's:
/// within a few roundings.
#[test]
fn packed_convs_stay_within_rounding_on_random_values() {
    let x = Tensor::randn(0f32, 1.0, (1, 64, 20, 18), &Device::Cpu).unwrap();
    let w = Tensor::randn(0f32, 0.05, (48, 64, 3, 3), &Device::Cpu).unwrap();
    let affine = ChannelAffine {
        scale: values(&Tensor::randn(1f32, 0.2, 48, &Device::Cpu).unwrap()),
        shift: values(&Tensor::randn(0f32, 0.2, 48, &Device::Cpu).unwrap()),
    };
    let want = conv_reference(&[&x], &w, None, Some(&affine), 1, Activation::GeluErf);
    let got = PackedConv2d::conv(&w, None, Some(&affine), 1, Activation::GeluErf)
        .unwrap()
        .forward(&[&x])
        .unwrap();
    let diff: f32 = (got - &want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(diff < 1e-5, "{diff}");

    let wt = Tensor::randn(0f32, 0.05, (64, 40, 2, 2), &Device::Cpu).unwrap();
    let want = x.conv_transpose2d(&wt, 0, 0, 2, 1).unwrap();
    let got = PackedConv2d::up2x2(&wt, None, None, Activation::Identity)
        .unwrap()
        .forward(&[&x])
        .unwrap();
    let diff: f32 = (got - &want)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn packed_conv_refuses_inputs_that_do_not_fit_with_the_reason() {
    let layer = PackedConv2d::conv(
        &ints(&[4, 6, 3, 3], -1, 2, 1),
        None,
        None,
        0,
        Activation::Identity,
    )
    .unwrap();
    let too_small = ints(&[1, 6, 2, 5], 0, 1, 2);
    let err = layer.forward(&[&too_small]).unwrap_err().to_string();
    assert!(err.contains("smaller than its 3x3 kernel"), "{err}");
    let wrong_channels = ints(&[1, 5, 4, 4], 0, 1, 3);
    let err = layer.forward(&[&wrong_channels]).unwrap_err().to_string();
    assert!(err.contains("[5] input channels for a layer of 6"), "{err}");
    let half = ints(&[1, 3, 4, 4], 0, 1, 4);
    let other_size = ints(&[1, 3, 4, 5], 0, 1, 5);
    let err = layer.forward(&[&half, &other_size]).unwrap_err().to_string();
    assert!(err.contains("of one size"), "{err}");
    let f16 = half.to_dtype(DType::F16).unwrap();
    assert!(layer.forward(&[&f16, &half]).is_err());
    // One image of a batch alone gives what it gives in the batch.
    let batch = ints(&[3, 6, 5, 5], -4, 5, 6);
    let all = layer.forward(&[&batch]).unwrap();
    let one = layer.forward(&[&batch.i(1..2).unwrap()]).unwrap();
    assert_eq!(values(&all.i(1..2).unwrap()), values(&one));
}
