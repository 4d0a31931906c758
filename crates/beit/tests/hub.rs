//! Repo ids resolve to snapshots in the cache layout Python's huggingface_hub writes.

use std::path::Path;

use beit::hub::{resolve_model_dir, HubOptions, HubSettings, RepoFiles};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A cache holding `org/tiny` at COMMIT, with `main` pointing at it.
fn cache() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("models--org--tiny");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
    let snapshot = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::write(snapshot.join("config.json"), "{}").unwrap();
    root
}

fn options(root: &Path, revision: Option<&str>) -> HubOptions {
    HubOptions {
        revision: revision.map(String::from),
        cache_dir: Some(root.to_path_buf()),
        local_files_only: true,
        ..HubOptions::default()
    }
}

#[test]
fn a_repo_id_resolves_to_its_snapshot_by_branch_or_commit() {
    let root = cache();
    let want = root.path().join("models--org--tiny/snapshots").join(COMMIT);
    assert_eq!(
        resolve_model_dir("org/tiny", RepoFiles::Config, &options(root.path(), None)).unwrap(),
        want
    );
    assert_eq!(
        resolve_model_dir("org/tiny", RepoFiles::Config, &options(root.path(), Some(COMMIT))).unwrap(),
        want
    );
}

#[test]
fn a_directory_is_taken_as_it_is() {
    let root = cache();
    let dir = root.path().to_str().unwrap();
    assert_eq!(
        resolve_model_dir(dir, RepoFiles::Model, &HubOptions::default()).unwrap(),
        root.path()
    );
}

#[test]
fn a_missing_repo_or_revision_says_what_to_do() {
    let root = cache();
    for (name, revision) in [("org/other", None), ("org/tiny", Some("v2"))] {
        let err = resolve_model_dir(name, RepoFiles::Config, &options(root.path(), revision)).unwrap_err();
        assert_eq!(err.code(), "E_NOT_FOUND");
        assert!(err.to_string().contains("huggingface-cli download"), "{err}");
        assert!(err
            .to_string()
            .contains(&format!("{name} (revision {})", revision.unwrap_or("main"))));
    }
    let err = resolve_model_dir("./no/such/dir", RepoFiles::Model, &HubOptions::default()).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
}

#[test]
fn settings_follow_the_variables_huggingface_hub_reads() {
    let resolve = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HubSettings::resolve_with(&HubOptions::default(), |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap()
    };
    let home = resolve(&[("HOME", "/home/u")]);
    assert_eq!(home.cache_root, Path::new("/home/u/.cache/huggingface/hub"));
    assert_eq!(home.endpoint, "https://huggingface.co");
    assert_eq!((home.token, home.offline), (None, false));
    assert_eq!(
        resolve(&[("XDG_CACHE_HOME", "/x")]).cache_root,
        Path::new("/x/huggingface/hub")
    );
    assert_eq!(
        resolve(&[("HF_HOME", "/h"), ("HOME", "/u")]).cache_root,
        Path::new("/h/hub")
    );
    assert_eq!(
        resolve(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h")]).cache_root,
        Path::new("/c")
    );
    assert_eq!(
        resolve(&[("HF_ENDPOINT", "http://127.0.0.1:1/")]).endpoint,
        "http://127.0.0.1:1"
    );
    assert_eq!(resolve(&[("HF_TOKEN", "hf_a")]).token.as_deref(), Some("hf_a"));
    for on in ["1", "true", "YES", "on"] {
        assert!(resolve(&[("HF_HUB_OFFLINE", on)]).offline, "{on}");
    }
    assert!(!resolve(&[("HF_HUB_OFFLINE", "0")]).offline);
}

#[test]
fn options_win_over_the_environment_and_a_saved_login_is_read() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("token"), "hf_saved\n").unwrap();
    let home_var = home.path().to_str().unwrap().to_string();
    let env = |name: &str| match name {
        "HF_HOME" => Some(home_var.clone()),
        "HF_ENDPOINT" => Some("http://env".to_string()),
        _ => None,
    };
    let saved = HubSettings::resolve_with(&HubOptions::default(), env).unwrap();
    assert_eq!(saved.token.as_deref(), Some("hf_saved"));
    let options = HubOptions {
        cache_dir: Some("/opt".into()),
        endpoint: Some("http://opt".into()),
        token: Some("hf_opt".into()),
        local_files_only: true,
        ..HubOptions::default()
    };
    let chosen = HubSettings::resolve_with(&options, env).unwrap();
    assert_eq!(chosen.cache_root, Path::new("/opt"));
    assert_eq!(
        (chosen.endpoint.as_str(), chosen.token.as_deref(), chosen.offline),
        ("http://opt", Some("hf_opt"), true)
    );
}
