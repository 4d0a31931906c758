//! A hub that is not trusted, on 127.0.0.1: headers that would name paths outside the cache, a
//! hub that stalls, redirects to other hosts, proxies' 404s, mirrors that ignore `Range` or send
//! the wrong bytes, and concurrent downloads of one file from threads and from processes.

#[path = "support/child.rs"]
mod child;
mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use beit::hub::{resolve_model_dir, CancelFlag, HubOptions, HubSettings, ProgressCallback, RepoFiles};
use support::mock_hub::{etag, read_tiny as read, sha256, tiny_repo, Fault, MockHub, MockRepo, COMMIT};

const WEIGHTS: &str = "model.safetensors";
/// What a child process of the cross-process test reads: `{hub url} {cache dir}`.
const CHILD: &str = "BEIT_HUB_SAFETY_CHILD";
/// Far above any of the short timeouts the tests set: only a hang trips it.
const HANG_GUARD: Duration = Duration::from_secs(20);

fn hub() -> MockHub {
    let hub = MockHub::start();
    hub.add("org/tiny", tiny_repo());
    hub
}

fn options(hub: &MockHub, cache: &Path) -> HubOptions {
    HubOptions {
        cache_dir: Some(cache.to_path_buf()),
        endpoint: Some(hub.url.clone()),
        request_timeout: Some(Duration::from_millis(500)),
        stall_timeout: Some(Duration::from_millis(500)),
        ..HubOptions::default()
    }
}

fn repo_dir(cache: &Path) -> PathBuf {
    cache.join("models--org--tiny")
}

fn load(opts: &HubOptions) -> beit::Result<PathBuf> {
    resolve_model_dir("org/tiny", RepoFiles::Model, opts)
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

fn expect_err(result: beit::Result<PathBuf>, code: &str, says: &[&str]) -> String {
    let err = result.unwrap_err();
    assert_eq!(err.code(), code, "{err}");
    let message = err.to_string();
    for s in says {
        assert!(message.contains(s), "{s:?} not in: {message}");
    }
    message
}

#[test]
fn hostile_etag_and_commit_headers_write_nothing_outside_the_cache() {
    let hostile = "../../../../x";
    for fault in [
        Fault::Etag(format!("\"{hostile}\"")),
        Fault::Commit(hostile.into()),
    ] {
        let hub = hub();
        hub.fault("config.json", fault.clone());
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("a/b/c/cache");

        let message = expect_err(
            load(&options(&hub, &cache)),
            "E_HUB",
            &["did not answer like the HuggingFace hub", hostile],
        );

        let outside: Vec<PathBuf> = walk(root.path())
            .into_iter()
            .filter(|p| {
                let beside = !p.starts_with(&cache) && !cache.starts_with(p);
                beside || p.file_name().is_some_and(|n| n == "x")
            })
            .collect();
        assert!(outside.is_empty(), "{fault:?} wrote {outside:?} ({message})");
        assert!(!repo_dir(&cache).join("snapshots").exists(), "{fault:?}");
    }
}

#[test]
fn a_revision_that_is_a_path_is_refused_before_any_request() {
    let hub = hub();
    let cache = tempfile::tempdir().unwrap();
    for revision in ["../../../../x", "/etc", "a\\..\\b", "main/../../x", "a//b"] {
        let opts = HubOptions {
            revision: Some(revision.into()),
            ..options(&hub, cache.path())
        };
        expect_err(
            load(&opts),
            "E_NOT_FOUND",
            &[&format!("{revision:?}"), "git branch"],
        );
    }
    assert!(hub.seen().is_empty(), "{:?}", hub.seen());
    assert!(!repo_dir(cache.path()).join("refs").exists());
}

#[test]
fn a_404_without_the_hubs_error_code_is_an_error_not_an_absent_file() {
    let hub = hub();
    hub.fault("preprocessor_config.json", Fault::Bare404);
    let cache = tempfile::tempdir().unwrap();

    expect_err(
        load(&options(&hub, cache.path())),
        "E_HUB",
        &[
            &hub.url,
            "without the hub's X-Error-Code",
            "did not answer like the HuggingFace hub",
        ],
    );
    assert!(
        !repo_dir(cache.path()).join(".no_exist").exists(),
        "a proxy's 404 is not recorded as the file's absence"
    );

    hub.clear_faults();
    let cache = tempfile::tempdir().unwrap();
    load(&options(&hub, cache.path())).unwrap();
    assert!(repo_dir(cache.path())
        .join(".no_exist")
        .join(COMMIT)
        .join("preprocessor_config.json")
        .exists());
}

#[test]
fn a_hub_that_stalls_fails_with_e_network_instead_of_hanging() {
    let hub = hub();
    hub.fault(WEIGHTS, Fault::StallAfterHeaders(Duration::from_secs(60)));
    let cache = tempfile::tempdir().unwrap();
    let started = Instant::now();

    expect_err(
        load(&options(&hub, cache.path())),
        "E_NETWORK",
        &["stalled", "HF_HUB_DOWNLOAD_TIMEOUT", "to resume"],
    );
    assert!(started.elapsed() < HANG_GUARD);
    assert!(!repo_dir(cache.path())
        .join("snapshots")
        .join(COMMIT)
        .join(WEIGHTS)
        .exists());

    let silent = self::hub();
    silent.fault("config.json", Fault::Silent(Duration::from_secs(60)));
    let cache = tempfile::tempdir().unwrap();
    let started = Instant::now();
    expect_err(
        load(&options(&silent, cache.path())),
        "E_NETWORK",
        &["did not answer within", "HF_HUB_ETAG_TIMEOUT"],
    );
    assert!(started.elapsed() < HANG_GUARD);
}

#[test]
fn the_token_stays_with_the_endpoint_host() {
    let cdn = MockHub::start_on("127.0.0.2");
    cdn.add("org/tiny", tiny_repo());
    let hub = MockHub::start();
    hub.add(
        "org/tiny",
        MockRepo {
            token: Some("hf_secret".into()),
            ..tiny_repo()
        },
    );
    hub.fault(WEIGHTS, Fault::RedirectTo(cdn.url.clone()));
    let cache = tempfile::tempdir().unwrap();
    let opts = HubOptions {
        token: Some("hf_secret".into()),
        ..options(&hub, cache.path())
    };

    let dir = load(&opts).unwrap();

    assert_eq!(std::fs::read(dir.join(WEIGHTS)).unwrap(), read(WEIGHTS));
    assert!(!cdn.seen().is_empty(), "the weights came from the other host");
    assert!(
        cdn.seen().iter().all(|s| s.authorization.is_none()),
        "{:?}",
        cdn.seen()
    );
    assert!(hub
        .seen()
        .iter()
        .all(|s| s.authorization.as_deref() == Some("Bearer hf_secret")));
}

#[test]
fn the_token_goes_over_plain_http_only_to_this_machine_or_when_asked() {
    // 127.0.0.2 is not 127.0.0.1 / localhost: to the client, another machine over plain http.
    let hub = MockHub::start_on("127.0.0.2");
    hub.add(
        "org/tiny",
        MockRepo {
            token: Some("hf_secret".into()),
            ..tiny_repo()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = HubOptions {
        token: Some("hf_secret".into()),
        ..options(&hub, cache.path())
    };

    expect_err(
        resolve_model_dir("org/tiny", RepoFiles::Config, &opts),
        "E_NOT_FOUND",
        &["BEIT_HUB_TOKEN_OVER_HTTP", "https"],
    );
    assert!(hub.seen().iter().all(|s| s.authorization.is_none()));

    let asked = HubOptions {
        token_over_http: true,
        ..opts
    };
    resolve_model_dir("org/tiny", RepoFiles::Config, &asked).unwrap();
    assert_eq!(
        hub.seen().last().unwrap().authorization.as_deref(),
        Some("Bearer hf_secret")
    );
}

#[test]
fn debug_output_never_shows_the_token() {
    let opts = HubOptions {
        token: Some("hf_secret".into()),
        ..HubOptions::default()
    };
    let settings = HubSettings::resolve_with(&opts, |_| None).unwrap();
    for shown in [format!("{opts:?}"), format!("{settings:?}")] {
        assert!(!shown.contains("hf_secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

fn settings(opts: &HubOptions, vars: &[(&str, &str)]) -> beit::Result<HubSettings> {
    HubSettings::resolve_with(opts, |name| {
        vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    })
}

#[test]
fn timeouts_come_from_options_then_the_variables_python_reads() {
    let none = HubOptions::default();
    let defaults = settings(&none, &[]).unwrap();
    assert_eq!(defaults.request_timeout, beit::hub::DEFAULT_REQUEST_TIMEOUT);
    assert_eq!(defaults.stall_timeout, beit::hub::DEFAULT_STALL_TIMEOUT);
    assert_eq!(defaults.lock_timeout, beit::hub::DEFAULT_LOCK_TIMEOUT);
    let vars = [
        ("HF_HUB_ETAG_TIMEOUT", "1.5"),
        ("HF_HUB_DOWNLOAD_TIMEOUT", "3"),
        ("BEIT_HUB_LOCK_TIMEOUT", "7"),
    ];
    let set = settings(&none, &vars).unwrap();
    assert_eq!(
        (set.request_timeout, set.stall_timeout, set.lock_timeout),
        (
            Duration::from_millis(1500),
            Duration::from_secs(3),
            Duration::from_secs(7)
        )
    );
    let opts = HubOptions {
        stall_timeout: Some(Duration::from_secs(1)),
        ..HubOptions::default()
    };
    assert_eq!(
        settings(&opts, &vars).unwrap().stall_timeout,
        Duration::from_secs(1)
    );
    for bad in ["soon", "0", "-1", "inf"] {
        let err = settings(&none, &[("HF_HUB_DOWNLOAD_TIMEOUT", bad)]).unwrap_err();
        assert_eq!(err.code(), "E_INVALID_ARGUMENT");
        assert!(err.to_string().contains("HF_HUB_DOWNLOAD_TIMEOUT"), "{err}");
    }
    let zero = HubOptions {
        request_timeout: Some(Duration::ZERO),
        ..HubOptions::default()
    };
    assert_eq!(settings(&zero, &[]).unwrap_err().code(), "E_INVALID_ARGUMENT");
}

#[test]
fn a_resume_answered_with_the_whole_file_restarts_from_zero() {
    let hub = hub();
    hub.drop_halfway(WEIGHTS, 1);
    hub.fault(WEIGHTS, Fault::IgnoreRange);
    let cache = tempfile::tempdir().unwrap();

    let dir = load(&options(&hub, cache.path())).unwrap();

    let weights = read(WEIGHTS);
    assert_eq!(std::fs::read(dir.join(WEIGHTS)).unwrap(), weights);
    let tag = etag(&weights);
    let ranges: Vec<Option<String>> = hub
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with(&tag))
        .map(|s| s.range)
        .collect();
    assert_eq!(ranges, [None, Some(format!("bytes={}-", weights.len() / 2))]);
}

#[test]
fn a_blob_of_the_wrong_size_is_never_linked() {
    let weights = read(WEIGHTS);
    for announced in [weights.len() - 100, weights.len() + 100] {
        let hub = hub();
        hub.fault(WEIGHTS, Fault::AnnounceSize(announced));
        let cache = tempfile::tempdir().unwrap();

        expect_err(
            load(&options(&hub, cache.path())),
            "E_HUB",
            &[&format!("announced {announced} bytes"), "discarded"],
        );

        assert_no_blob(cache.path(), &etag(&weights));
        assert!(!repo_dir(cache.path())
            .join("snapshots")
            .join(COMMIT)
            .join(WEIGHTS)
            .exists());
    }
}

#[test]
fn an_lfs_blob_must_match_its_sha256_etag() {
    let weights = read(WEIGHTS);
    let hub = hub();
    hub.sha256_etags();
    let cache = tempfile::tempdir().unwrap();
    let dir = load(&options(&hub, cache.path())).unwrap();
    assert!(repo_dir(cache.path())
        .join("blobs")
        .join(sha256(&weights))
        .is_file());
    assert_eq!(std::fs::read(dir.join(WEIGHTS)).unwrap(), weights);

    let mut corrupt = weights.clone();
    corrupt[1000] ^= 0xff;
    let bad = self::hub();
    bad.sha256_etags();
    bad.fault(WEIGHTS, Fault::Content(corrupt));
    let cache = tempfile::tempdir().unwrap();
    expect_err(
        load(&options(&bad, cache.path())),
        "E_HUB",
        &["sha256", &sha256(&weights), "discarded"],
    );
    assert_no_blob(cache.path(), &sha256(&weights));
}

/// Neither the blob nor a part of it is left.
fn assert_no_blob(cache: &Path, tag: &str) {
    let blobs = repo_dir(cache).join("blobs");
    for name in [tag.to_string(), format!("{tag}.part")] {
        assert!(!blobs.join(&name).exists(), "{name} is left: {:?}", walk(&blobs));
    }
}

/// Drips the weights out slowly enough that concurrent downloads overlap.
fn slow_hub() -> MockHub {
    let hub = hub();
    hub.fault(
        WEIGHTS,
        Fault::Drip {
            bytes: 16 * 1024,
            every: Duration::from_millis(20),
        },
    );
    hub
}

#[test]
fn concurrent_loads_in_one_process_all_succeed_and_download_once() {
    let hub = slow_hub();
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&hub, cache.path());

    let dirs: Vec<beit::Result<PathBuf>> = std::thread::scope(|s| {
        let loads: Vec<_> = (0..4).map(|_| s.spawn(|| load(&opts))).collect();
        loads.into_iter().map(|l| l.join().unwrap()).collect()
    });

    let weights = read(WEIGHTS);
    for dir in dirs {
        let dir = dir.unwrap();
        assert_eq!(std::fs::read(dir.join(WEIGHTS)).unwrap(), weights);
    }
    assert_eq!(hub.completed(WEIGHTS), 1, "the others waited for the first");
    assert!(cache
        .path()
        .join(".locks/models--org--tiny")
        .join(format!("{}.lock", etag(&weights)))
        .is_file());
}

#[test]
fn concurrent_loads_from_two_processes_both_succeed() {
    if let Ok(job) = std::env::var(CHILD) {
        let (url, cache) = job.split_once(' ').unwrap();
        let opts = HubOptions {
            cache_dir: Some(cache.into()),
            endpoint: Some(url.into()),
            ..HubOptions::default()
        };
        load(&opts).unwrap();
        return;
    }
    let hub = slow_hub();
    let cache = tempfile::tempdir().unwrap();
    let job = format!("{} {}", hub.url, cache.path().display());
    let children: Vec<_> = (0..2)
        .map(|_| {
            child::this_binary()
                .args([
                    "concurrent_loads_from_two_processes_both_succeed",
                    "--exact",
                    "--nocapture",
                ])
                .env(CHILD, &job)
                .spawn()
                .unwrap()
        })
        .collect();

    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a child failed: {:?}", out.status);
    }
    let dir = repo_dir(cache.path()).join("snapshots").join(COMMIT);
    assert_eq!(std::fs::read(dir.join(WEIGHTS)).unwrap(), read(WEIGHTS));
    assert_eq!(hub.completed(WEIGHTS), 1, "one process waited for the other");
}

#[test]
fn an_aborted_download_stops_its_transfer() {
    let hub = hub();
    hub.fault(
        WEIGHTS,
        Fault::Drip {
            bytes: 4 * 1024,
            every: Duration::from_millis(20),
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let cancel = CancelFlag::new();
    let raise = cancel.clone();
    let events = Arc::new(Mutex::new(0usize));
    let seen = events.clone();
    let opts = HubOptions {
        cancel: Some(cancel),
        // Aborted once the first bytes of the weights arrived.
        progress: Some(ProgressCallback(Arc::new(move |p| {
            *seen.lock().unwrap() += 1;
            if p.file == WEIGHTS && p.downloaded > 0 {
                raise.cancel();
            }
        }))),
        ..options(&hub, cache.path())
    };

    expect_err(load(&opts), "E_ABORTED", &["aborted", WEIGHTS]);

    let started = Instant::now();
    while hub.hung_up(WEIGHTS) == 0 {
        assert!(started.elapsed() < HANG_GUARD, "the transfer went on");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(hub.completed(WEIGHTS), 0);
    assert!(!repo_dir(cache.path())
        .join("snapshots")
        .join(COMMIT)
        .join(WEIGHTS)
        .exists());
    // The part received stays for the next call to resume.
    let next = HubOptions {
        cancel: None,
        progress: None,
        ..opts
    };
    hub.clear_faults();
    let dir = load(&next).unwrap();
    assert_eq!(std::fs::read(dir.join(WEIGHTS)).unwrap(), read(WEIGHTS));
    assert!(hub.seen().last().unwrap().range.is_some(), "resumed");
}

#[test]
fn a_held_lock_is_waited_for_within_the_lock_timeout_or_until_aborted() {
    use fs4::fs_std::FileExt;
    let hub = hub();
    let cache = tempfile::tempdir().unwrap();
    let locks = cache.path().join(".locks/models--org--tiny");
    std::fs::create_dir_all(&locks).unwrap();
    let lock = std::fs::File::create(locks.join(format!("{}.lock", etag(&read("config.json"))))).unwrap();
    assert!(FileExt::try_lock_exclusive(&lock).unwrap());
    let opts = HubOptions {
        lock_timeout: Some(Duration::from_millis(300)),
        ..options(&hub, cache.path())
    };

    expect_err(
        load(&opts),
        "E_CACHE",
        &["another download of config.json", "BEIT_HUB_LOCK_TIMEOUT"],
    );

    let cancel = CancelFlag::new();
    let waiting = HubOptions {
        lock_timeout: Some(HANG_GUARD * 10),
        cancel: Some(cancel.clone()),
        ..opts.clone()
    };
    let started = Instant::now();
    let aborted = std::thread::scope(|s| {
        let load = s.spawn(|| load(&waiting));
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
        load.join().unwrap()
    });
    expect_err(aborted, "E_ABORTED", &["config.json"]);
    assert!(started.elapsed() < HANG_GUARD);

    FileExt::unlock(&lock).unwrap();
    load(&opts).unwrap();
}
