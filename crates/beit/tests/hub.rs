//! Repo ids resolve to snapshots in the cache layout Python's huggingface_hub writes.

use std::path::Path;

use beit::hub::{resolve_model_dir, HubOptions};

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
    }
}

#[test]
fn a_repo_id_resolves_to_its_snapshot_by_branch_or_commit() {
    let root = cache();
    let want = root.path().join("models--org--tiny/snapshots").join(COMMIT);
    assert_eq!(
        resolve_model_dir("org/tiny", &options(root.path(), None)).unwrap(),
        want
    );
    assert_eq!(
        resolve_model_dir("org/tiny", &options(root.path(), Some(COMMIT))).unwrap(),
        want
    );
}

#[test]
fn a_directory_is_taken_as_it_is() {
    let root = cache();
    let dir = root.path().to_str().unwrap();
    assert_eq!(
        resolve_model_dir(dir, &HubOptions::default()).unwrap(),
        root.path()
    );
}

#[test]
fn a_missing_repo_or_revision_says_what_to_do() {
    let root = cache();
    for (name, revision) in [("org/other", None), ("org/tiny", Some("v2"))] {
        let err = resolve_model_dir(name, &options(root.path(), revision)).unwrap_err();
        assert_eq!(err.code(), "E_NOT_FOUND");
        assert!(err.to_string().contains("huggingface-cli download"), "{err}");
    }
    let err = resolve_model_dir("./no/such/dir", &HubOptions::default()).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
}

#[test]
fn the_cache_location_follows_the_environment_variables() {
    // One test owns these variables, so parallel tests do not race on them.
    std::env::set_var("HF_HUB_CACHE", "/x/hub-cache");
    assert_eq!(
        beit::hub::cache_root(&HubOptions::default()),
        Path::new("/x/hub-cache")
    );
    std::env::remove_var("HF_HUB_CACHE");
    std::env::set_var("HF_HOME", "/x/hf-home");
    assert_eq!(
        beit::hub::cache_root(&HubOptions::default()),
        Path::new("/x/hf-home/hub")
    );
    std::env::remove_var("HF_HOME");
    std::env::set_var("XDG_CACHE_HOME", "/x/xdg");
    assert_eq!(
        beit::hub::cache_root(&HubOptions::default()),
        Path::new("/x/xdg/huggingface/hub")
    );
    std::env::remove_var("XDG_CACHE_HOME");
}
