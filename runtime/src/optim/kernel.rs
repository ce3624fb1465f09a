//! Host "kernels": one pass over a parameter and its state buffers, split into chunks that
//! rayon runs in parallel. Each chunk body is a plain indexed loop over equal-length slices,
//! which LLVM vectorizes. (The DSL-compiled fused kernels replace these on devices later;
//! the chunk bodies are written in the same elementwise form.)

use rayon::prelude::*;

/// Elements per parallel task: large enough to amortise scheduling, small enough to spread
/// a 10M-parameter tensor over every core.
const CHUNK: usize = 1 << 15;

/// Runs `f(param, grad)` chunk by chunk.
pub fn zip2<T: Send + Sync>(p: &mut [T], g: &[T], f: impl Fn(&mut [T], &[T]) + Sync) {
    if p.len() <= CHUNK {
        return f(p, g);
    }
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .for_each(|(p, g)| f(p, g));
}

/// Runs `f(param, grad, a)` chunk by chunk.
pub fn zip3<T: Send + Sync>(
    p: &mut [T],
    g: &[T],
    a: &mut [T],
    f: impl Fn(&mut [T], &[T], &mut [T]) + Sync,
) {
    if p.len() <= CHUNK {
        return f(p, g, a);
    }
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(a.par_chunks_mut(CHUNK))
        .for_each(|((p, g), a)| f(p, g, a));
}

/// Runs `f(param, grad, a, b)` chunk by chunk.
pub fn zip4<T: Send + Sync>(
    p: &mut [T],
    g: &[T],
    a: &mut [T],
    b: &mut [T],
    f: impl Fn(&mut [T], &[T], &mut [T], &mut [T]) + Sync,
) {
    if p.len() <= CHUNK {
        return f(p, g, a, b);
    }
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(a.par_chunks_mut(CHUNK))
        .zip(b.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), a), b)| f(p, g, a, b));
}

/// Runs `f(param, grad, a, b, c)` chunk by chunk.
pub fn zip5<T: Send + Sync>(
    p: &mut [T],
    g: &[T],
    a: &mut [T],
    b: &mut [T],
    c: &mut [T],
    f: impl Fn(&mut [T], &[T], &mut [T], &mut [T], &mut [T]) + Sync,
) {
    if p.len() <= CHUNK {
        return f(p, g, a, b, c);
    }
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(a.par_chunks_mut(CHUNK))
        .zip(b.par_chunks_mut(CHUNK))
        .zip(c.par_chunks_mut(CHUNK))
        .for_each(|((((p, g), a), b), c)| f(p, g, a, b, c));
}
