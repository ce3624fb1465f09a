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
//! subnormal range are rounded once, like the C library's. Inputs are clamped to
//! `[-104, 88.8]` first: above it the scaling overflows to `+inf` (as `expf` does for every
//! `x > 88.72284`), below it the result underflows to `+0`. A NaN passes through every step
//! with its payload (the clamps are `minss`/`maxss` in the order that keeps the input NaN).
//!
//! Accuracy: over every one of the 2³² `f32` inputs the result is within **1 ulp** of the
//! correctly rounded-to-nearest C library `expf` the interpreter calls (99.6% of inputs are
//! bit-identical); NaNs, infinities, overflow and underflow match exactly. The test
//! `cpu_exp.rs` checks this on a dense sweep through the generated code, and the ignored
//! `cpu_exp_exhaustive.rs` on all 2³² inputs.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{
    Constant, ConstantData, Endianness, InstBuilder, MemFlagsData, Value, types,
};

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

impl Lower<'_, '_> {
    /// `e^x` of every lane of `x` (`f32` or `f32x4`), within 1 ulp of `expf`.
    pub(super) fn exp_f32(&mut self, x: Value) -> Value {
        if self.ty_of(x) == types::F32 {
            // One lane of the vector code: its constants are loads from the constant pool
            // that fold into the arithmetic, where scalar constants would be rebuilt from
            // integer registers inside every loop iteration.
            let v = self.b.ins().scalar_to_vector(types::F32X4, x);
            let e = self.exp_f32(v);
            return self.b.ins().extractlane(e, 0);
        }
        let vector = true;
        let hi = self.fconst(CLAMP_HI, vector);
        let lo = self.fconst(CLAMP_LO, vector);
        // `hi < x ? hi : x` and `x < lo ? lo : x`: the shapes that become one `minss`/`maxss`
        // (or `minps`/`maxps`) and return `x` itself when it is NaN.
        let x = self.pick_if_less(hi, x, hi, x);
        let x = self.pick_if_less(x, lo, lo, x);
        let log2e = self.fconst(std::f32::consts::LOG2_E, vector);
        let magic = self.fconst(ROUND_MAGIC, vector);
        let scaled = self.b.ins().fmul(x, log2e);
        let t = self.b.ins().fadd(scaled, magic);
        let int_ty = if vector { types::I32X4 } else { types::I32 };
        let t_bits = self.b.ins().bitcast(int_ty, lane_order(vector), t);
        let magic_bits = self.iconst_lanes(ROUND_MAGIC.to_bits() as i32, vector);
        let n = self.b.ins().isub(t_bits, magic_bits);
        let nf = self.b.ins().fsub(t, magic);
        let r = self.reduce(x, nf, vector);
        let p = self.exp_poly(r, vector);
        self.scale_by_pow2(p, n, vector)
    }

    /// `x − n·ln2`, in two steps so the result keeps the bits the first one cancels.
    fn reduce(&mut self, x: Value, nf: Value, vector: bool) -> Value {
        let c1 = self.fconst(LN2_HI, vector);
        let c2 = self.fconst(LN2_LO, vector);
        let a = self.b.ins().fmul(nf, c1);
        let r = self.b.ins().fsub(x, a);
        let b = self.b.ins().fmul(nf, c2);
        self.b.ins().fsub(r, b)
    }

    /// `1 + r + r²·P(r)`, with `P` by Estrin's scheme (pairs `c·r + c'` in parallel, then
    /// combined with `r²`), so the chain of dependent operations is about half as long as
    /// Horner's; the two largest terms are added last.
    fn exp_poly(&mut self, r: Value, vector: bool) -> Value {
        let z = self.b.ins().fmul(r, r);
        // P(r) = (c₀r + c₁)·z² + (c₂r + c₃)·z + (c₄r + c₅), with POLY = [c₀, …, c₅].
        let mut pairs = [r; 3];
        for (pair, c) in pairs.iter_mut().zip(POLY.chunks_exact(2)) {
            let hi = self.fconst(c[0], vector);
            let lo = self.fconst(c[1], vector);
            let hr = self.b.ins().fmul(hi, r);
            *pair = self.b.ins().fadd(hr, lo);
        }
        let top = self.b.ins().fmul(pairs[0], z);
        let mid = self.b.ins().fadd(top, pairs[1]);
        let mz = self.b.ins().fmul(mid, z);
        let p = self.b.ins().fadd(mz, pairs[2]);
        let pz = self.b.ins().fmul(p, z);
        let one = self.fconst(1.0, vector);
        let s = self.b.ins().fadd(pz, r);
        self.b.ins().fadd(s, one)
    }

    /// `p · 2ⁿ` for `n ∈ [-150, 129]`, as `p · 2^(n/2) · 2^(n − n/2)`: both factors are
    /// normal floats, the first product is exact, so the result is rounded once even when
    /// it is subnormal, and it overflows to `+inf` exactly when `p · 2ⁿ` does.
    fn scale_by_pow2(&mut self, p: Value, n: Value, vector: bool) -> Value {
        let n1 = self.b.ins().sshr_imm_u(n, 1);
        let n2 = self.b.ins().isub(n, n1);
        let s1 = self.pow2(n1, vector);
        let s2 = self.pow2(n2, vector);
        let ps = self.b.ins().fmul(p, s1);
        self.b.ins().fmul(ps, s2)
    }

    /// `2ᵏ` for `k ∈ [-126, 127]`, from its exponent bits.
    fn pow2(&mut self, k: Value, vector: bool) -> Value {
        let bias = self.iconst_lanes(127, vector);
        let biased = self.b.ins().iadd(k, bias);
        let bits = self.b.ins().ishl_imm_u(biased, 23);
        let float_ty = if vector { types::F32X4 } else { types::F32 };
        self.b.ins().bitcast(float_ty, lane_order(vector), bits)
    }

    /// `a < b ? then : other`, lane by lane.
    fn pick_if_less(&mut self, a: Value, b: Value, then: Value, other: Value) -> Value {
        let less = self.b.ins().fcmp(FloatCC::LessThan, a, b);
        if self.ty_of(then) == types::F32X4 {
            let mask = self.b.ins().bitcast(types::F32X4, lane_order(true), less);
            self.b.ins().bitselect(mask, then, other)
        } else {
            self.b.ins().select(less, then, other)
        }
    }

    fn fconst(&mut self, v: f32, vector: bool) -> Value {
        if vector {
            let c = self.pool_const(v.to_bits());
            return self.b.ins().vconst(types::F32X4, c);
        }
        self.b.ins().f32const(v)
    }

    fn iconst_lanes(&mut self, v: i32, vector: bool) -> Value {
        if vector {
            let c = self.pool_const(v as u32);
            return self.b.ins().vconst(types::I32X4, c);
        }
        self.b.ins().iconst(types::I32, i64::from(v))
    }

    /// Four lanes of `bits` in the function's constant pool.
    fn pool_const(&mut self, bits: u32) -> Constant {
        let bytes: Vec<u8> = [bits; 4].iter().flat_map(|b| b.to_le_bytes()).collect();
        self.b.func.dfg.constants.insert(ConstantData::from(bytes))
    }
}

/// Flags for `bitcast`: vectors must name their lane order, scalars must not.
fn lane_order(vector: bool) -> MemFlagsData {
    if vector {
        MemFlagsData::new().with_endianness(Endianness::Little)
    } else {
        MemFlagsData::new()
    }
}
