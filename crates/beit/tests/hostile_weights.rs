//! Checkpoints built to exhaust memory: a pickle that builds 2^40 objects through its memo, a
//! tensor that declares 256 GiB, safetensors headers that declare more than the file holds. Each
//! gives E_WEIGHTS without allocating what it declares. The cases that aborted the process before
//! run in a child process (address space capped), which must exit normally with a small peak RSS.

#![cfg(target_os = "linux")]

#[path = "support/child.rs"]
mod child;

use std::io::Write;
use std::path::Path;

use beit::weights::load_weights;
use beit::{BeitError, DType, Device};

/// More than a few MB of peak RSS means something allocated what the file declared.
const PEAK_RSS_BOUND_MIB: u64 = 512;

/// Pickle opcodes (protocol 2), written as torch.save writes a state dict.
#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn op(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }

    fn global(self, module: &str, class: &str) -> Self {
        self.op(format!("c{module}\n{class}\n").as_bytes())
    }

    fn string(self, s: &str) -> Self {
        let len = (s.len() as u32).to_le_bytes();
        self.op(b"X").op(&len).op(s.as_bytes())
    }

    fn int(self, i: i32) -> Self {
        self.op(b"J").op(&i.to_le_bytes())
    }

    fn tuple(self, items: &[i32]) -> Self {
        items.iter().fold(self.op(b"("), |p, &i| p.int(i)).op(b"t")
    }

    fn ordered_dict(self) -> Self {
        self.global("collections", "OrderedDict").op(b")R")
    }
}

/// A state dict of one f32 tensor `name` of `shape`, over storage `0` of `storage` values.
fn state_dict(name: &str, storage: i32, shape: &[i32]) -> Vec<u8> {
    let mut stride: Vec<i32> = shape
        .iter()
        .rev()
        .scan(1i32, |s, &d| {
            let this = *s;
            *s = s.saturating_mul(d);
            Some(this)
        })
        .collect();
    stride.reverse();
    Pickle::default()
        .op(b"\x80\x02")
        .ordered_dict()
        .op(b"(")
        .string(name)
        .global("torch._utils", "_rebuild_tensor_v2")
        .op(b"((")
        .string("storage")
        .global("torch", "FloatStorage")
        .string("0")
        .string("cpu")
        .int(storage)
        .op(b"tQ")
        .int(0)
        .tuple(shape)
        .tuple(&stride)
        .op(b"\x89")
        .ordered_dict()
        .op(b"tRu.")
        .0
}

/// A `pytorch_model.bin` in `dir` holding `pickle` and `storage_bytes` for storage `0`.
fn write_pytorch(dir: &Path, pickle: &[u8], storage_bytes: usize) {
    let file = std::fs::File::create(dir.join("pytorch_model.bin")).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(pickle).unwrap();
    zip.start_file("archive/data/0", stored).unwrap();
    zip.write_all(&vec![0u8; storage_bytes]).unwrap();
    zip.finish().unwrap();
}

fn weights_error<T>(result: beit::Result<T>) -> String {
    match result {
        Err(e @ BeitError::Weights(_)) => e.to_string(),
        Err(other) => panic!("expected a weights error, got {other:?}"),
        Ok(_) => panic!("expected a weights error, the weights opened"),
    }
}

fn open_error(dir: &Path) -> String {
    weights_error(load_weights(dir, DType::F32, &Device::Cpu))
}

/// Runs `test` in a child process and returns what it printed, once it exited normally within
/// the peak RSS bound.
fn in_bounded_child(test: &str) -> String {
    let output = child::run_child(test);
    let report = child::describe(&output);
    assert!(output.status.success(), "the child failed: {report}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let peak: u64 = child::printed(&stdout, "peak_rss_kib")
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS printed: {report}"));
    assert!(
        peak < child::rss_bound_kib(PEAK_RSS_BOUND_MIB),
        "peak RSS {peak} KiB: {report}"
    );
    stdout
}

/// In the child: caps memory, runs `case`, prints its error and the peak RSS.
fn child_case(case: impl FnOnce() -> String) {
    child::cap_address_space(8);
    let message = case();
    println!("error={message}");
    println!("peak_rss_kib={}", child::peak_rss_kib());
}

#[test]
fn a_pickle_that_copies_a_list_into_itself_forty_times_is_refused() {
    const TEST: &str = "a_pickle_that_copies_a_list_into_itself_forty_times_is_refused";
    if !child::is_child(TEST) {
        let stdout = in_bounded_child(TEST);
        let error = child::printed(&stdout, "error").unwrap_or_default();
        assert!(error.contains("objects built"), "{stdout}");
        assert!(error.contains("pytorch_model.bin"), "{stdout}");
        return;
    }
    child_case(|| {
        // memo[0] = []; then forty times: memo[0] = [memo[0], memo[0]]: 2^40 objects in 300 bytes.
        let mut pickle = Pickle::default().op(b"\x80\x02]q\x00");
        for _ in 0..40 {
            pickle = pickle.op(b"]h\x00ah\x00aq\x00");
        }
        let pickle = pickle.op(b".").0;
        let dir = tempfile::tempdir().unwrap();
        write_pytorch(dir.path(), &pickle, 0);
        open_error(dir.path())
    });
}

#[test]
fn a_tensor_declaring_256_gib_over_a_small_storage_is_refused() {
    const TEST: &str = "a_tensor_declaring_256_gib_over_a_small_storage_is_refused";
    if !child::is_child(TEST) {
        let stdout = in_bounded_child(TEST);
        let error = child::printed(&stdout, "error").unwrap_or_default();
        assert!(error.contains("tensor huge"), "{stdout}");
        assert!(error.contains("[262144, 262144]"), "{stdout}");
        return;
    }
    child_case(|| {
        let dir = tempfile::tempdir().unwrap();
        // (2^18, 2^18) f32: 2^36 values, 256 GiB, over a storage of 16 bytes.
        write_pytorch(dir.path(), &state_dict("huge", 4, &[1 << 18, 1 << 18]), 16);
        // Before the check, opening succeeded and reading the tensor allocated its declared size.
        let weights = load_weights(dir.path(), DType::F32, &Device::Cpu);
        weights_error(weights.and_then(|w| Ok(w.vb.get((1 << 18, 1 << 18), "huge")?)))
    });
}

#[test]
fn a_tensor_larger_than_its_storage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_pytorch(dir.path(), &state_dict("w", 4, &[1000, 1000]), 16);
    let msg = open_error(dir.path());
    assert!(msg.contains("tensor w declares the shape [1000, 1000]"), "{msg}");
    assert!(msg.contains("16 bytes"), "{msg}");
}

#[test]
fn a_well_formed_small_state_dict_opens_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    write_pytorch(dir.path(), &state_dict("w", 6, &[2, 3]), 24);
    let weights = load_weights(dir.path(), DType::F32, &Device::Cpu).unwrap();
    let w = weights.vb.get((2, 3), "w").unwrap();
    assert_eq!(w.sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
}

#[test]
fn a_malformed_tensor_record_is_an_error_not_a_panic() {
    // _rebuild_tensor_v2 with a one-item argument tuple: candle's reader indexes past its end.
    let pickle = Pickle::default()
        .op(b"\x80\x02")
        .ordered_dict()
        .op(b"(")
        .string("w")
        .global("torch._utils", "_rebuild_tensor_v2")
        .op(b"(")
        .int(0)
        .op(b"tRu.")
        .0;
    let dir = tempfile::tempdir().unwrap();
    write_pytorch(dir.path(), &pickle, 0);
    let msg = open_error(dir.path());
    assert!(msg.contains("pytorch_model.bin"), "{msg}");
}

#[test]
fn pickle_limits_name_what_was_exceeded() {
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "stack depth",
            [&b"\x80\x02"[..], &b"N".repeat(70_000), b"."].concat(),
        ),
        (
            "string length",
            [&b"\x80\x02X"[..], &(1u32 << 31).to_le_bytes(), b"."].concat(),
        ),
        ("memo entries", {
            let mut p = Pickle::default().op(b"\x80\x02N");
            for id in 0..(1u32 << 18) + 1 {
                p = p.op(b"r").op(&id.to_le_bytes());
            }
            p.op(b".").0
        }),
        ("malformed", b"\x80\x02h\x07.".to_vec()),
    ];
    for (limit, pickle) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_pytorch(dir.path(), &pickle, 0);
        let msg = open_error(dir.path());
        assert!(msg.contains(limit), "{limit}: {msg}");
    }
}

/// A safetensors file: the 8-byte header length, the header, the data.
fn safetensors(header_len: u64, header: &str, data: usize) -> Vec<u8> {
    [&header_len.to_le_bytes()[..], header.as_bytes(), &vec![0u8; data]].concat()
}

/// Headers that declare more than the file holds, overlap, overflow, or are huge: each is
/// refused by the safetensors crate's validation (as candle reads it), before any tensor is
/// allocated; the child's peak RSS shows nothing of the declared sizes was.
#[test]
fn hostile_safetensors_headers_are_refused_without_allocating() {
    const TEST: &str = "hostile_safetensors_headers_are_refused_without_allocating";
    let t = |shape: &str, offsets: &str| {
        format!(r#""{shape}":{{"dtype":"F32","shape":{shape},"data_offsets":{offsets}}}"#)
    };
    let header = |tensors: &[String]| format!("{{{}}}", tensors.join(","));
    let cases = [
        // 2^40 bytes declared, 16 held.
        header(&[t("[274877906944]", "[0,1099511627776]")]),
        // Two tensors over the same bytes.
        header(&[t("[4]", "[0,16]"), t("[2,2]", "[8,24]")]),
        // A shape whose size overflows, offsets at the end of u64.
        header(&[t("[4611686018427387904,16]", "[0,18446744073709551615]")]),
    ];
    if !child::is_child(TEST) {
        let stdout = in_bounded_child(TEST);
        assert_eq!(stdout.matches("E_WEIGHTS").count(), cases.len() + 2, "{stdout}");
        return;
    }
    child::cap_address_space(8);
    let mut files: Vec<Vec<u8>> = cases.iter().map(|h| safetensors(h.len() as u64, h, 16)).collect();
    // A header length of 2^60; one of 50 MB in a file of 100 bytes.
    files.push(safetensors(1 << 60, "{}", 0));
    files.push(safetensors(50_000_000, "{}", 88));
    for bytes in files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
        let result = load_weights(dir.path(), DType::F32, &Device::Cpu);
        let code = result.as_ref().err().map_or("loaded", BeitError::code);
        println!(
            "{code}: {}",
            result.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    println!("peak_rss_kib={}", child::peak_rss_kib());
}

/// The test checkpoint's pickle with `flips` bytes replaced, drawn by xorshift from `seed`.
fn mutated_pickle(pickle: &[u8], seed: u64, flips: usize) -> Vec<u8> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut bytes = pickle.to_vec();
    for _ in 0..flips {
        let at = (next() % bytes.len() as u64) as usize;
        bytes[at] = next() as u8;
    }
    bytes
}

/// Random corruptions of a real state dict's pickle (tests/fixtures/pytorch), each opened and
/// every tensor it declares read: an error or weights, never an abort, a panic that escapes, or a
/// large allocation (the child's address space is capped, its peak RSS bounded).
#[test]
fn corrupted_real_pickles_give_errors_or_weights() {
    const TEST: &str = "corrupted_real_pickles_give_errors_or_weights";
    if !child::is_child(TEST) {
        let stdout = in_bounded_child(TEST);
        // Both outcomes occur: the corruptions reach candle's reader, not only the scan.
        let count = |key| child::printed(&stdout, key).and_then(|v| v.split(' ').next()?.parse::<u32>().ok());
        assert!(
            count("opened") > Some(0) && count("tensors_read") > Some(0),
            "{stdout}"
        );
        assert!(count("refused") > Some(0), "{stdout}");
        return;
    }
    child::cap_address_space(8);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/pytorch_model.bin");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(fixture).unwrap()).unwrap();
    let entries: Vec<(String, Vec<u8>)> = (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            (entry.name().unwrap().into_owned(), bytes)
        })
        .collect();
    let pickle = &entries
        .iter()
        .find(|(name, _)| name.ends_with("data.pkl"))
        .unwrap()
        .1;
    // Silence the panic messages of malformed records that the reader catches.
    std::panic::set_hook(Box::new(|_| {}));
    let (mut opened, mut refused, mut read) = (0, 0, 0);
    for seed in 1..=300u64 {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("pytorch_model.bin")).unwrap();
        let mut out = zip::ZipWriter::new(file);
        let stored =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in &entries {
            out.start_file(name, stored).unwrap();
            let mutated;
            let bytes = if name.ends_with("data.pkl") {
                mutated = mutated_pickle(pickle, seed, 1 + (seed % 4) as usize);
                &mutated
            } else {
                bytes
            };
            out.write_all(bytes).unwrap();
        }
        out.finish().unwrap();
        match load_weights(dir.path(), DType::F32, &Device::Cpu) {
            Ok(weights) => {
                opened += 1;
                // Read every tensor the file declares, at whatever shape it declares.
                let names = [
                    "beit.embeddings.cls_token",
                    "classifier.weight",
                    "classifier.bias",
                ];
                read += names
                    .iter()
                    .filter(|n| weights.vb.get_unchecked(n).is_ok())
                    .count();
            }
            Err(BeitError::Weights(_)) => refused += 1,
            Err(other) => panic!("seed {seed}: {other:?}"),
        }
    }
    let _ = std::panic::take_hook();
    println!("opened={opened} refused={refused} tensors_read={read}");
    println!("peak_rss_kib={}", child::peak_rss_kib());
}
