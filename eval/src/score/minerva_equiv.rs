//! Minerva MATH equivalence as the harness decides it: sympy's LaTeX parser and
//! `simplify` (the harness's `is_equiv`), and `math_verify`, computed by a
//! Python helper process (`minerva_equiv.py`) that vibee starts once and talks
//! to over JSON lines.
//!
//! The helper is not sandboxed: it only parses strings (sympy's LaTeX parser
//! builds expressions, it does not evaluate code), each comparison under the
//! harness's 5-second alarm, and vibee kills it when an answer takes longer
//! than [`ANSWER_TIMEOUT`]. Its interpreter is `$VIBEE_EVAL_PYTHON`, else
//! `python3`; it needs `sympy`, `antlr4-python3-runtime==4.11` and (for
//! `math_verify`) `math-verify`, as `pip install "lm-eval[math]"` installs.
//! Without them, the checker is [`Checker::Unavailable`] with the reason, and
//! the task reports only the normalized string match `exact_match_minerva_norm`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};

const HELPER: &str = include_str!("minerva_equiv.py");
/// How long one comparison may take before the helper is killed (the
/// harness's alarm is 5 s for sympy; math_verify has its own).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The harness's verdicts for one generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// sympy `is_equiv(normalized answer, gold answer)`.
    pub exact_match: bool,
    /// `math_verify.verify(parse(solution), parse(generation))`, when installed.
    pub math_verify: Option<bool>,
}

/// A running helper.
#[derive(Debug)]
pub struct Helper {
    python: std::path::PathBuf,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

/// The sympy checker, or why there is none.
#[derive(Debug)]
pub enum Checker {
    /// The helper runs.
    Ready(Helper),
    /// Python or its packages are missing; the reason is printed once.
    Unavailable(String),
}

impl Checker {
    /// Starts the helper with `python`.
    pub fn start(python: &Path) -> Checker {
        match Helper::spawn(python) {
            Ok(h) => Checker::Ready(h),
            Err(reason) => Checker::Unavailable(reason),
        }
    }

    /// Judges one generation; `None` when unavailable. A comparison that hangs
    /// or kills the helper is a "no" (the harness's timeout answer), and the
    /// helper is started afresh for the next one.
    pub fn judge(
        &mut self,
        answer: &str,
        gold: &str,
        solution: &str,
        generation: &str,
    ) -> Option<Verdict> {
        let Checker::Ready(h) = self else {
            return None;
        };
        match h.ask(answer, gold, solution, generation) {
            Ok(v) => Some(v),
            Err(_) => {
                let python = h.python.clone();
                *self = Checker::start(&python);
                Some(Verdict {
                    exact_match: false,
                    math_verify: Some(false),
                })
            }
        }
    }
}

impl Helper {
    fn spawn(python: &Path) -> Result<Helper, String> {
        let mut child = Command::new(python)
            .args(["-I", "-c", HELPER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("helper pipes missing".into());
        };
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut helper = Helper {
            python: python.to_path_buf(),
            child,
            stdin,
            lines,
        };
        let hello: Value = helper.read(START_TIMEOUT)?;
        if hello["ready"].as_bool() != Some(true) {
            return Err(hello["reason"]
                .as_str()
                .unwrap_or("helper not ready")
                .to_string());
        }
        Ok(helper)
    }

    fn read(&mut self, timeout: Duration) -> Result<Value, String> {
        let line = self.lines.recv_timeout(timeout).map_err(|_| {
            let _ = self.child.kill();
            "the sympy helper stopped answering".to_string()
        })?;
        serde_json::from_str(&line).map_err(|e| format!("helper said {line:?}: {e}"))
    }

    fn ask(
        &mut self,
        answer: &str,
        gold: &str,
        solution: &str,
        generation: &str,
    ) -> Result<Verdict, String> {
        let req =
            json!({"answer": answer, "gold": gold, "solution": solution, "generation": generation});
        writeln!(self.stdin, "{req}").map_err(|e| format!("helper pipe: {e}"))?;
        let v = self.read(ANSWER_TIMEOUT)?;
        Ok(Verdict {
            exact_match: v["exact_match"].as_bool().unwrap_or(false),
            math_verify: v["math_verify"].as_bool(),
        })
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process-wide checker (started on first use with `$VIBEE_EVAL_PYTHON`
/// or `python3`); prints why it is unavailable, once.
pub fn shared() -> &'static Mutex<Checker> {
    static SHARED: OnceLock<Mutex<Checker>> = OnceLock::new();
    SHARED.get_or_init(|| {
        let python = std::env::var_os("VIBEE_EVAL_PYTHON").unwrap_or_else(|| "python3".into());
        let checker = Checker::start(Path::new(&python));
        if let Checker::Unavailable(reason) = &checker {
            eprintln!(
                "minerva_math: sympy equivalence unavailable ({reason}); reporting exact_match_minerva_norm only (normalized string match). Set VIBEE_EVAL_PYTHON to a python with `lm-eval[math]`."
            );
        }
        Mutex::new(checker)
    })
}
