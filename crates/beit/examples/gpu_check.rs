//! The GPU check's measurements (scripts/gpu-check.sh runs this on a GPU machine; prints JSON
//! lines). Built with `--features cuda`:
//! - `parity --models DIR`: every reference case in DIR on CUDA in float32, float16 and bfloat16
//!   against the CPU in float32 (and float32 against the reference itself);
//! - `kernels`: each fused kernel against candle's plain CUDA ops, op by op (the attention's
//!   tensor-core and SIMT kernels each) and whole models;
//! - `throughput --batches 1,8,64,256 --dtypes bf16,f16 [--seconds S]`: BEiT-base 224 images/s
//!   with our kernels (tensor-core attention, then SIMT attention) and with candle's plain ops;
//! - `ops [--batch 64] [--dtype bf16]`: the time of each op of a BEiT-base 224 layer at that batch,
//!   and of the whole forward, to see where a forward's time goes.
//!
//! Reduced precision: an output passes its dtype's tolerance (atol = rtol), or, where rounding to
//! the dtype costs transformers itself more than that (bfloat16 hidden states do),
//! `REFERENCE_FACTOR` times what it costs transformers on the same case (reduced_precision.json,
//! scripts/make_reduced_precision_reference.py).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use beit::cuda_settings::{self, AttentionKernel};
use beit::{
    Architecture, BeitConfig, BeitPreTrainedModel, DType, Device, ForwardInputs, LoadOptions, ModelOutput,
    Tensor,
};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let result = match args.first().map(String::as_str) {
        Some("parity") => parity(&PathBuf::from(
            flag("--models").unwrap_or_else(|| "crates/beit/tests/fixtures/reference".into()),
        )),
        Some("kernels") => kernels(flag("--models").map(PathBuf::from)),
        Some("ops") => ops(
            flag("--batch").and_then(|s| s.parse().ok()).unwrap_or(64),
            &flag("--dtype").unwrap_or_else(|| "bf16".into()),
        ),
        Some("throughput") => throughput(
            &list(&flag("--batches").unwrap_or_else(|| "1,8,64,256".into())),
            &flag("--dtypes").unwrap_or_else(|| "bf16,f16".into()),
            flag("--seconds").and_then(|s| s.parse().ok()).unwrap_or(3.0),
        ),
        Some("profile") => profile(
            flag("--batch").and_then(|s| s.parse().ok()).unwrap_or(64),
            &flag("--dtype").unwrap_or_else(|| "bf16".into()),
        ),
        _ => {
            eprintln!("usage: gpu_check parity [--models DIR] | kernels [--models DIR] | throughput [--batches 1,8] [--dtypes bf16,f16] [--seconds S] | ops [--batch 64] [--dtype bf16] | profile [--batch 64] [--dtype bf16]");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        println!("{}", json!({ "step": "error", "error": e.to_string() }));
        std::process::exit(1);
    }
}

fn list(s: &str) -> Vec<usize> {
    s.split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

/// How many times transformers' own error in a reduced precision an output may reach.
const REFERENCE_FACTOR: f64 = 2.0;

/// transformers' largest |difference| from float32 of each (case, dtype, output) (see the module
/// comment); empty when the file is missing.
fn reference_errors(models: &Path) -> serde_json::Value {
    std::fs::read_to_string(models.join("reduced_precision.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The tolerance (atol = rtol) of each dtype against the CPU in float32.
fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 5e-3,
        DType::BF16 => 1e-2,
        _ => 1e-4,
    }
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        _ => "float32",
    }
}

fn cuda() -> beit::Result<Device> {
    beit::parse_device("cuda")
}

struct Case {
    name: String,
    dir: PathBuf,
    arch: Architecture,
    inputs: ForwardInputs,
    expected: HashMap<String, Tensor>,
}

fn cases(models: &Path) -> beit::Result<Vec<Case>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(models)
        .map_err(|e| beit::BeitError::InvalidArgument(format!("{}: {e}", models.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter().map(|dir| load_case(&dir)).collect()
}

fn load_case(dir: &Path) -> beit::Result<Case> {
    let text = std::fs::read_to_string(dir.join("case.json"))
        .map_err(|e| beit::BeitError::InvalidArgument(e.to_string()))?;
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| beit::BeitError::InvalidArgument(e.to_string()))?;
    let arch = Architecture::parse(meta["class"].as_str().unwrap_or_default())?;
    let tensors = candle_core::safetensors::load(dir.join("inputs.safetensors"), &Device::Cpu)?;
    let mut inputs = ForwardInputs::new(tensors["pixel_values"].clone());
    inputs.bool_masked_pos = tensors.get("bool_masked_pos").cloned();
    inputs.labels = tensors.get("labels").cloned();
    inputs.interpolate_pos_encoding = meta["forward"]["interpolate_pos_encoding"] == true;
    inputs.output_hidden_states = true;
    let expected = candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu)?;
    Ok(Case {
        name: dir.file_name().unwrap_or_default().to_string_lossy().into_owned(),
        dir: dir.to_path_buf(),
        arch,
        inputs,
        expected,
    })
}

/// The outputs by the reference's names: `logits`, `hidden_states.3`, ... (no attentions: the
/// fused kernel computes the context without them).
fn named(out: &ModelOutput) -> beit::Result<HashMap<String, Tensor>> {
    let mut named = HashMap::new();
    for (name, t) in [
        ("logits", &out.logits),
        ("last_hidden_state", &out.last_hidden_state),
        ("pooler_output", &out.pooler_output),
    ] {
        if let Some(t) = t {
            named.insert(name.to_string(), t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?);
        }
    }
    for (name, list) in [
        ("hidden_states", &out.hidden_states),
        ("feature_maps", &out.feature_maps),
    ] {
        for (i, t) in list.iter().flatten().enumerate() {
            named.insert(
                format!("{name}.{i}"),
                t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?,
            );
        }
    }
    Ok(named)
}

/// The largest `|got - want| - tol * |want|` over the elements (<= tol passes), and the largest
/// absolute difference.
fn compare(got: &Tensor, want: &Tensor, tol: f64) -> beit::Result<(bool, f64)> {
    let got = got.flatten_all()?.to_vec1::<f32>()?;
    let want = want.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    if got.len() != want.len() {
        return Ok((false, f64::INFINITY));
    }
    let mut pass = true;
    let mut worst = 0f64;
    for (g, w) in got.iter().zip(&want) {
        let diff = (g - w).abs() as f64;
        worst = worst.max(if diff.is_nan() { f64::INFINITY } else { diff });
        pass &= diff <= tol + tol * (*w as f64).abs();
    }
    Ok((pass, worst))
}

/// Loading on `device` in `dtype` (never quantized: q8 is CPU only).
fn load_options(device: &Device, dtype: DType) -> LoadOptions {
    LoadOptions {
        device: device.clone(),
        dtype,
        quantization: None,
    }
}

fn run(case: &Case, device: &Device, dtype: DType) -> beit::Result<HashMap<String, Tensor>> {
    let model = case
        .arch
        .from_pretrained(&case.dir, &load_options(device, dtype))?;
    named(&model.forward(&case.inputs)?)
}

fn parity(models: &Path) -> beit::Result<()> {
    let device = cuda()?;
    let reference = reference_errors(models);
    for case in cases(models)? {
        let cpu = run(&case, &Device::Cpu, DType::F32)?;
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let started = Instant::now();
            let got = match run(&case, &device, dtype) {
                Ok(got) => got,
                Err(e) => {
                    println!(
                        "{}",
                        json!({"step": "parity", "case": case.name, "dtype": dtype_name(dtype), "pass": false, "error": e.to_string()})
                    );
                    continue;
                }
            };
            let tol = tolerance(dtype);
            let mut names: Vec<_> = cpu.keys().collect();
            names.sort();
            for name in names {
                let (pass, max_abs) = match got.get(name) {
                    Some(g) => compare(g, &cpu[name], tol)?,
                    None => (false, f64::INFINITY),
                };
                let torch = reference[&case.name][dtype_name(dtype)][name.as_str()].as_f64();
                let within_torch = torch.is_some_and(|t| max_abs <= REFERENCE_FACTOR * t);
                let mut line = json!({"step": "parity", "case": case.name, "dtype": dtype_name(dtype), "output": name,
                    "against": "cpu-float32", "tol": tol, "max_abs": max_abs, "transformers_max_abs": torch,
                    "within_tol": pass, "pass": pass || within_torch});
                if dtype == DType::F32 {
                    if let (Some(g), Some(want)) = (got.get(name), case.expected.get(name)) {
                        let (ref_pass, ref_abs) = compare(g, want, 1e-4)?;
                        line["reference_pass"] = json!(ref_pass);
                        line["reference_max_abs"] = json!(ref_abs);
                    }
                }
                println!("{line}");
            }
            eprintln!(
                "{} {}: {:.1} s",
                case.name,
                dtype_name(dtype),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

fn kernels(models: Option<PathBuf>) -> beit::Result<()> {
    let device = cuda()?;
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        op_checks(&device, dtype)?;
    }
    preprocess_checks(&device)?;
    if let Some(models) = models {
        let reference = reference_errors(&models);
        for case in cases(&models)? {
            let cpu = run(&case, &Device::Cpu, DType::F32)?;
            for dtype in [DType::F32, DType::F16, DType::BF16] {
                cuda_settings::set_enabled(false);
                let plain = run(&case, &device, dtype)?;
                cuda_settings::set_enabled(true);
                let fused = run(&case, &device, dtype)?;
                let tol = tolerance(dtype);
                for (name, want) in &plain {
                    let (Some(got), Some(exact)) = (fused.get(name), cpu.get(name)) else {
                        println!(
                            "{}",
                            json!({"step": "kernels", "op": "model", "case": case.name, "output": name,
                            "dtype": dtype_name(dtype), "pass": false, "error": "missing output"})
                        );
                        continue;
                    };
                    let (within_tol, max_abs) = compare(got, want, tol)?;
                    // Both paths round to the dtype, each its own way: the fused one passes if it is
                    // no further from the CPU's float32 than the plain one, or than 2x transformers.
                    let (_, fused_err) = compare(got, exact, tol)?;
                    let (_, plain_err) = compare(want, exact, tol)?;
                    let torch = reference[&case.name][dtype_name(dtype)][name.as_str()].as_f64();
                    let bound = plain_err.max(torch.map_or(0.0, |t| REFERENCE_FACTOR * t));
                    println!(
                        "{}",
                        json!({"step": "kernels", "op": "model", "case": case.name, "output": name,
                        "dtype": dtype_name(dtype), "tol": tol, "max_abs": max_abs, "fused_vs_cpu_f32": fused_err,
                        "plain_vs_cpu_f32": plain_err, "transformers_max_abs": torch,
                        "pass": within_tol || fused_err <= bound})
                    );
                }
            }
        }
    }
    Ok(())
}

/// Runs `f(dtype)` with the fused kernels on and with candle's plain ops, and the plain ops in
/// float32 on the same (already rounded) inputs as the reference: the fused result passes within the
/// dtype's tolerance of it, or no further from it than the plain ops in the dtype (which round more
/// often: scores to the dtype before the softmax, say).
fn on_off(
    op: &str,
    shape: &str,
    dtype: DType,
    f: impl Fn(DType) -> beit::Result<Tensor>,
) -> beit::Result<()> {
    let host = |t: Tensor| -> beit::Result<Tensor> { Ok(t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?) };
    cuda_settings::set_enabled(false);
    let exact = host(f(DType::F32)?)?;
    let plain = host(f(dtype)?)?;
    cuda_settings::set_enabled(true);
    let fused = host(f(dtype)?)?;
    let tol = tolerance(dtype);
    let (within_tol, max_abs) = compare(&fused, &exact, tol)?;
    let (_, plain_abs) = compare(&plain, &exact, tol)?;
    let (_, fused_vs_plain) = compare(&fused, &plain, tol)?;
    println!(
        "{}",
        json!({"step": "kernels", "op": op, "shape": shape, "dtype": dtype_name(dtype), "tol": tol,
        "against": "plain-float32", "max_abs": max_abs, "plain_max_abs": plain_abs,
        "fused_vs_plain_max_abs": fused_vs_plain, "pass": within_tol || max_abs <= plain_abs})
    );
    Ok(())
}

fn op_checks(device: &Device, dtype: DType) -> beit::Result<()> {
    // Inputs rounded to `dtype` once; `at(t, d)` is the same values in d.
    let random = |dims: &[usize], std: f64| -> beit::Result<Tensor> {
        Ok(Tensor::randn(0f32, std as f32, dims, device)?.to_dtype(dtype)?)
    };
    let at = |t: &Tensor, d: DType| -> beit::Result<Tensor> { Ok(t.to_dtype(d)?) };
    for (b, s, heads, head_dim) in [
        (2, 197, 12, 64),
        (3, 50, 4, 32),
        (1, 1, 2, 64),
        (2, 577, 16, 64),
        (1, 65, 2, 128),
        (1, 100, 3, 80),
    ] {
        let qkv = random(&[b, s, 3 * heads * head_dim], 1.0)?;
        // In the dtype, as the model's is (the kernels read it so); rows padded as the model pads
        // them on CUDA, and contiguous.
        let bias = random(&[heads, s, s], 2.0)?;
        let padded = bias
            .pad_with_zeros(2, 0, s.next_multiple_of(8) - s)?
            .narrow(2, 0, s)?;
        let shape = format!("b{b} s{s} heads{heads} dim{head_dim}");
        // Each fused kernel: both tensor-core ones (f16 and bf16; flash at head sizes 32, 64, 128,
        // wmma at 16k; a call they do not take runs the next one down) and the SIMT one.
        let variants = attention_variants();
        for &(kernel, warps) in &variants {
            use_attention(kernel, warps);
            let variant = attention_name(kernel, warps);
            on_off(&variant, &shape, dtype, |d| {
                Ok(beit::ops::attention(&at(&qkv, d)?, None, heads, false)?.0)
            })?;
            on_off(&format!("{variant}+bias"), &shape, dtype, |d| {
                Ok(beit::ops::attention(&at(&qkv, d)?, Some(&at(&bias, d)?), heads, false)?.0)
            })?;
            on_off(&format!("{variant}+padded bias"), &shape, dtype, |d| {
                Ok(beit::ops::attention(&at(&qkv, d)?, Some(&at(&padded, d)?), heads, false)?.0)
            })?;
        }
        use_attention(variants[0].0, variants[0].1);
    }
    for (rows, dim) in [(394, 768), (1, 1024), (7, 33)] {
        // A large mean, as the residual stream of a deep ViT has: E[x²] - E[x]² would cancel.
        let x = (random(&[rows, dim], 1.0)? + 50.0)?;
        let (w, b) = (random(&[dim], 1.0)?, random(&[dim], 1.0)?);
        on_off("layer_norm", &format!("{rows}x{dim}"), dtype, |d| {
            Ok(beit::ops::layer_norm(
                &at(&x, d)?,
                &at(&w, d)?,
                &at(&b, d)?,
                1e-12,
            )?)
        })?;
    }
    for (rows, n_in, n_out) in [(394, 768, 3072), (5, 64, 7)] {
        let x = random(&[rows, n_in], 1.0)?;
        let w = random(&[n_out, n_in], 0.05)?;
        let b = random(&[n_out], 1.0)?;
        let r = random(&[rows, n_out], 1.0)?;
        let shape = format!("{rows}x{n_in}->{n_out}");
        // cuBLASLt with the bias and residual in its epilogue, and candle's cuBLAS with our pass.
        for (gemm_lt, gemm) in [(true, ""), (false, " (cublas)")] {
            cuda_settings::set_gemm_lt(gemm_lt);
            for (op, residual, gelu) in [
                ("linear+gelu", None, true),
                ("linear+residual", Some(&r), false),
                ("linear", None, false),
            ] {
                on_off(&format!("{op}{gemm}"), &shape, dtype, |d| {
                    let residual = residual.map(|r| at(r, d)).transpose()?;
                    let (x, w, b) = (at(&x, d)?, at(&w, d)?, at(&b, d)?);
                    Ok(beit::ops::linear_epilogue(
                        &x,
                        &w,
                        Some(&b),
                        residual.as_ref(),
                        gelu,
                    )?)
                })?;
            }
        }
        cuda_settings::set_gemm_lt(true);
    }
    Ok(())
}

/// GPU preprocessing against the CPU's, which must be equal bit for bit: every filter, down and
/// up, crops inside and beyond the image, on the fixture photos.
fn preprocess_checks(device: &Device) -> beit::Result<()> {
    use beit::image::decode::ImageSource;
    use beit::image::processor::BeitImageProcessor;
    use beit::image::processor_config::ImageProcessorConfig;
    let configs = [
        r#"{"size": {"height": 224, "width": 224}, "do_center_crop": false, "resample": 2}"#,
        r#"{"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}, "resample": 3}"#,
        r#"{"size": {"height": 640, "width": 512}, "crop_size": {"height": 700, "width": 500}, "resample": 1}"#,
        r#"{"size": {"height": 97, "width": 131}, "do_center_crop": false, "resample": 0}"#,
        r#"{"size": {"height": 33, "width": 47}, "do_center_crop": false, "resample": 4}"#,
        r#"{"size": {"height": 300, "width": 300}, "do_center_crop": false, "resample": 5}"#,
    ];
    // Relative: the script runs from the repository root, wherever the checkout lies.
    let images = Path::new("crates/beit/tests/fixtures/images");
    let mut files: Vec<PathBuf> = std::fs::read_dir(images)
        .map_err(|e| beit::BeitError::InvalidArgument(format!("{}: {e}", images.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for json in configs {
        let processor = BeitImageProcessor::new(ImageProcessorConfig::from_json_str(json)?);
        for file in &files {
            let source = [ImageSource::Path(file.clone())];
            let cpu = processor.preprocess(&source, None)?.pixel_values;
            let gpu = processor
                .preprocess_on(device, &source, None)?
                .pixel_values
                .to_device(&Device::Cpu)?;
            let (pass, max_abs) = compare(&gpu, &cpu, 0.0)?;
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            println!(
                "{}",
                json!({"step": "kernels", "op": "preprocess", "shape": format!("{name} {json}"),
                "dtype": "uint8->float32", "tol": 0.0, "max_abs": max_abs, "pass": pass})
            );
        }
    }
    Ok(())
}

/// BEiT-base 224 as microsoft/beit-base-patch16-224 (random weights: the speed is the same).
fn beit_base() -> BeitConfig {
    BeitConfig {
        use_relative_position_bias: true,
        use_mean_pooling: true,
        num_labels: Some(1000),
        ..BeitConfig::default()
    }
}

/// BEiT-base with random weights on `device` in `dtype`: the model of every timed figure.
fn beit_base_model(device: &Device, dtype: DType) -> beit::Result<Box<dyn BeitPreTrainedModel>> {
    Architecture::BeitForImageClassification.from_config(&beit_base(), &load_options(device, dtype))
}

/// A batch of random 224x224 pixels on `device`, as the timed forwards take it.
fn random_inputs(batch: usize, device: &Device) -> beit::Result<ForwardInputs> {
    let pixels = Tensor::rand(-1f32, 1f32, (batch, 3, 224, 224), device)?;
    Ok(ForwardInputs::new(pixels))
}

fn throughput(batches: &[usize], dtypes: &str, seconds: f64) -> beit::Result<()> {
    let device = cuda()?;
    for dtype in dtypes.split(',') {
        let (dtype, _) = beit::parse_precision(dtype)?;
        // Our kernels as they default; with candle's cuBLAS matmul and our epilogue pass for the
        // linear layers instead of cuBLASLt; with the flash attention's other block size; and
        // candle's plain ops. (The wmma and SIMT attention are timed in the ops table only.)
        let [default, other_flash, ..] = attention_variants()[..] else {
            unreachable!("four variants")
        };
        for (variant, kernels, gemm_lt, (attention, warps)) in [
            ("default".to_string(), true, true, default),
            ("cublas".to_string(), true, false, default),
            (
                attention_name(other_flash.0, other_flash.1),
                true,
                true,
                other_flash,
            ),
            ("plain".to_string(), false, true, default),
        ] {
            cuda_settings::set_enabled(kernels);
            cuda_settings::set_gemm_lt(gemm_lt);
            use_attention(attention, warps);
            let model = beit_base_model(&device, dtype)?;
            for &batch in batches {
                let inputs = random_inputs(batch, &device)?;
                let (images_per_s, memory) = time_forward(&*model, &inputs, &device, seconds)?;
                println!(
                    "{}",
                    json!({"step": "throughput", "model": "beit-base-224", "impl": "beit-node",
                    "variant": variant, "kernels": kernels,
                    "attention": if kernels { attention_name(attention, warps) } else { "plain".into() },
                    "gemm": if gemm_lt { "cublaslt" } else { "cublas" },
                    "dtype": dtype_name(dtype), "batch": batch,
                    "images_per_s": images_per_s, "device_memory_mib": memory as f64 / (1 << 20) as f64})
                );
            }
        }
        use_attention(default.0, default.1);
    }
    cuda_settings::set_enabled(true);
    cuda_settings::set_gemm_lt(true);
    Ok(())
}

/// Images per second from the median of forwards timed each to a device synchronize over `seconds`
/// after a warm-up, as bench/gpu_peers.py times PyTorch's; and the most device memory in use seen
/// after any of them (queried outside the timed spans: the query takes longer than a small forward).
fn time_forward(
    model: &dyn BeitPreTrainedModel,
    inputs: &ForwardInputs,
    device: &Device,
    seconds: f64,
) -> beit::Result<(f64, usize)> {
    let batch = inputs.pixel_values.dim(0)?;
    for _ in 0..3 {
        model.forward(inputs)?;
    }
    device.synchronize()?;
    let mut memory = 0;
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs_f64(seconds) || times.len() < 3 {
        let forward = Instant::now();
        model.forward(inputs)?;
        device.synchronize()?;
        times.push(forward.elapsed().as_secs_f64());
        memory = memory.max(beit::cuda::devices::memory_in_use(0).unwrap_or(0));
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok((batch as f64 / median, memory))
}

/// The name of an attention kernel in the check's lines (the flash kernel's with its warps a block).
fn attention_name(kernel: AttentionKernel, warps: usize) -> String {
    match kernel {
        AttentionKernel::Flash => format!("flash w{warps}"),
        AttentionKernel::Wmma => "wmma".into(),
        AttentionKernel::Simt => "simt".into(),
    }
}

/// Every attention kernel: (kernel, flash warps a block), the default first.
fn attention_variants() -> Vec<(AttentionKernel, usize)> {
    let warps = cuda_settings::flash_warps();
    vec![
        (AttentionKernel::Flash, warps),
        (AttentionKernel::Flash, 12 - warps),
        (AttentionKernel::Wmma, warps),
        (AttentionKernel::Simt, warps),
    ]
}

/// Selects an attention kernel for the process.
fn use_attention(kernel: AttentionKernel, warps: usize) {
    cuda_settings::set_attention_kernel(kernel);
    cuda_settings::set_flash_warps(warps);
}

/// Milliseconds per call of `f` (mean over `runs` after 3 warm-ups, to a device synchronize).
fn time_ms(device: &Device, runs: usize, f: impl Fn() -> beit::Result<Tensor>) -> beit::Result<f64> {
    for _ in 0..3 {
        f()?;
    }
    device.synchronize()?;
    let started = Instant::now();
    for _ in 0..runs {
        f()?;
    }
    device.synchronize()?;
    Ok(started.elapsed().as_secs_f64() * 1e3 / runs as f64)
}

/// Where a BEiT-base 224 forward's time goes at `batch`: each op of one layer as the model calls
/// it, times 12 layers, against the whole forward.
fn ops(batch: usize, dtype: &str) -> beit::Result<()> {
    let device = cuda()?;
    let (dtype, _) = beit::parse_precision(dtype)?;
    let (s, d, f, heads) = (197usize, 768usize, 3072usize, 12usize);
    let rows = batch * s;
    let random = |dims: &[usize], std: f32| -> beit::Result<Tensor> {
        Ok(Tensor::randn(0f32, std, dims, &device)?.to_dtype(dtype)?)
    };
    let x = random(&[batch, s, d], 1.0)?;
    let hidden = random(&[batch, s, f], 1.0)?;
    let qkv = random(&[batch, s, 3 * d], 1.0)?;
    let (w_qkv, w_proj) = (random(&[3 * d, d], 0.02)?, random(&[d, d], 0.02)?);
    let (w_fc1, w_fc2) = (random(&[f, d], 0.02)?, random(&[d, f], 0.02)?);
    let (b_qkv, b_d, b_f) = (random(&[3 * d], 0.1)?, random(&[d], 0.1)?, random(&[f], 0.1)?);
    let (ln_w, ln_b) = (random(&[d], 1.0)?, random(&[d], 0.1)?);
    // The relative position bias as the model keeps it on CUDA: in the dtype, rows padded to 200.
    let bias = random(&[heads, s, s], 1.0)?
        .pad_with_zeros(2, 0, s.next_multiple_of(8) - s)?
        .narrow(2, 0, s)?;
    let pixels = random(&[batch, 3, 224, 224], 1.0)?;
    let patch_w = random(&[d, 3, 16, 16], 0.02)?;
    let gemm_flops = |n_in: usize, n_out: usize| 2.0 * (rows * n_in * n_out) as f64;
    let attention_flops = 4.0 * (batch * heads * s * s * (d / heads)) as f64;
    let runs = 20;
    let report = |op: &str, per_layer: bool, flops: f64, ms: f64| {
        println!(
            "{}",
            json!({"step": "ops", "op": op, "batch": batch, "dtype": dtype_name(dtype), "ms": ms,
            "per_layer": per_layer, "tflops": if flops > 0.0 { flops / ms / 1e9 } else { 0.0 }})
        );
    };
    let gemm = |a: &Tensor, w: &Tensor| -> beit::Result<Tensor> {
        let n_in = a.dim(2)?;
        Ok(a.reshape((rows, n_in))?.matmul(&w.t()?)?)
    };
    // Each linear layer of a BEiT layer: (name, input, weight, bias, residual, GELU); timed as the
    // bare GEMM and as the op the model calls (GEMM and our epilogue).
    let layers = [
        ("qkv", &x, &w_qkv, &b_qkv, None, false),
        ("proj", &x, &w_proj, &b_d, Some(&x), false),
        ("fc1", &x, &w_fc1, &b_f, None, true),
        ("fc2", &hidden, &w_fc2, &b_d, Some(&x), false),
    ];
    let mut linears = Vec::new();
    for (name, input, weight, bias, residual, gelu) in layers {
        let (n_out, n_in) = weight.dims2()?;
        let flops = gemm_flops(n_in, n_out);
        report(
            &format!("gemm {name}"),
            false,
            flops,
            time_ms(&device, runs, || gemm(input, weight))?,
        );
        let linear = || -> beit::Result<Tensor> {
            Ok(beit::ops::linear_epilogue(
                input,
                weight,
                Some(bias),
                residual,
                gelu,
            )?)
        };
        cuda_settings::set_gemm_lt(false);
        let cublas_ms = time_ms(&device, runs, linear)?;
        cuda_settings::set_gemm_lt(true);
        let ms = time_ms(&device, runs, linear)?;
        let extra = match (residual, gelu) {
            (Some(_), _) => " +residual",
            (None, true) => " +gelu",
            (None, false) => "",
        };
        linears.push((format!("linear {name} +bias{extra}"), flops, ms));
        report(
            &format!("linear {name} +bias{extra}, cuBLAS + epilogue pass (not in the sum)"),
            false,
            flops,
            cublas_ms,
        );
    }
    let ln = time_ms(&device, runs, || {
        Ok(beit::ops::layer_norm(&x, &ln_w, &ln_b, 1e-12)?)
    })?;
    let mut attention_ms = Vec::new();
    let variants = attention_variants();
    for &(kernel, warps) in &variants {
        use_attention(kernel, warps);
        attention_ms.push((
            attention_name(kernel, warps),
            time_ms(&device, runs, || {
                Ok(beit::ops::attention(&qkv, Some(&bias), heads, false)?.0)
            })?,
        ));
    }
    use_attention(variants[0].0, variants[0].1);
    let attention = attention_ms[0].1;
    let unbiased = time_ms(&device, runs, || {
        Ok(beit::ops::attention(&qkv, None, heads, false)?.0)
    })?;
    let mut layer = 2.0 * ln + attention;
    for (op, flops, ms) in &linears {
        report(op, true, *flops, *ms);
        layer += ms;
    }
    report("layer_norm (x2 a layer)", true, 0.0, ln);
    for (i, (name, ms)) in attention_ms.iter().enumerate() {
        let op = format!(
            "attention, {name}{}",
            if i == 0 { "" } else { " (not in the sum)" }
        );
        report(&op, i == 0, attention_flops, *ms);
    }
    report(
        &format!(
            "attention, {}, no bias (not in the sum)",
            attention_name(variants[0].0, variants[0].1)
        ),
        false,
        attention_flops,
        unbiased,
    );
    report("one layer, sum of the above", false, 0.0, layer);
    let patch = time_ms(&device, runs, || Ok(pixels.conv2d(&patch_w, 0, 16, 1, 1)?))?;
    report(
        "patch embedding conv2d",
        false,
        gemm_flops(768, d) * 196.0 / 197.0,
        patch,
    );
    let model = beit_base_model(&device, dtype)?;
    let inputs = random_inputs(batch, &device)?;
    let forward = time_ms(&device, 10, || {
        Ok(model
            .forward(&inputs)?
            .logits
            .unwrap_or(Tensor::zeros(1, DType::F32, &device)?))
    })?;
    report(
        "12 layers + patch embedding, estimated",
        false,
        0.0,
        12.0 * layer + patch,
    );
    report("whole forward", false, 35.2e9 * batch as f64, forward);
    Ok(())
}

/// One BEiT-base forward after a warm-up, between cuProfilerStart and cuProfilerStop: under
/// `ncu --profile-from-start off` (scripts/gpu-check.sh's `profile` step) every kernel of exactly one
/// forward, with its time.
fn profile(batch: usize, dtype: &str) -> beit::Result<()> {
    let device = cuda()?;
    let (dtype, _) = beit::parse_precision(dtype)?;
    let model = beit_base_model(&device, dtype)?;
    let inputs = random_inputs(batch, &device)?;
    for _ in 0..3 {
        model.forward(&inputs)?;
    }
    device.synchronize()?;
    // SAFETY: plain driver calls with no arguments; the profiler ignores them when not attached.
    unsafe { cudarc::driver::sys::cuProfilerStart() };
    model.forward(&inputs)?;
    device.synchronize()?;
    // SAFETY: as above.
    unsafe { cudarc::driver::sys::cuProfilerStop() };
    Ok(())
}
