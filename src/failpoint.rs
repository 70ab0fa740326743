//! Deterministic crash points (RELIABILITY.md §5, test R13).
//!
//! `failpoint!("roll.after_create")` marks a step between two I/O operations of one
//! logical operation. Without the `failpoints` cargo feature it expands to nothing. With it,
//! every pass counts a hit for its name in a process-wide registry, and when the environment
//! variable `LOG_CRASHPOINT=<name>:<n>` names this point and this is its `n`-th hit, the
//! process calls [`std::process::abort`]: no destructor, flush or unwinding runs, the page
//! cache keeps what was written, exactly as in a process crash at that instant.
//!
//! Every name is declared once, in the crate's `DECLARED` list; the macro refuses an undeclared name at
//! compile time, and a unit test checks that every declared name is used in the sources.
//! `tests/reliability_crashpoints.rs` aborts a child at every hit of every point its workload
//! makes and checks the recovered state.

/// Every crash point, in the order an operation meets them. The one list: the macro checks
/// its argument against it at compile time.
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
pub(crate) const DECLARED: &[&str] = &[
    "roll.before_create",
    "roll.after_create",
    "roll.after_seal",
    "index.after_append",
    "append.after_write",
    "flush.after_segments",
    "checkpoint.after_tmp_write",
    "checkpoint.after_rename",
    "retention.after_rename",
    "retention.after_publish",
    "truncate.after_cut",
    "topic.create.after_metadata",
    "topic.delete.after_mark",
    "topic.delete.after_rename",
    "store.close.after_logs",
];

/// True if `name` is in `DECLARED` (a `const fn`, so the macro can check at compile time).
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
pub(crate) const fn is_declared(name: &str) -> bool {
    let name = name.as_bytes();
    let mut i = 0;
    while i < DECLARED.len() {
        let d = DECLARED[i].as_bytes();
        if d.len() == name.len() {
            let mut j = 0;
            while j < d.len() && d[j] == name[j] {
                j += 1;
            }
            if j == d.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// Marks a crash point (see the [module documentation](self)). Compiled to nothing without
/// the `failpoints` feature.
#[cfg(feature = "failpoints")]
macro_rules! failpoint {
    ($name:literal) => {{
        const _: () = assert!(
            $crate::failpoint::is_declared($name),
            concat!("undeclared failpoint ", $name)
        );
        $crate::failpoint::hit($name)
    }};
}

/// Marks a crash point (see the [module documentation](self)). Compiled to nothing without
/// the `failpoints` feature.
#[cfg(not(feature = "failpoints"))]
macro_rules! failpoint {
    ($name:literal) => {{}};
}

pub(crate) use failpoint;

#[cfg(feature = "failpoints")]
mod registry {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    /// The environment variable naming the point and hit to abort at: `<name>:<n>`.
    pub const CRASHPOINT_ENV: &str = "LOG_CRASHPOINT";

    /// Hits per name, and the parsed `LOG_CRASHPOINT`.
    struct Registry {
        hits: Mutex<HashMap<&'static str, u64>>,
        target: Option<(String, u64)>,
    }

    fn registry() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| Registry {
            hits: Mutex::new(HashMap::new()),
            target: std::env::var(CRASHPOINT_ENV).ok().and_then(|v| {
                let (name, n) = v.trim().rsplit_once(':')?;
                Some((name.to_string(), n.parse().ok()?))
            }),
        })
    }

    /// Counts a hit of `name`; aborts the process if `LOG_CRASHPOINT` names this hit.
    pub(crate) fn hit(name: &'static str) {
        let reg = registry();
        let n = {
            let mut hits = reg.hits.lock().unwrap_or_else(|p| p.into_inner());
            let n = hits.entry(name).or_insert(0);
            *n += 1;
            *n
        };
        if reg
            .target
            .as_ref()
            .is_some_and(|(t, at)| t == name && *at == n)
        {
            // stderr is unbuffered: the line is out before the abort.
            eprintln!("failpoint {name}: abort at hit {n}");
            std::process::abort();
        }
    }

    /// Every declared crash point (compiled in with the `failpoints` feature).
    pub fn declared() -> &'static [&'static str] {
        super::DECLARED
    }

    /// How often each declared point was passed in this process so far, in the order of
    /// [`declared`] (zero for a point never passed).
    pub fn hits() -> Vec<(&'static str, u64)> {
        let hits = registry().hits.lock().unwrap_or_else(|p| p.into_inner());
        super::DECLARED
            .iter()
            .map(|&name| (name, hits.get(name).copied().unwrap_or(0)))
            .collect()
    }
}

#[cfg(feature = "failpoints")]
pub(crate) use registry::hit;
#[cfg(feature = "failpoints")]
pub use registry::{declared, hits, CRASHPOINT_ENV};

#[cfg(test)]
mod tests {
    use super::{is_declared, DECLARED};

    /// The library sources that hold crash points.
    const SOURCES: &[(&str, &str)] = &[
        ("log/append.rs", include_str!("log/append.rs")),
        ("log/retention.rs", include_str!("log/retention.rs")),
        ("segment/segment.rs", include_str!("segment/segment.rs")),
        ("checkpoint.rs", include_str!("checkpoint.rs")),
        ("store/store.rs", include_str!("store/store.rs")),
    ];

    /// Every `failpoint!("…")` in the sources is declared, and every declared point is used
    /// exactly once.
    #[test]
    fn declared_matches_sources() {
        let marker = concat!("failpoint", "!(\"");
        let mut used = Vec::new();
        for (file, text) in SOURCES {
            let mut rest = *text;
            while let Some(i) = rest.find(marker) {
                rest = &rest[i + marker.len()..];
                let end = rest.find('"').expect("closing quote");
                let name = &rest[..end];
                assert!(is_declared(name), "{file}: undeclared failpoint {name:?}");
                used.push(name.to_string());
            }
        }
        for name in DECLARED {
            let n = used.iter().filter(|u| u == name).count();
            assert_eq!(n, 1, "failpoint {name:?} is used {n} times in the sources");
        }
        let mut sorted: Vec<_> = DECLARED.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), DECLARED.len(), "a name is declared twice");
        assert!(!is_declared("roll.nowhere"));
    }
}
