//! vibee: a typed Rust DSL for the whole life of a large language model.
//!
//! # Kernels
//!
//! A kernel is a Rust function under `#[vibee::kernel]`, executed by every unit (thread) of
//! a grid of groups. The macro parses the body, lowers it to vibee's kernel IR
//! (`vibee-dsl`), validates it (every error at the smallest culprit, all of them at once),
//! and generates a module of the same name holding the IR, a CubeCL kernel for GPUs and a
//! typed launcher. The CPU backend compiles the same IR with Cranelift at first launch; the
//! IR's interpreter is the reference every backend is tested against.
//!
//! ```
//! use vibee::prelude::*;
//!
//! /// `y = a·x + y`, one unit per element.
//! #[vibee::kernel]
//! pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
//!     let i = global_pos();
//!     if i < y.len() {
//!         y[i] = a * x[i] + y[i];
//!     }
//! }
//!
//! # fn main() -> Result<(), LaunchError> {
//! let device = Device::Cpu;
//! let x = Buffer::from_slice(&device, &[1.0f32, 2.0, 3.0])?;
//! let mut y = Buffer::from_slice(&device, &[10.0f32, 20.0, 30.0])?;
//! axpy::launch(&device, Grid::cover(3, 256), 2.0, &x, &mut y)?;
//! assert_eq!(y.to_vec()?, [12.0, 24.0, 36.0]);
//! # Ok(())
//! # }
//! ```
//!
//! ## The generated module
//!
//! `#[vibee::kernel] fn axpy(…)` becomes `mod axpy` (same visibility, same doc comment):
//!
//! - `axpy::launch(&device, grid, args…) -> Result<(), LaunchError>`: arguments in the
//!   order of the function's parameters; `&[T]` becomes `&Buffer<T>`, `&mut [T]` becomes
//!   `&mut Buffer<T>`, scalars and `#[comptime]` values are passed by value, and const
//!   generics are generics of `launch` (`matmul::launch::<16>(…)`). A grid the device
//!   cannot run, buffers too small for what the grid touches, or a failed comptime check
//!   are typed errors, never undefined behaviour.
//! - `axpy::ir()`: the kernel IR; `axpy::SOURCE`: what the runtime launches.
//!
//! The function itself is not kept: its body is kernel code, not host code. With
//! `VIBEE_DEBUG_MACRO=1` the macro prints each expansion, formatted, while compiling.
//!
//! ## Parameters
//!
//! | written | meaning |
//! |---|---|
//! | `x: &[T]`, `y: &mut [T]` | a buffer; `T` is `f32`, `f16`, `bf16`, `i32` or `u32` |
//! | `a: T` | a scalar argument, the same for every unit; also `bool`; `mut a: T` gives the body a copy it may assign |
//! | `#[comptime] d: u32` | a value fixed when the kernel is specialized (one compiled variant per value); also `usize`, `i32`, `bool` |
//! | `<const BLOCK: usize>` | a comptime value known to rustc (also `u32`): checks on it run at compile time |
//!
//! Const generics come first in the kernel's parameter order, then the function's
//! parameters. `usize` is `u32` in kernels.
//!
//! ## The body
//!
//! - `let x = …;`, `let mut x: f32 = …;`, assignment and compound assignment (`+=`, …) to
//!   locals, buffer elements (`y[i] = …`) and vector lanes (`v[0] = …`);
//! - arithmetic, bitwise, shift, comparison and short-circuit operators; `as` casts
//!   between numeric types, `f16` and `bf16` included (float → int saturates; to a half
//!   type rounds to nearest-even);
//! - `if`/`else` as statements and as values (`let v = if c { a } else { b };`: a select
//!   when both branches are plain expressions); `for i in a..b`, `a..=b`,
//!   `(a..b).step_by(s)`; `while`, `loop`, `break`, `continue`, `return;` (this unit stops);
//! - `x.len()` on buffers and shared arrays (`u32`).
//!
//! Types follow Rust, without implicit conversions: both sides of an operator have the same
//! type, indices are `u32`. An unsuffixed literal takes the type its context needs
//! (`x[i] * 2.0` is `f32` whatever `x` holds; `i + 1` is `u32`); alone, an integer literal is
//! `u32` (`i32` when negated) and a float literal is `f32`. Writing `2` where a float is
//! needed is an error that suggests `2.0`. Constants: `f32::MAX`, `f32::MIN`,
//! `f32::EPSILON`, `f32::MIN_POSITIVE`, `u32::MAX`, `u32::MIN`, `i32::MAX`.
//!
//! ## Intrinsics
//!
//! | intrinsic | meaning |
//! |---|---|
//! | `global_pos()`, `unit_pos()`, `group_pos()`, `group_size()`, `num_groups()` | position of the unit in the grid, in its group, of its group; units per group; groups; linearized, or per axis with `_x`/`_y`/`_z` (`unit_pos_y()`) |
//! | `plane_size()`, `plane_unit()` | units per plane (warp/subgroup), position in it |
//! | `exp`, `log` (`ln`), `sqrt`, `rsqrt`, `tanh`, `erf`, `sin`, `cos`, `abs`, `powf`, `fma` (`mul_add`), `min`, `max` | math, as free functions (`exp(x)`) or methods (`x.exp()`); floats (`abs`, `min`, `max` also on integers) |
//! | `plane_sum(x)`, `plane_max(x)` | a reduction over the plane, every unit gets the result; backends without planes fall back |
//! | `let tile = shared::<f32>(LEN);` | a group-shared array, declared at the top level of the body; `LEN` is built from literals, `#[comptime]` values and const generics |
//! | `barrier()` | every unit of the group waits; must be reached by all of them |
//! | `atomic_add(&mut h, i, v)`, `h.atomic_add(i, v)` | adds atomically, yields the previous value; `u32`, `i32`, `f32` |
//! | `load4(&x, i)`, `store4(&mut y, i, v)` | four elements `4i..4i+4` as an `f32x4` (`f16x4`, `bf16x4`, `i32x4`, `u32x4`); lanes are `v[0]` … `v[3]`; `f32x4(a, b, c, d)` builds one; operators broadcast scalars |
//!
//! ## Comptime checks
//!
//! `#[comptime(power_of_two)]` and `#[comptime(multiple_of = N)]` on a `#[comptime]`
//! parameter or a const generic, and `#[vibee::kernel(assert(<Rust condition>))]` over
//! those values, are checked by the launcher. A check that mentions only const generics is
//! an inline `const` assertion: `matmul::launch::<48>(…)` with `TILE` required to be a power
//! of two fails to compile. A check on `#[comptime]` arguments makes `launch` return
//! `LaunchError::BadArgument` before anything runs. Shared-memory lengths must be positive
//! when the kernel is specialized.
//!
//! ```compile_fail
//! #[vibee::kernel(assert(TILE <= 1024))]
//! pub fn ramp<#[comptime(power_of_two)] const TILE: usize>(y: &mut [f32]) {
//!     let i = global_pos();
//!     if i < y.len() {
//!         y[i] = (i % TILE) as f32;
//!     }
//! }
//!
//! # fn main() -> Result<(), vibee::LaunchError> {
//! let device = vibee::Device::Cpu;
//! let mut y = vibee::Buffer::<f32>::zeros(&device, 48)?;
//! // error: evaluation of constant value failed: kernel `ramp` requires `TILE` to be a
//! // power of two
//! ramp::launch::<48>(&device, vibee::Grid::cover(48, 48), &mut y)?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Differentiable kernels
//!
//! `#[vibee::kernel(differentiable)]` declares an elementwise function: float scalars in,
//! a float or a tuple of floats out, a straight-line body (`let`s, assignments, math,
//! casts, `if` expressions whose branches are plain expressions). The IR derives its
//! vector-Jacobian product while the macro expands. The module has
//! `launch(&device, x…, out…)` (one unit per element of the first output) and
//! `backward(&device, x…, dy…, dx…)`, plus `elementwise()` and `vjp::ir()`.
//!
//! ```ignore
//! #[vibee::kernel(differentiable)]
//! pub fn gelu(x: f32) -> f32 {
//!     0.5 * x * (1.0 + tanh(0.7978846 * (x + 0.044715 * x * x * x)))
//! }
//! gelu::launch(&device, &x, &mut y)?;
//! gelu::backward(&device, &x, &dy, &mut dx)?;
//! ```
//!
//! ## What is rejected, and why
//!
//! Each is a compile error at the construct, saying what would be accepted (see
//! `tests/ui/kernel/` for one fixture per message):
//!
//! - closures, `match`, macros (`println!`), items inside the body, `unsafe`, `async`,
//!   labels, `?`, struct and array literals: kernels have no stack of their own, no
//!   printing and no enums; write `if`/`else` and loops;
//! - calls to anything but the intrinsics above, including the kernel itself (recursion:
//!   devices have no call stack), and methods other than math and `len`/`atomic_add`;
//! - types other than the scalars above: `f64` (slow or absent on GPUs), `i64`/`u64`,
//!   `String`, `Vec` (kernels cannot allocate), references to scalars, buffers of `bool`
//!   (no 1-bit storage: use `u32`), generic type parameters, lifetimes;
//! - `async`, `unsafe`, `const` or `extern` functions, `self`, patterns in parameters,
//!   return values (write into a `&mut [T]` buffer);
//! - writes to a `&[T]` buffer, assignments to immutable locals or to `#[comptime]`
//!   parameters, type mismatches, an index that is not `u32`;
//! - a shared array whose length depends on run-time values, or declared inside a branch;
//!   a `barrier()` inside control flow that depends on the unit's position or on loaded
//!   data (units would wait for each other forever);
//! - a check (`assert(…)`) that mentions a run-time argument, an unknown attribute argument.
//!
//! When a kernel has errors the macro still emits a stub `launch` with the kernel's
//! signature, so code calling it keeps type-checking and only the kernel's own errors show.
//!
//! # Models
//!
//! `#[vibee::model]` on a struct whose every field has a role — a `#[config]` value, a
//! `#[param(..)]` tensor or a `#[module(..)]` sub-model — generates:
//!
//! - `NameConfig`: the `#[config]` fields as serde data (TOML, JSON; unknown keys
//!   refused), `NameConfig::new(..)` taking the fields without a default, and
//!   `ModelConfig::validate`, which runs every `check` in field order and names the field
//!   that fails with the values it saw;
//! - `Module`: the parameters in field order under stable dotted names
//!   (`blocks.3.attn.qkv.weight`), `num_params()`, `summary()` (a table),
//!   `save_safetensors(path)` / `load_safetensors(path)` (PyTorch `state_dict` names; F32,
//!   F16 or BF16 read; strict about missing, unknown and mis-shaped tensors);
//! - `Model`: `Name::init(&config, seed)` validates the config and draws every parameter
//!   from one seeded generator in field order; `model.config()` gives the config back.
//!
//! ```
//! use vibee::runtime::nn::{Linear, LinearConfig, Model, Module, Param};
//!
//! /// A two-layer perceptron with an optional learned output scale.
//! #[vibee::model]
//! #[derive(Debug, Clone)]
//! pub struct Perceptron {
//!     #[config(check = width >= 1)]
//!     width: usize,
//!     #[config(default = 4)]
//!     depth: usize,
//!     #[config(default = false)]
//!     scaled: bool,
//!     #[module(config = LinearConfig::new(width, width), len = depth)]
//!     layers: Vec<Linear>,
//!     #[param(shape = [width], init = ones, when = scaled)]
//!     scale: Option<Param>,
//! }
//!
//! let config = PerceptronConfig::new(8);
//! let model = Perceptron::init(&config, 0).expect("valid config");
//! assert_eq!(model.num_params(), 4 * (8 * 8 + 8));
//! assert_eq!(model.parameters()[0].name, "layers.0.weight");
//! let bad: PerceptronConfig = toml::from_str("width = 0").expect("parses");
//! assert!(Perceptron::init(&bad, 0).is_err()); // `width` = 0 must satisfy `width >= 1`
//! ```
//!
//! | attribute | on | arguments |
//! |---|---|---|
//! | `#[config]` | any owned serde type | `default = <const expr>`, `check = <bool expr>` (repeatable) |
//! | `#[param(..)]` | `Param`, `Option<Param>` | `shape = [..]` (required), `init = ..`, `name = ".."`, `when = <bool>` (for `Option`) |
//! | `#[module(..)]` | `T`, `Vec<T>`, `Option<T>` where `T: Model` | `config = <T's config>` (required), `len = <usize>` (for `Vec`), `when = <bool>` (for `Option`), `init = ..` (overrides every parameter below), `name = ".."` |
//!
//! Attribute expressions read the `#[config]` fields as locals (and `i`, the index, in a
//! `Vec` field's `config`). Initialisers: `zeros`, `ones`, `normal(std)`,
//! `normal(mean, std)`, `uniform(bound)`, `xavier_uniform[(gain)]`,
//! `xavier_normal[(gain)]`; the default is `normal(0.0, 0.02)`. `#[vibee::model(config =
//! Name, crate = path)]` renames the config struct or the runtime crate's path. Rejected,
//! each at its tokens and all at once: enums, tuple and generic structs, a field without a
//! role or with two, unsupported field types (references, tuples, arrays, `Box`, nested
//! containers), a `#[param]` without `shape` or a `#[module]` without `config`, `len` or
//! `when` on the wrong container, unknown keys and initialisers, names that are empty,
//! dotted or used twice, and attribute expressions that read something other than a
//! `#[config]` field.
//!
//! `forward` is a plain method over [`dsl::graph::Tensor`]s (`x.matmul_t(&w)`, `a + &b`,
//! `x.layer_norm(..)`, `q.causal_attention(&k, &v)`), as the built-in layers' are: each
//! operation appends a node to its [`dsl::graph::Tracer`]'s graph, checked at the calling
//! line; the first error is kept and `Tracer::finish` returns it with that line and the
//! shapes. A parameter enters the trace with `param.tensor(&x)`.

mod cube_launcher;
mod kernel_templates;
pub mod kernels;
pub mod optim;
pub mod program;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// Generated code names `::vibee::…`; this lets the facade use its own macros.
extern crate self as vibee;

pub use vibee_dsl as dsl;
pub use vibee_macros::{kernel, model};
pub use vibee_runtime as runtime;
pub use vibee_runtime::{Buffer, Device, Grid, LaunchError};

/// What a kernel author needs in scope.
pub mod prelude {
    pub use half::{bf16, f16};
    pub use vibee_runtime::{Buffer, Device, Grid, LaunchError};
}

/// Items generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__vibee_cube_launcher as cube_launcher;
    pub use crate::__vibee_elementwise_source as elementwise_source;
    pub use crate::__vibee_kernel_source as kernel_source;
    pub use crate::kernel_templates::{
        buffer, buffer_mut, check_failed, comptime, comptime_usize, elementwise_ir, kernel_ir,
        scalar, scalar_usize,
    };
    pub use cubecl;
    pub use half;
    pub use serde_json;
    pub use vibee_dsl;
    pub use vibee_runtime;
    pub use vibee_runtime::{Buffer, Device, Grid, LaunchError, launch};
}
