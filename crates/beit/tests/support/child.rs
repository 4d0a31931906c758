//! Runs one test's body in a child process (the test binary itself, filtered to that test), so a
//! case that would abort, die of a signal or exhaust memory without the fix under test fails the
//! test instead of the whole suite. The child runs under an address-space limit, so an unbounded
//! allocation fails at once instead of swapping the machine, and reports its peak resident memory.

use std::process::Command;

/// Set in the child's environment: the test runs its body instead of spawning.
const CHILD_VAR: &str = "BEIT_TEST_CHILD";

/// How the child ended and the most memory it had resident.
#[derive(Debug)]
pub struct ChildRun {
    pub success: bool,
    pub signal: Option<i32>,
    pub peak_rss_mb: u64,
    pub output: String,
}

/// True inside the child: the caller runs the body and returns.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_VAR).is_some()
}

/// Runs the test `name` (its full path, e.g. `"decode::a_gif_frame"`) in a child with at most
/// `address_space_mb` of virtual memory.
pub fn run_child(name: &str, address_space_mb: u64) -> ChildRun {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1")
        .env("RAYON_NUM_THREADS", "2")
        .env("BEIT_TEST_ADDRESS_SPACE_MB", address_space_mb.to_string())
        .output()
        .expect("the child test runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_rss_mb = output
        .lines()
        .find_map(|l| l.strip_prefix("child peak rss kB: "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024);
    use std::os::unix::process::ExitStatusExt;
    ChildRun {
        success: out.status.success(),
        signal: out.status.signal(),
        peak_rss_mb,
        output,
    }
}

/// In the child: caps the address space, runs `body`, prints the peak resident memory.
pub fn child_body(body: impl FnOnce()) {
    let mb: u64 = std::env::var("BEIT_TEST_ADDRESS_SPACE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let limit = libc::rlimit {
        rlim_cur: mb << 20,
        rlim_max: mb << 20,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    body();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().to_string())
        .unwrap_or_default();
    println!("child peak rss kB: {peak}");
}

/// The test `name` in a child: the body there, the spawn-and-check here. The child must exit
/// cleanly within `address_space_mb` and peak under `max_rss_mb`.
pub fn in_child(name: &str, address_space_mb: u64, max_rss_mb: u64, body: impl FnOnce()) {
    if is_child() {
        child_body(body);
        return;
    }
    let run = run_child(name, address_space_mb);
    assert!(
        run.success,
        "the child died (signal {:?}) or failed:\n{}",
        run.signal, run.output
    );
    assert!(
        run.output.contains("1 passed"),
        "the child did not run the test {name}:\n{}",
        run.output
    );
    assert!(
        run.peak_rss_mb <= max_rss_mb,
        "the child peaked at {} MB resident, over {max_rss_mb} MB:\n{}",
        run.peak_rss_mb,
        run.output
    );
}
