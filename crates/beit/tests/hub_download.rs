//! Downloads from a hub on 127.0.0.1 into the cache layout Python's huggingface_hub writes: what
//! lands where, cache reuse, offline mode, broken and resumed transfers, and each failure's error.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use beit::hub::{resolve_model_dir, DownloadProgress, HubOptions, ProgressCallback, RepoFiles};
use beit::{Architecture, LoadOptions};
use support::mock_hub::{etag, read_tiny as read, tiny_repo, MockHub, MockRepo, COMMIT};

fn options(hub: &MockHub, cache: &Path) -> HubOptions {
    HubOptions {
        cache_dir: Some(cache.to_path_buf()),
        endpoint: Some(hub.url.clone()),
        ..HubOptions::default()
    }
}

fn snapshot(cache: &Path) -> PathBuf {
    cache.join("models--org--tiny/snapshots").join(COMMIT)
}

fn downloads_of(hub: &MockHub, file: &str) -> Vec<Option<String>> {
    let tag = etag(&read(file));
    hub.seen()
        .into_iter()
        .filter(|s| s.path.ends_with(&tag) && s.range.as_deref() != Some("bytes=0-0"))
        .map(|s| s.range)
        .collect()
}

#[test]
fn a_repo_downloads_into_the_shared_cache_layout_and_loads() {
    let hub = MockHub::start();
    hub.add("org/tiny", tiny_repo());
    let cache = tempfile::tempdir().unwrap();
    let events = Arc::new(Mutex::new(Vec::<DownloadProgress>::new()));
    let sink = events.clone();
    let opts = HubOptions {
        progress: Some(ProgressCallback(Arc::new(move |p| {
            sink.lock().unwrap().push(p.clone())
        }))),
        ..options(&hub, cache.path())
    };

    let dir = resolve_model_dir("org/tiny", RepoFiles::Model, &opts).unwrap();

    assert_eq!(dir, snapshot(cache.path()));
    let repo = cache.path().join("models--org--tiny");
    assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), COMMIT);
    let weights = read("model.safetensors");
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), weights);
    assert!(repo.join("blobs").join(etag(&weights)).is_file());
    assert!(
        dir.join("model.safetensors").is_symlink(),
        "snapshots link to blobs, as in Python"
    );
    // The repo has no image processor: the hub's answer is remembered as Python remembers it.
    assert!(repo
        .join(".no_exist")
        .join(COMMIT)
        .join("preprocessor_config.json")
        .exists());
    let model = Architecture::BeitForImageClassification
        .from_pretrained(&dir, &LoadOptions::default())
        .unwrap();
    assert_eq!(model.config().num_labels(), 7);

    let events = events.lock().unwrap();
    let last = events
        .iter()
        .rev()
        .find(|e| e.file == "model.safetensors")
        .unwrap();
    assert_eq!(
        (last.downloaded, last.total),
        (weights.len() as u64, weights.len() as u64)
    );
    assert_eq!(
        events
            .iter()
            .find(|e| e.file == "model.safetensors")
            .unwrap()
            .downloaded,
        0
    );
}

#[test]
fn a_cached_repo_is_used_without_the_network_and_offline() {
    let hub = MockHub::start();
    hub.add("org/tiny", tiny_repo());
    let cache = tempfile::tempdir().unwrap();
    let first = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, cache.path())).unwrap();
    let requests = hub.seen().len();

    let again = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, cache.path())).unwrap();
    let offline = HubOptions {
        local_files_only: true,
        ..options(&hub, cache.path())
    };
    let by_commit = HubOptions {
        revision: Some(COMMIT.into()),
        ..offline.clone()
    };
    assert_eq!(again, first);
    assert_eq!(
        resolve_model_dir("org/tiny", RepoFiles::Model, &offline).unwrap(),
        first
    );
    assert_eq!(
        resolve_model_dir("org/tiny", RepoFiles::Config, &by_commit).unwrap(),
        first
    );
    assert_eq!(hub.seen().len(), requests, "no request for a cached revision");

    let err = resolve_model_dir("org/other", RepoFiles::Model, &offline).unwrap_err();
    assert_eq!(err.code(), "E_NOT_FOUND");
    assert!(err.to_string().contains("offline mode"), "{err}");
    assert_eq!(hub.seen().len(), requests, "offline mode never asks the hub");
}

#[test]
fn a_dropped_connection_is_resumed_where_it_broke_off() {
    let hub = MockHub::start();
    hub.add("org/tiny", tiny_repo());
    hub.drop_halfway("model.safetensors", 1);
    let cache = tempfile::tempdir().unwrap();

    let dir = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, cache.path())).unwrap();

    let weights = read("model.safetensors");
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), weights);
    let ranges = downloads_of(&hub, "model.safetensors");
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[1], Some(format!("bytes={}-", weights.len() / 2)));
}

#[test]
fn a_download_that_keeps_breaking_off_fails_and_resumes_on_the_next_call() {
    let hub = MockHub::start();
    hub.add("org/tiny", tiny_repo());
    hub.drop_halfway("model.safetensors", 10);
    let cache = tempfile::tempdir().unwrap();

    let err = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, cache.path())).unwrap_err();
    assert_eq!(err.code(), "E_NETWORK");
    assert!(err.to_string().contains("run again to resume"), "{err}");
    assert!(
        !snapshot(cache.path()).join("model.safetensors").exists(),
        "nothing looks complete"
    );

    hub.drop_halfway("model.safetensors", 0);
    let dir = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, cache.path())).unwrap();
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        read("model.safetensors")
    );
}

/// What a process killed mid-download leaves behind: `blobs/{etag}.part`.
fn leave_partial(cache: &Path, bytes: &[u8]) -> PathBuf {
    let blobs = cache.join("models--org--tiny/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let part = blobs.join(format!("{}.part", etag(&read("model.safetensors"))));
    std::fs::write(&part, bytes).unwrap();
    part
}

#[test]
fn a_partial_file_from_a_killed_process_is_resumed_or_named() {
    let hub = MockHub::start();
    hub.add("org/tiny", tiny_repo());
    let weights = read("model.safetensors");
    let cache = tempfile::tempdir().unwrap();
    leave_partial(cache.path(), &weights[..1000]);

    let dir = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, cache.path())).unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), weights);
    assert_eq!(
        downloads_of(&hub, "model.safetensors"),
        [Some("bytes=1000-".to_string())]
    );

    let stale = tempfile::tempdir().unwrap();
    let part = leave_partial(stale.path(), &vec![0; weights.len() + 1]);
    let err = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, stale.path())).unwrap_err();
    assert_eq!(err.code(), "E_CACHE");
    assert!(err.to_string().contains("delete the *.part files"), "{err}");
    assert!(
        err.to_string().contains(part.parent().unwrap().to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn weights_are_looked_for_in_the_order_transformers_uses() {
    let hub = MockHub::start();
    let mut repo = tiny_repo();
    let weights = repo.files.remove("model.safetensors").unwrap();
    repo.files.insert("pytorch_model.bin".into(), weights);
    hub.add("org/tiny", repo);
    let cache = tempfile::tempdir().unwrap();

    let dir = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, cache.path())).unwrap();

    assert!(dir.join("pytorch_model.bin").is_file());
    let asked: Vec<String> = hub.seen().into_iter().map(|s| s.path).collect();
    let position = |file: &str| asked.iter().position(|p| p.ends_with(file)).unwrap();
    assert!(position("/model.safetensors") < position("/model.safetensors.index.json"));
    assert!(position("/model.safetensors.index.json") < position("/pytorch_model.bin"));

    hub.add(
        "org/empty",
        MockRepo {
            files: [("config.json".to_string(), read("config.json"))].into(),
            lfs: vec![],
            token: None,
        },
    );
    let err = resolve_model_dir("org/empty", RepoFiles::Model, &options(&hub, cache.path())).unwrap_err();
    assert_eq!(err.code(), "E_NOT_FOUND");
    assert!(err.to_string().contains("has no weights"), "{err}");
}

/// A repo with Flax weights only (some hub checkpoints): `flax_model.msgpack` is fetched after
/// every PyTorch file was asked for, and the model loads from it.
#[test]
fn a_repo_with_flax_weights_only_downloads_them_last_and_loads() {
    let hub = MockHub::start();
    let flax = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference/flax_cls_abspos_clspool");
    let file = |name: &str| std::fs::read(flax.join(name)).unwrap();
    hub.add(
        "org/tiny",
        MockRepo {
            files: [
                ("config.json".to_string(), file("config.json")),
                ("flax_model.msgpack".to_string(), file("flax_model.msgpack")),
            ]
            .into(),
            lfs: vec!["flax_model.msgpack".into()],
            token: None,
        },
    );
    let cache = tempfile::tempdir().unwrap();

    let dir = resolve_model_dir("org/tiny", RepoFiles::Model, &options(&hub, cache.path())).unwrap();

    assert_eq!(
        std::fs::read(dir.join("flax_model.msgpack")).unwrap(),
        file("flax_model.msgpack")
    );
    let asked: Vec<String> = hub.seen().into_iter().map(|s| s.path).collect();
    let position = |file: &str| asked.iter().position(|p| p.ends_with(file)).unwrap();
    assert!(position("/pytorch_model.bin") < position("/flax_model.msgpack"));
    let arch = Architecture::parse("BeitForImageClassification").unwrap();
    assert!(arch.from_pretrained(&dir, &LoadOptions::default()).is_ok());
    // Cached now: the next resolve needs no network.
    let offline = HubOptions {
        local_files_only: true,
        ..options(&hub, cache.path())
    };
    assert_eq!(
        resolve_model_dir("org/tiny", RepoFiles::Model, &offline).unwrap(),
        dir
    );
}

#[test]
fn a_private_repo_needs_its_token() {
    let hub = MockHub::start();
    hub.add(
        "org/tiny",
        MockRepo {
            token: Some("hf_secret".into()),
            ..tiny_repo()
        },
    );
    let cache = tempfile::tempdir().unwrap();

    let err = resolve_model_dir("org/tiny", RepoFiles::Config, &options(&hub, cache.path())).unwrap_err();
    assert_eq!(err.code(), "E_NOT_FOUND");
    assert!(err.to_string().contains("HF_TOKEN"), "{err}");

    let with_token = HubOptions {
        token: Some("hf_secret".into()),
        ..options(&hub, cache.path())
    };
    resolve_model_dir("org/tiny", RepoFiles::Config, &with_token).unwrap();
    assert_eq!(
        hub.seen().last().unwrap().authorization.as_deref(),
        Some("Bearer hf_secret")
    );
}

#[test]
fn each_failure_says_what_happened_and_what_to_do() {
    let hub = MockHub::start();
    hub.add("org/tiny", tiny_repo());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&hub, cache.path());
    let expect = |name: &str, opts: &HubOptions, code: &str, says: &str| {
        let err = resolve_model_dir(name, RepoFiles::Model, opts).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    };

    expect(
        "org/unknown",
        &opts,
        "E_NOT_FOUND",
        "repository org/unknown was not found",
    );
    let v9 = HubOptions {
        revision: Some("v9".into()),
        ..opts.clone()
    };
    expect("org/tiny", &v9, "E_NOT_FOUND", "has no revision v9");
    // Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused at once.
    let nowhere = HubOptions {
        endpoint: Some("http://127.0.0.1:9".into()),
        ..opts.clone()
    };
    expect(
        "org/tiny",
        &nowhere,
        "E_NETWORK",
        "could not reach http://127.0.0.1:9",
    );
    let file = cache.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let unwritable = HubOptions {
        cache_dir: Some(file.join("hub")),
        ..opts.clone()
    };
    expect(
        "org/tiny",
        &unwritable,
        "E_CACHE",
        "cannot write into the hub cache",
    );
    expect("../../etc", &opts, "E_NOT_FOUND", "nor a HuggingFace repo id");
}
