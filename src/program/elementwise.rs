//! Elementwise and data-movement kernels of the device executor. Every kernel is a
//! grid-stride loop over its output, so any grid covers any length. Index patterns that
//! depend on shapes (broadcasts, permutations, slices) come as tables of `u32` offsets built
//! once at compile time: `out[i] = x[table[i]]` — one kernel for every movement.

/// `out ← value`.
#[vibee::kernel]
pub fn fill(out: &mut [f32], value: f32, n: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        out[i] = value;
        i += stride;
    }
}

/// `out ← op(x)`; `op` numbers [`UnaryOp`](vibee::dsl::graph::UnaryOp) (see
/// `super::dispatch::unary_code`), `c` its constant.
#[vibee::kernel]
pub fn unary(x: &[f32], out: &mut [f32], op: u32, c: f32, n: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        let v = x[i];
        let mut r = v;
        if op == 0 {
            r = -v;
        } else if op == 1 {
            r = exp(v);
        } else if op == 2 {
            r = log(v);
        } else if op == 3 {
            r = sqrt(v);
        } else if op == 4 {
            r = tanh(v);
        } else if op == 5 {
            r = 1.0 / (1.0 + exp(-v));
        } else if op == 6 {
            r = max(v, 0.0);
        } else if op == 7 {
            r = 0.5 * v * (1.0 + tanh(0.7978846 * (v + 0.044715 * v * v * v)));
        } else if op == 8 {
            r = v * v;
        } else if op == 9 {
            r = 1.0 / v;
        } else if op == 10 {
            r = c * v;
        } else if op == 11 {
            r = v + c;
        }
        out[i] = r;
        i += stride;
    }
}

/// `out ← op(x[ix], y[iy])`, where an operand reads through its offset table when its flag
/// is set and at `i` otherwise; `op` numbers [`BinaryOp`](vibee::dsl::graph::BinaryOp).
#[vibee::kernel]
pub fn binary(
    x: &[f32],
    y: &[f32],
    x_at: &[u32],
    y_at: &[u32],
    out: &mut [f32],
    op: u32,
    x_table: u32,
    y_table: u32,
    n: u32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        let mut a = x[i];
        if x_table != 0 {
            a = x[x_at[i]];
        }
        let mut b = y[i];
        if y_table != 0 {
            b = y[y_at[i]];
        }
        let mut r = a + b;
        if op == 1 {
            r = a - b;
        } else if op == 2 {
            r = a * b;
        } else if op == 3 {
            r = a / b;
        } else if op == 4 {
            r = max(a, b);
        } else if op == 5 {
            r = 0.0;
            if a == b {
                r = 1.0;
            }
        } else if op == 6 {
            let t = tanh(0.7978846 * (a + 0.044715 * a * a * a));
            let slope = 0.5 * (1.0 + t)
                + 0.5 * a * (1.0 - t * t) * 0.7978846 * (1.0 + 3.0 * 0.044715 * a * a);
            r = b * slope;
        } else if op == 7 {
            r = 0.0;
            if a > 0.0 {
                r = b;
            }
        }
        out[i] = r;
        i += stride;
    }
}

/// `out[i] ← x[at[i]]`: broadcasts, permutations and slices.
#[vibee::kernel]
pub fn gather_at(x: &[f32], at: &[u32], out: &mut [f32], n: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        out[i] = x[at[i]];
        i += stride;
    }
}

/// Writes `x: [outer, len, inner]` into `out: [outer, out_len, inner]` at `offset` along the
/// middle axis (a part of a concatenation, or a padded copy); `n` is `x`'s element count.
#[vibee::kernel]
pub fn place(x: &[f32], out: &mut [f32], len: u32, out_len: u32, inner: u32, offset: u32, n: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        let o = i / (len * inner);
        let rest = i % (len * inner);
        out[(o * out_len + offset) * inner + rest] = x[i];
        i += stride;
    }
}

/// `out[r, c] ← table[ids[r], c]` (embedding lookup).
#[vibee::kernel]
pub fn embed(table: &[f32], ids: &[u32], out: &mut [f32], d: u32, n: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        out[i] = table[ids[i / d] * d + i % d];
        i += stride;
    }
}

/// `out[v, c] ← Σ_{r: ids[r] = v} src[r, c]`, summed in row order (the embedding's
/// gradient); one unit per output element, so no atomics and a fixed order.
#[vibee::kernel]
pub fn scatter_add(ids: &[u32], src: &[f32], out: &mut [f32], d: u32, n: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        let v = i / d;
        let c = i % d;
        let mut sum = 0.0;
        for r in 0..ids.len() {
            if ids[r] == v {
                sum += src[r * d + c];
            }
        }
        out[i] = sum;
        i += stride;
    }
}

/// `out[o] ← op over r of x[base[o] + offs[r]]` in `r` order: sum (`op` 0), mean (1), max
/// (2).
#[vibee::kernel]
pub fn reduce(x: &[f32], base: &[u32], offs: &[u32], out: &mut [f32], op: u32, n: u32) {
    let stride = num_groups() * group_size();
    let mut o = global_pos();
    while o < n {
        let start = base[o];
        let mut acc = x[start + offs[0]];
        for r in 1..offs.len() {
            let v = x[start + offs[r]];
            if op == 2 {
                acc = max(acc, v);
            } else {
                acc += v;
            }
        }
        if op == 1 {
            acc = acc / (offs.len() as f32);
        }
        out[o] = acc;
        o += stride;
    }
}

/// `out[b] ← op(a[b]) · op(b[b])` for `batch` products `m×k · k×n`; an operand's batch
/// stride is 0 when it is shared. One unit per output element.
#[vibee::kernel]
pub fn matmul(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    m: u32,
    n: u32,
    k: u32,
    a_batch: u32,
    b_batch: u32,
    trans_a: u32,
    trans_b: u32,
    count: u32,
) {
    let stride = num_groups() * group_size();
    let mut e = global_pos();
    while e < count {
        let bt = e / (m * n);
        let i = (e / n) % m;
        let j = e % n;
        let a0 = bt * a_batch;
        let b0 = bt * b_batch;
        let mut sum = 0.0;
        for l in 0..k {
            let mut av = a[a0 + i * k + l];
            if trans_a != 0 {
                av = a[a0 + l * m + i];
            }
            let mut bv = b[b0 + l * n + j];
            if trans_b != 0 {
                bv = b[b0 + j * k + l];
            }
            sum += av * bv;
        }
        out[e] = sum;
        e += stride;
    }
}

/// Dropout: `out ← x·scale` where the mask keeps element `i`, else 0 — the CPU executor's
/// mask bit for bit. Its hash is SplitMix64's finaliser of `key ^ i` (see
/// [`dropout_keep`](vibee::dsl::graph::layout::dropout_keep)); devices have no 64-bit
/// integers, so each 64-bit value is a `(hi, lo)` pair of `u32`s and each product is built
/// from 16-bit halves. The element is kept when the hash's top 53 bits, `(hi, lo >> 11)`,
/// are at least the threshold `(t_hi, t_lo)` (its bits 21.. and 0..21).
#[vibee::kernel]
#[allow(clippy::too_many_arguments)] // (reason: the mask's key and threshold as u32 halves)
pub fn dropout(
    x: &[f32],
    out: &mut [f32],
    key_hi: u32,
    key_lo: u32,
    t_hi: u32,
    t_lo: u32,
    scale: f32,
    n: u32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        // z = (key ^ i) + 0x9E3779B97F4A7C15
        let z_lo = key_lo ^ i;
        let mut lo = z_lo + 2135587861;
        let mut hi = key_hi + 2654435769;
        if lo < z_lo {
            hi += 1;
        }
        // Two rounds of `z ^= z >> s; z *= c`: s = 30, c = 0xBF58476D1CE4E5B9, then
        // s = 27, c = 0x94D049BB133111EB. The product's high word is the carry out of
        // lo·c_lo (from 16-bit halves) plus the cross products.
        let mut round = 0;
        while round < 2 {
            let s = 30 - 3 * round;
            lo ^= (lo >> s) | (hi << (32 - s));
            hi ^= hi >> s;
            let mut c_hi = 3210233709;
            let mut c_lo = 484763065;
            if round == 1 {
                c_hi = 2496678331;
                c_lo = 321982955;
            }
            let a1 = lo >> 16;
            let a0 = lo & 65535;
            let b1 = c_lo >> 16;
            let b0 = c_lo & 65535;
            let m1 = a1 * b0 + ((a0 * b0) >> 16);
            let m2 = a0 * b1 + (m1 & 65535);
            hi = a1 * b1 + (m1 >> 16) + (m2 >> 16) + lo * c_hi + hi * c_lo;
            lo *= c_lo;
            round += 1;
        }
        // z ^= z >> 31
        lo ^= (lo >> 31) | (hi << 1);
        hi ^= hi >> 31;
        let low = lo >> 11;
        let mut value = 0.0;
        if hi > t_hi || (hi == t_hi && low >= t_lo) {
            value = x[i] * scale;
        }
        out[i] = value;
        i += stride;
    }
}

/// `x ← f32(bf16(x))`: a bf16 node's result rounded in place (nearest-even).
#[vibee::kernel]
pub fn round_bf16(x: &mut [f32], n: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        let h = x[i] as bf16;
        x[i] = h as f32;
        i += stride;
    }
}

/// `x ← f32(f16(x))`: an f16 node's result rounded in place (nearest-even).
#[vibee::kernel]
pub fn round_f16(x: &mut [f32], n: u32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < n {
        let h = x[i] as f16;
        x[i] = h as f32;
        i += stride;
    }
}
