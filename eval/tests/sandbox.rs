//! The code sandbox contains hostile samples and reports them as failed samples.

use std::path::Path;
use std::time::{Duration, Instant};

use vibee_eval::sandbox::humaneval::{self, Problem};
use vibee_eval::sandbox::{Isolation, Sandbox, SandboxConfig, Status};

fn sandbox() -> Sandbox {
    Sandbox::new(SandboxConfig {
        timeout: Duration::from_secs(3),
        memory_bytes: 512 << 20,
        ..SandboxConfig::default()
    })
}

fn problems() -> Vec<Problem> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/humaneval/test.jsonl");
    humaneval::load_problems(&p).expect("fixture problems")
}

fn fails(program: &str) -> vibee_eval::sandbox::Outcome {
    let out = sandbox().run_python(program).expect("sandbox runs");
    assert!(
        !out.passed(),
        "hostile program passed: {program}\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    out
}

#[test]
fn canonical_solutions_pass_and_wrong_ones_fail() {
    eprintln!("isolation: {:?}", Sandbox::isolation());
    let sb = sandbox();
    let mut counts = Vec::new();
    for p in problems() {
        let ok = humaneval::check(&sb, &p, &p.canonical_solution).expect("runs");
        assert!(ok.passed(), "{}: {}", p.task_id, ok.stderr);
        let bad = humaneval::check(&sb, &p, "    return None\n").expect("runs");
        assert!(!bad.passed(), "{}", p.task_id);
        counts.push((2, 1));
    }
    assert_eq!(humaneval::mean_pass_at_k(&counts, 1), Some(0.5));
}

#[test]
fn infinite_loop_times_out() {
    let start = Instant::now();
    let out = fails("while True:\n    pass\n");
    assert_eq!(out.status, Status::TimedOut);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn fork_bomb_is_contained() {
    let start = Instant::now();
    fails("import os\nwhile True:\n    os.fork()\n");
    // Through multiprocessing too (reaches fork via _posixsubprocess / os.fork).
    fails("import multiprocessing as m\nwhile True:\n    m.Process(target=print).start()\n");
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn memory_bomb_is_contained() {
    let out = fails("x = []\nwhile True:\n    x.append(bytearray(64 << 20))\n");
    assert_ne!(out.status, Status::Passed);
}

#[test]
fn network_is_unreachable() {
    fails("import socket\ns = socket.create_connection(('127.0.0.1', 22), timeout=1)\n");
    fails("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:1/', timeout=1)\n");
}

#[test]
fn writes_outside_the_temp_dir_are_refused() {
    let target = std::env::temp_dir().join(format!("vibee-sandbox-escape-{}", std::process::id()));
    let _ = std::fs::remove_file(&target);
    fails(&format!(
        "open({:?}, 'w').write('escaped')\n",
        target.display().to_string()
    ));
    fails(&format!(
        "import os\nfd = os.open({:?}, os.O_WRONLY | os.O_CREAT)\n",
        target.display().to_string()
    ));
    assert!(!target.exists(), "the sample wrote outside its directory");
    // Writing inside its own directory is allowed.
    let ok = sandbox()
        .run_python("open('scratch.txt', 'w').write('fine')\nprint(open('scratch.txt').read())\n")
        .expect("runs");
    assert!(ok.passed(), "{}", ok.stderr);
    assert_eq!(ok.stdout.trim(), "fine");
}

#[test]
fn namespaces_are_used_where_available() {
    // Informational on machines without user namespaces; on this project's
    // machines unshare works and is expected.
    if Sandbox::isolation() == Isolation::GuardOnly {
        eprintln!("unshare unavailable: guard-only isolation");
    }
}
