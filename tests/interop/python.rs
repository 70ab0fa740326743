//! Finding the independent checker's Python, shared by the interop tests
//! (`#[path = "interop/python.rs"] mod python;`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What the Python must be able to import: kafka-python and its codecs.
pub const IMPORTS: &str = "import kafka, snappy, lz4.frame, zstandard, xxhash";

/// The Python to use, or `None` (after printing why) if the check is to be skipped. With
/// `TIDELOG_REQUIRE_INTEROP=1` a missing Python is an error instead of a skip.
pub fn python() -> Result<Option<&'static Path>, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FOUND.get_or_init(find_python) {
        Ok(p) => Ok(Some(p.as_path())),
        Err(reason) if std::env::var("TIDELOG_REQUIRE_INTEROP").as_deref() == Ok("1") => {
            Err(format!("TIDELOG_REQUIRE_INTEROP=1 but {reason}"))
        }
        Err(reason) => {
            println!("SKIPPED: {reason}");
            Ok(None)
        }
    }
}

fn find_python() -> Result<PathBuf, String> {
    // An explicit choice is final: no falling back to whatever `python3` happens to be.
    let (candidate, origin) = match std::env::var_os("TIDELOG_INTEROP_PYTHON") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), "TIDELOG_INTEROP_PYTHON"),
        _ => (PathBuf::from("python3"), "default"),
    };
    let shown = format!("{} ({origin})", candidate.display());
    let out = Command::new(&candidate)
        .args(["-c", IMPORTS])
        .output()
        .map_err(|e| format!("cannot run Python {shown}: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("no error output");
        return Err(format!("Python {shown} fails `{IMPORTS}`: {last}"));
    }
    Ok(candidate)
}

/// The checker script.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kafka_python.py")
}
