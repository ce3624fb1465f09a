//! `exp` inline, for `f32` and `f32x4` registers alike, so the exponentials of a softmax
//! or a cross-entropy run at the speed of a few multiplies instead of one C library call
//! per lane.
//!
//! The method (Cody–Waite range reduction and a polynomial, as in Cephes' `expf`):
//! `n = round(x·log₂e)` by the 1.5·2²³ rounding trick (its bits also give `n` as an
//! integer), `r = x − n·ln2` with `ln2` split into an exact high part and a low part, so
//! `|r| ≤ ln2/2` is exact to a few ulp; `eʳ ≈ 1 + r + r²·P(r)` with a degree-5 minimax `P`
//! (evaluated by Estrin's scheme: the `exp` of a softmax is bound by its chain of dependent
//! operations, which this halves);
//! then `eʳ · 2ⁿ`, the power built from exponent bits in two halves so results in the
//! subnormal range are rounded once, like the C library's. Where the host has fused
//! multiply-add, every `a·b + c` of the reduction and the polynomial is one `fma` (a
//! shorter chain; the bound below holds either way). The constants are read from one
//! aligned table next to their use (see [`EXP_CONSTS`]) rather than held in registers.
//! Inputs are clamped to `[-104, 88.8]` first: above it the scaling overflows to `+inf` (as `expf` does for every
//! `x > 88.72284`), below it the result underflows to `+0`. A NaN passes through every step
//! with its payload (the clamps are `minss`/`maxss` in the order that keeps the input NaN).
//!
//! Accuracy: over every one of the 2³² `f32` inputs the result is within **1 ulp** of the
//! correctly rounded-to-nearest C library `expf` the interpreter calls (99.60% of inputs
//! are bit-identical with `fma`, 99.58% without); NaNs, infinities, overflow and underflow
//! match exactly. The test `cpu_exp.rs` checks this on a dense sweep through the generated code, and the ignored
//! `cpu_exp_exhaustive.rs` on all 2³² inputs.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_module::Module;

use super::Lower;

/// Above this every `f32` exponential is `+inf`; clamping here keeps `n` small.
const CLAMP_HI: f32 = 88.8;
/// Below this every `f32` exponential rounds to `+0`.
const CLAMP_LO: f32 = -104.0;
/// 1.5·2²³: adding it rounds a float of magnitude below 2²² to an integer held in the low
/// mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// `ln 2` in two parts: the high part has few enough bits that `n·LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `P(r)` of `eʳ ≈ 1 + r + r²·P(r)`, highest degree first (Cephes `expf`).
const POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_6e-1,
    0.5,
];

/// Where each constant sits in [`EXP_CONSTS`] (in 16-byte rows).
#[derive(Clone, Copy, Debug)]
enum At {
    ClampHi,
    ClampLo,
    Log2e,
    /// [`ROUND_MAGIC`], read as `f32x4` and as `i32x4` (its bits).
    Magic,
    Ln2Hi,
    Ln2Lo,
    One,
    /// The exponent bias 127, as `i32x4`.
    Bias,
    /// `POLY[k]` is row `Poly as usize + k`.
    Poly,
}

/// The bits of every constant, in the order of [`At`].
const CONST_BITS: [u32; 15] = [
    CLAMP_HI.to_bits(),
    CLAMP_LO.to_bits(),
    std::f32::consts::LOG2_E.to_bits(),
    ROUND_MAGIC.to_bits(),
    (-LN2_HI).to_bits(),
    (-LN2_LO).to_bits(),
    1.0f32.to_bits(),
    127,
    POLY[0].to_bits(),
    POLY[1].to_bits(),
    POLY[2].to_bits(),
    POLY[3].to_bits(),
    POLY[4].to_bits(),
    POLY[5].to_bits(),
    0,
];

/// Every constant of `exp` splat to four lanes, 16-byte aligned: the generated code loads
/// each one next to its use, or folds it into the arithmetic (`vfmadd213ps 0x90(%rdx), …`).
/// As `vconst`s they were hoisted out of the loop around the `exp` and, fifteen of them
/// with the loop's own values in sixteen vector registers, spilled to the stack, reloaded
/// and stored back on every iteration.
#[repr(C, align(16))]
struct Splat4([[u32; 4]; CONST_BITS.len()]);

static EXP_CONSTS: Splat4 = Splat4({
    let mut rows = [[0; 4]; CONST_BITS.len()];
    let mut k = 0;
    while k < rows.len() {
        rows[k] = [CONST_BITS[k]; 4];
        k += 1;
    }
    rows
});

/// The table's address, which the generated code loads (an ordinary load) once per `exp`:
/// the loads of the constants then depend on a value defined inside the loop, so the
/// optimizer does not hoist them out of it (where they would hold registers across it) but
/// places each one right before its use.
static EXP_CONSTS_AT: &Splat4 = &EXP_CONSTS;

impl Lower<'_, '_> {
    /// `e^x` of every lane of `x` (`f32` or `f32x4`), within 1 ulp of `expf`.
    pub(super) fn exp_f32(&mut self, x: Value) -> Value {
        if self.ty_of(x) == types::F32 {
            // One lane of the vector code: its constants are memory operands too, where
            // scalar constants would be rebuilt from integer registers in every iteration.
            let v = self.b.ins().scalar_to_vector(types::F32X4, x);
            let e = self.exp_f32(v);
            return self.b.ins().extractlane(e, 0);
        }
        let k = ExpConsts {
            table: self.exp_table(),
            fused: self.module.isa().has_native_fma(),
        };
        let hi = k.f32x4(self, At::ClampHi);
        let lo = k.f32x4(self, At::ClampLo);
        // `hi < x ? hi : x` and `x < lo ? lo : x`: the shapes that become one `minps`/`maxps`
        // and return `x` itself when it is NaN.
        let x = self.pick_if_less(hi, x, hi, x);
        let x = self.pick_if_less(x, lo, lo, x);
        let log2e = k.f32x4(self, At::Log2e);
        let magic = k.f32x4(self, At::Magic);
        let t = k.mul_add(self, x, log2e, magic);
        let t_bits = self.b.ins().bitcast(types::I32X4, lane_order(), t);
        let magic_bits = k.load(self, types::I32X4, At::Magic as usize);
        let n = self.b.ins().isub(t_bits, magic_bits);
        let magic = k.f32x4(self, At::Magic);
        let nf = self.b.ins().fsub(t, magic);
        let r = self.reduce(&k, x, nf);
        let p = self.exp_poly(&k, r);
        self.scale_by_pow2(&k, p, n)
    }

    /// The address of [`EXP_CONSTS`], by an ordinary load inside the current block.
    fn exp_table(&mut self) -> Value {
        let at = std::ptr::addr_of!(EXP_CONSTS_AT) as i64;
        let at = self.b.ins().iconst(types::I64, at);
        self.b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), at, 0)
    }

    /// `x − n·ln2`, in two steps so the result keeps the bits the first one cancels (the
    /// table holds `−ln2`'s parts, so each step is one multiply-add).
    fn reduce(&mut self, k: &ExpConsts, x: Value, nf: Value) -> Value {
        let c1 = k.f32x4(self, At::Ln2Hi);
        let r = k.mul_add(self, nf, c1, x);
        let c2 = k.f32x4(self, At::Ln2Lo);
        k.mul_add(self, nf, c2, r)
    }

    /// `1 + r + r²·P(r)`, with `P` by Estrin's scheme (pairs `c·r + c'` in parallel, then
    /// combined with `r²`), so the chain of dependent operations is about half as long as
    /// Horner's; the two largest terms are added last.
    fn exp_poly(&mut self, k: &ExpConsts, r: Value) -> Value {
        let z = self.b.ins().fmul(r, r);
        // P(r) = (c₀r + c₁)·z² + (c₂r + c₃)·z + (c₄r + c₅), with POLY = [c₀, …, c₅].
        let mut pairs = [r; 3];
        for (pair, row) in pairs.iter_mut().zip((At::Poly as usize..).step_by(2)) {
            let hi = k.load(self, types::F32X4, row);
            let lo = k.load(self, types::F32X4, row + 1);
            *pair = k.mul_add(self, r, hi, lo);
        }
        let mid = k.mul_add(self, pairs[0], z, pairs[1]);
        let p = k.mul_add(self, mid, z, pairs[2]);
        let s = k.mul_add(self, p, z, r);
        let one = k.f32x4(self, At::One);
        self.b.ins().fadd(s, one)
    }

    /// `p · 2ⁿ` for `n ∈ [-150, 129]`, as `p · 2^(n/2) · 2^(n − n/2)`: both factors are
    /// normal floats, the first product is exact, so the result is rounded once even when
    /// it is subnormal, and it overflows to `+inf` exactly when `p · 2ⁿ` does.
    fn scale_by_pow2(&mut self, k: &ExpConsts, p: Value, n: Value) -> Value {
        let n1 = self.b.ins().sshr_imm_u(n, 1);
        let n2 = self.b.ins().isub(n, n1);
        let s1 = self.pow2(k, n1);
        let s2 = self.pow2(k, n2);
        let ps = self.b.ins().fmul(p, s1);
        self.b.ins().fmul(ps, s2)
    }

    /// `2ᵏ` for `k ∈ [-126, 127]`, from its exponent bits.
    fn pow2(&mut self, k: &ExpConsts, e: Value) -> Value {
        let bias = k.load(self, types::I32X4, At::Bias as usize);
        let biased = self.b.ins().iadd(e, bias);
        let bits = self.b.ins().ishl_imm_u(biased, 23);
        self.b.ins().bitcast(types::F32X4, lane_order(), bits)
    }

    /// `a < b ? then : other`, lane by lane.
    fn pick_if_less(&mut self, a: Value, b: Value, then: Value, other: Value) -> Value {
        let less = self.b.ins().fcmp(FloatCC::LessThan, a, b);
        let mask = self.b.ins().bitcast(types::F32X4, lane_order(), less);
        self.b.ins().bitselect(mask, then, other)
    }
}

/// How one `exp` reaches its constants, and whether it may fuse multiply and add.
struct ExpConsts {
    /// The address of [`EXP_CONSTS`], defined in the block of the `exp`.
    table: Value,
    /// The host has fused multiply-add: each `a·b + c` rounds once (faster, and as
    /// accurate; the documented bound holds for both forms).
    fused: bool,
}

impl ExpConsts {
    fn f32x4(&self, l: &mut Lower<'_, '_>, at: At) -> Value {
        self.load(l, types::F32X4, at as usize)
    }

    /// Row `row` of the table as `ty`: a load the optimizer may move and merge (the table
    /// never changes), but only where `table` is defined.
    fn load(&self, l: &mut Lower<'_, '_>, ty: Type, row: usize) -> Value {
        let flags = MemFlagsData::trusted().with_readonly().with_can_move();
        l.b.ins().load(ty, flags, self.table, (row * 16) as i32)
    }

    /// `a·b + c`, fused where the host has the instruction.
    fn mul_add(&self, l: &mut Lower<'_, '_>, a: Value, b: Value, c: Value) -> Value {
        if self.fused {
            return l.b.ins().fma(a, b, c);
        }
        let ab = l.b.ins().fmul(a, b);
        l.b.ins().fadd(ab, c)
    }
}

/// Flags for `bitcast`: vectors must name their lane order.
fn lane_order() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}
