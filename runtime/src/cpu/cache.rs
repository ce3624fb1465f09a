//! The specialization cache: one compiled variant per kernel and set of comptime values.
//!
//! Three levels, fastest first:
//! 1. a small per-thread table indexed by the kernel's address and its comptime values: no
//!    lock, no allocation. A kernel passed as `&'static Kernel` (every `#[vibee::kernel]`'s
//!    IR is) can never be freed or changed, so once its address has been matched to a
//!    variant, the address alone identifies it and a hit costs a few compares. A kernel
//!    passed by plain reference may have been dropped and another built at its address,
//!    so its hit is confirmed by comparing the IR with the one compiled;
//! 2. the same by address in a table shared by every thread (under a lock);
//! 3. a fingerprint of the whole IR (name, hash of its debug form, comptime values), so the
//!    same kernel built twice (at two addresses) compiles once; only then it compiles.
//!
//! Compiled code is never freed: a process compiles each kernel variant once and keeps it
//! (and the IR it came from) for its lifetime, which is what lets the tables hand out
//! `&'static` entries.

use std::cell::Cell;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{LazyLock, Mutex};

use vibee_dsl::kernel::{Kernel, Scalar};

use super::codegen::{self, Compiled};
use crate::{ArgRef, LaunchError};

/// One compiled variant and the IR it was compiled from.
pub(super) struct Entry {
    kernel: Kernel,
    comptime: ComptimeKey,
    compiled: Compiled,
}

impl Entry {
    /// The IR this variant was compiled from.
    pub(super) fn kernel(&self) -> &Kernel {
        &self.kernel
    }
    /// The native code.
    pub(super) fn compiled(&self) -> &Compiled {
        &self.compiled
    }
    /// Whether `value` is this variant's comptime value of parameter `index`.
    pub(super) fn has_comptime(&self, index: usize, value: Scalar) -> bool {
        self.comptime.get(index) == Some(&Some(scalar_key(value)))
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("kernel", &self.kernel.name)
            .field("comptime", &self.comptime)
            .finish_non_exhaustive()
    }
}

/// Comptime values as hashable bits (`f32` bits for floats), in parameter order.
type ComptimeKey = Vec<Option<(u8, u64)>>;

/// A variant known at an address; `fixed` when it was matched there through a `'static`
/// reference, so the address can never hold another kernel.
#[derive(Clone, Copy)]
struct Known {
    address: usize,
    entry: &'static Entry,
    fixed: bool,
}

/// Variants one address keeps in the shared table (a kernel rebuilt in a loop at the same
/// address must not make the list, and its linear search, grow without end).
const PER_ADDRESS: usize = 8;

#[derive(Default)]
struct Shared {
    by_address: HashMap<usize, Vec<Known>>,
    by_fingerprint: HashMap<(String, u64, ComptimeKey), &'static Entry>,
}

static SHARED: LazyLock<Mutex<Shared>> = LazyLock::new(|| Mutex::new(Shared::default()));

/// Slots of the per-thread table (a power of two).
const RECENT_SLOTS: usize = 64;

thread_local! {
    static RECENT: [Cell<Option<Known>>; RECENT_SLOTS] =
        const { [const { Cell::new(None) }; RECENT_SLOTS] };
}

/// How the caller holds the kernel.
#[derive(Clone, Copy)]
pub(super) enum KernelRef<'a> {
    /// Alive and unchanged for the rest of the program: identified by address.
    Static(&'static Kernel),
    /// Borrowed: its address may be reused, so hits compare the IR.
    Borrowed(&'a Kernel),
}

impl KernelRef<'_> {
    pub(super) fn kernel(&self) -> &Kernel {
        match *self {
            KernelRef::Static(k) => k,
            KernelRef::Borrowed(k) => k,
        }
    }
    fn address(&self) -> usize {
        std::ptr::from_ref(self.kernel()) as usize
    }
    fn is_static(&self) -> bool {
        matches!(self, KernelRef::Static(_))
    }
    /// Whether `known` is this kernel's variant for `args`.
    fn matches(&self, known: &Known, args: &[ArgRef<'_>]) -> bool {
        known.address == self.address()
            && same_comptime(&known.entry.comptime, args)
            && ((known.fixed && self.is_static()) || known.entry.kernel == *self.kernel())
    }
}

/// The compiled variant of `kernel` for the comptime values among `args` (already checked
/// against the kernel's parameters), compiling it on first use.
pub(super) fn get_or_compile(
    kernel: KernelRef<'_>,
    args: &[ArgRef<'_>],
) -> Result<&'static Compiled, LaunchError> {
    let slot = recent_slot(kernel.address(), args);
    let recent = RECENT.with(|r| r[slot].get());
    if let Some(known) = recent.filter(|k| kernel.matches(k, args)) {
        return Ok(&known.entry.compiled);
    }
    let entry = lookup_shared(kernel, args)?;
    let known = Known {
        address: kernel.address(),
        entry,
        fixed: kernel.is_static(),
    };
    RECENT.with(|r| r[slot].set(Some(known)));
    Ok(&entry.compiled)
}

/// Levels 2 and 3, and compilation; records the variant at the kernel's address.
fn lookup_shared(
    kernel: KernelRef<'_>,
    args: &[ArgRef<'_>],
) -> Result<&'static Entry, LaunchError> {
    let address = kernel.address();
    // A poisoned lock only means another launch panicked while holding it; the maps are
    // still consistent because entries are inserted whole.
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    let at_address = shared.by_address.entry(address).or_default();
    if let Some(i) = at_address.iter().position(|k| kernel.matches(k, args)) {
        let known = &mut at_address[i];
        known.fixed |= kernel.is_static();
        return Ok(known.entry);
    }
    let comptime: Vec<Option<Scalar>> = args.iter().map(comptime_value).collect();
    let entry = by_fingerprint(&mut shared, kernel.kernel(), &comptime)?;
    let at_address = shared.by_address.entry(address).or_default();
    if at_address.len() == PER_ADDRESS {
        at_address.remove(0);
    }
    at_address.push(Known {
        address,
        entry,
        fixed: kernel.is_static(),
    });
    Ok(entry)
}

/// The compiled variant of `kernel` for `comptime` (indexed by parameter, `None` for
/// every parameter that is not comptime), compiling it unless the same IR was compiled
/// before. Leaves the per-address tables alone: the caller holds the variant itself.
pub(super) fn variant(
    kernel: &Kernel,
    comptime: &[Option<Scalar>],
) -> Result<&'static Entry, LaunchError> {
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    by_fingerprint(&mut shared, kernel, comptime)
}

/// Level 3: the variant of the same IR and comptime values wherever it was built, or a
/// new one compiled now.
fn by_fingerprint(
    shared: &mut Shared,
    k: &Kernel,
    comptime: &[Option<Scalar>],
) -> Result<&'static Entry, LaunchError> {
    let key = comptime_key(comptime);
    let by_fingerprint = (k.name.clone(), fingerprint(k), key.clone());
    if let Some(entry) = shared.by_fingerprint.get(&by_fingerprint)
        && entry.kernel == *k
    {
        return Ok(*entry);
    }
    let compiled = codegen::compile(k, comptime).map_err(|message| LaunchError::Compile {
        kernel: k.name.clone(),
        message,
    })?;
    let entry: &'static Entry = Box::leak(Box::new(Entry {
        kernel: k.clone(),
        comptime: key,
        compiled,
    }));
    shared.by_fingerprint.insert(by_fingerprint, entry);
    Ok(entry)
}

/// The comptime value an argument carries (`None` for every other kind).
fn comptime_value(arg: &ArgRef<'_>) -> Option<Scalar> {
    match arg {
        ArgRef::Comptime(s) => Some(*s),
        _ => None,
    }
}

fn same_comptime(key: &ComptimeKey, args: &[ArgRef<'_>]) -> bool {
    key.len() == args.len()
        && key
            .iter()
            .zip(args)
            .all(|(k, a)| *k == comptime_value(a).map(scalar_key))
}

/// The per-thread slot of a kernel address and its comptime values (a cheap mix: the
/// slot only spreads entries, every hit is confirmed).
fn recent_slot(address: usize, args: &[ArgRef<'_>]) -> usize {
    let mut h = (address as u64) >> 4;
    for (i, a) in args.iter().enumerate() {
        if let Some(s) = comptime_value(a) {
            let (elem, bits) = scalar_key(s);
            h ^= (bits ^ u64::from(elem) << 56).rotate_left(i as u32 * 7);
        }
    }
    let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 58) as usize % RECENT_SLOTS
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
