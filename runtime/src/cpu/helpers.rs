//! Host functions the generated code calls where Cranelift has no instruction: the
//! transcendental math functions and the `f16`/`bf16` roundings.
//!
//! Each helper computes exactly what the interpreter computes (`vibee_dsl::kernel::ops`),
//! so the CPU backend matches it bit for bit: the C library functions `std`'s float
//! methods call, `libm`'s `erff` through `ops::math`, and `half`'s round-to-nearest-even
//! conversions.

use half::{bf16, f16};
use vibee_dsl::kernel::{MathFn, Scalar, ops};

/// The argument or return type of a helper, as Cranelift sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HelperTy {
    F32,
    F64,
    I32,
}

/// One host function the JIT links against by name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Helper {
    pub name: &'static str,
    pub ptr: *const u8,
    pub params: &'static [HelperTy],
    pub ret: HelperTy,
}

// The C library's float functions: exactly what `f32::exp`, `ln`, `tanh`, `sin`, `cos`,
// `powf` and `%` call on this target, so the interpreter computes the same bits. Linking
// them directly rather than through a Rust wrapper keeps each call one jump.
unsafe extern "C" {
    fn expf(x: f32) -> f32;
    fn logf(x: f32) -> f32;
    fn tanhf(x: f32) -> f32;
    fn sinf(x: f32) -> f32;
    fn cosf(x: f32) -> f32;
    fn powf(x: f32, y: f32) -> f32;
    fn fmodf(x: f32, y: f32) -> f32;
}

extern "C" fn erf_f32(x: f32) -> f32 {
    // Through `ops::math` so the backend uses the very function the interpreter uses.
    match ops::math(MathFn::Erf, &[Scalar::F32(x)]) {
        Scalar::F32(v) => v,
        other => other.to_f64() as f32,
    }
}
extern "C" fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}
extern "C" fn round_bf16(x: f32) -> f32 {
    bf16::from_f32(x).to_f32()
}
extern "C" fn f16_from_f64(x: f64) -> f32 {
    f16::from_f64(x).to_f32()
}
extern "C" fn bf16_from_f64(x: f64) -> f32 {
    bf16::from_f64(x).to_f32()
}
extern "C" fn f16_bits(x: f32) -> i32 {
    f16::from_f32(x).to_bits() as i32
}
extern "C" fn f16_value(bits: i32) -> f32 {
    f16::from_bits(bits as u16).to_f32()
}

extern "C" fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

/// What Cranelift's `fma` calls (as `fmaf`) on hosts without FMA instructions.
pub(crate) const FMA_F32: extern "C" fn(f32, f32, f32) -> f32 = fma_f32;

macro_rules! helper {
    ($name:literal, $f:expr, [$($p:ident),*] -> $r:ident) => {
        Helper {
            name: $name,
            ptr: $f as *const u8,
            params: &[$(HelperTy::$p),*],
            ret: HelperTy::$r,
        }
    };
}

/// Every helper, registered with each `JITBuilder` under its name.
pub(crate) fn all() -> [Helper; 14] {
    [
        helper!("vibee_exp_f32", expf as unsafe extern "C" fn(f32) -> f32, [F32] -> F32),
        helper!("vibee_log_f32", logf as unsafe extern "C" fn(f32) -> f32, [F32] -> F32),
        helper!("vibee_tanh_f32", tanhf as unsafe extern "C" fn(f32) -> f32, [F32] -> F32),
        helper!("vibee_sin_f32", sinf as unsafe extern "C" fn(f32) -> f32, [F32] -> F32),
        helper!("vibee_cos_f32", cosf as unsafe extern "C" fn(f32) -> f32, [F32] -> F32),
        helper!("vibee_erf_f32", erf_f32 as extern "C" fn(f32) -> f32, [F32] -> F32),
        helper!("vibee_powf_f32", powf as unsafe extern "C" fn(f32, f32) -> f32, [F32, F32] -> F32),
        helper!("vibee_rem_f32", fmodf as unsafe extern "C" fn(f32, f32) -> f32, [F32, F32] -> F32),
        helper!("vibee_round_f16", round_f16 as extern "C" fn(f32) -> f32, [F32] -> F32),
        helper!("vibee_round_bf16", round_bf16 as extern "C" fn(f32) -> f32, [F32] -> F32),
        helper!("vibee_f16_from_f64", f16_from_f64 as extern "C" fn(f64) -> f32, [F64] -> F32),
        helper!("vibee_bf16_from_f64", bf16_from_f64 as extern "C" fn(f64) -> f32, [F64] -> F32),
        helper!("vibee_f16_bits", f16_bits as extern "C" fn(f32) -> i32, [F32] -> I32),
        helper!("vibee_f16_value", f16_value as extern "C" fn(i32) -> f32, [I32] -> F32),
    ]
}

/// The helper called `name`, if there is one.
pub(crate) fn find(name: &str) -> Option<Helper> {
    all().into_iter().find(|h| h.name == name)
}
