#![allow(dead_code)] // Each test binary that includes this uses part of it.

//! Runs one test again in a child process, for cases that would crash the test binary (abort on
//! allocation failure, SIGBUS) before their fix: the parent asserts how the child exited.

use std::process::{Command, Output};

/// The variable that tells a re-run test it is the child.
const CHILD: &str = "BEIT_TEST_CHILD";

/// Whether this process is the child running `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(test)
}

/// Set by scripts/test_arm64.sh to the emulator the suite runs under (`qemu-aarch64-static -L
/// ...`): a child is started through it, as cargo started the test binary.
const RUNNER: &str = "BEIT_TEST_RUNNER";

/// The command that runs this test binary again, under the same emulator if any.
pub fn this_binary() -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let runner = std::env::var(RUNNER).unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut command = Command::new(emulator);
            command.args(words).arg(exe);
            command
        }
        None => Command::new(exe),
    }
}

/// Whether the suite runs under an emulator. QEMU ignores a guest's RLIMIT_AS (it would starve
/// the emulator itself), so there the caps below bound nothing, and the peak RSS it reports is
/// the emulator's, its translated code included.
pub fn emulated() -> bool {
    std::env::var_os(RUNNER).is_some_and(|r| !r.is_empty())
}

/// What the emulator itself keeps resident, allowed on top of a test's RSS bound.
const EMULATOR_RSS_MIB: u64 = 512;

/// A bound on a child's peak RSS, in KiB: `mib` of its own, plus the emulator's share if any.
pub fn rss_bound_kib(mib: u64) -> u64 {
    (mib + if emulated() { EMULATOR_RSS_MIB } else { 0 }) << 10
}

/// Runs `test` (the full name, module path included) alone in a child process of this binary.
pub fn run_child(test: &str) -> Output {
    this_binary()
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .expect("the test binary runs again")
}

/// Caps the child's address space at `gib` GiB, so that a case that allocates without bound
/// fails fast (aborts) instead of taking the machine's memory.
#[cfg(unix)]
pub fn cap_address_space(gib: u64) {
    let limit = libc::rlimit {
        rlim_cur: gib << 30,
        rlim_max: gib << 30,
    };
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
}

/// The process's peak resident set, in KiB (Linux: VmHWM).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// The value the child printed as `key=value` at the end of a line (the test harness may have
/// printed the test's name before it on the same line).
pub fn printed<'a>(output: &'a str, key: &str) -> Option<&'a str> {
    let key = format!("{key}=");
    output
        .lines()
        .find_map(|line| line.find(&key).map(|at| &line[at + key.len()..]))
}

/// A description of how the child ended, for failure messages.
pub fn describe(output: &Output) -> String {
    use std::os::unix::process::ExitStatusExt;
    format!(
        "status {:?} (signal {:?})\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        output.status.signal(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The test `name` with its `body` in a child capped at `address_space_gib` GiB of address space:
/// the child runs `body`; the parent requires that it passed and peaked under `max_rss_mib`.
pub fn in_child(name: &str, address_space_gib: u64, max_rss_mib: u64, body: impl FnOnce()) {
    if is_child(name) {
        cap_address_space(address_space_gib);
        body();
        println!("peak_rss_kib={}", peak_rss_kib());
        return;
    }
    let output = run_child(name);
    let report = describe(&output);
    assert!(output.status.success(), "the child failed or died: {report}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 passed"),
        "the child did not run {name}: {report}"
    );
    let peak_kib: u64 = printed(&stdout, "peak_rss_kib")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX);
    assert!(
        peak_kib <= rss_bound_kib(max_rss_mib),
        "the child peaked at {} MiB resident, over {max_rss_mib} MiB: {report}",
        peak_kib >> 10
    );
}
