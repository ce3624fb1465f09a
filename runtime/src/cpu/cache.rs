//! The specialization cache: one compiled variant per kernel and set of comptime values.
//!
//! A launch first looks up the kernel by address (kernels from `#[vibee::kernel]` are
//! `'static`, so the address is stable and the lookup costs no hashing of the IR) and then
//! confirms the hit by comparing the IR itself, so a different kernel that happens to live
//! at a reused address can never run stale code. On a miss it falls back to a fingerprint
//! of the whole IR (name, hash of its debug form, comptime values) and compiles only when
//! that misses too. Compiled code is never freed: a process compiles each kernel variant
//! once and keeps it for its lifetime.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use vibee_dsl::kernel::{Kernel, Scalar};

use super::codegen::{self, Compiled};
use crate::LaunchError;

/// One compiled variant and the IR it was compiled from.
struct Entry {
    kernel: Kernel,
    comptime: ComptimeKey,
    compiled: Arc<Compiled>,
}

/// Comptime values as hashable bits (`f32` bits for floats), in parameter order.
type ComptimeKey = Vec<Option<(u8, u64)>>;

#[derive(Default)]
struct Cache {
    by_address: HashMap<usize, Vec<Arc<Entry>>>,
    by_fingerprint: HashMap<(String, u64, ComptimeKey), Arc<Entry>>,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Cache::default()));

/// The compiled variant of `kernel` for these comptime values, compiling it on first use.
pub(super) fn get_or_compile(
    kernel: &Kernel,
    comptime: &[Option<Scalar>],
) -> Result<Arc<Compiled>, LaunchError> {
    let address = std::ptr::from_ref(kernel) as usize;
    // A poisoned lock only means another launch panicked while holding it; the maps are
    // still consistent because entries are inserted whole.
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    // The hot path: no allocation, no hashing of the IR.
    if let Some(entry) = cache.by_address.get(&address).and_then(|entries| {
        entries
            .iter()
            .find(|e| same_comptime(&e.comptime, comptime) && e.kernel == *kernel)
    }) {
        return Ok(entry.compiled.clone());
    }
    let key = comptime_key(comptime);
    let by_fingerprint = (kernel.name.clone(), fingerprint(kernel), key.clone());
    let entry = match cache.by_fingerprint.get(&by_fingerprint) {
        Some(entry) if entry.kernel == *kernel => entry.clone(),
        _ => {
            let compiled =
                codegen::compile(kernel, comptime).map_err(|message| LaunchError::Compile {
                    kernel: kernel.name.clone(),
                    message,
                })?;
            let entry = Arc::new(Entry {
                kernel: kernel.clone(),
                comptime: key,
                compiled: Arc::new(compiled),
            });
            cache.by_fingerprint.insert(by_fingerprint, entry.clone());
            entry
        }
    };
    cache
        .by_address
        .entry(address)
        .or_default()
        .push(entry.clone());
    Ok(entry.compiled.clone())
}

fn same_comptime(key: &ComptimeKey, comptime: &[Option<Scalar>]) -> bool {
    key.len() == comptime.len()
        && key
            .iter()
            .zip(comptime)
            .all(|(k, c)| *k == c.map(scalar_key))
}

fn comptime_key(comptime: &[Option<Scalar>]) -> ComptimeKey {
    comptime.iter().map(|c| c.map(scalar_key)).collect()
}

/// A comptime value as (type, bits), so NaNs and signed zeros compare by their bits.
fn scalar_key(s: Scalar) -> (u8, u64) {
    let bits = match s {
        Scalar::F32(v) => v.to_bits() as u64,
        Scalar::F16(v) => v.to_bits() as u64,
        Scalar::BF16(v) => v.to_bits() as u64,
        Scalar::I32(v) => v as u32 as u64,
        Scalar::U32(v) => v as u64,
        Scalar::Bool(v) => v as u64,
    };
    (s.elem() as u8, bits)
}

/// A hash of the whole IR; `Kernel` holds floats, so it hashes its (deterministic) debug form.
fn fingerprint(kernel: &Kernel) -> u64 {
    let mut h = DefaultHasher::new();
    format!("{kernel:?}").hash(&mut h);
    h.finish()
}
