//! Offset tables, built once when a program is compiled: the index each output element
//! reads, for the ops whose index pattern depends on shapes.

use vibee::dsl::graph::layout::{broadcast_strides, offset_of, strides};

/// `table[i]` = the offset output element `i` of `shape` reads through `strides`, plus `base`.
pub(super) fn through(shape: &[usize], strides: &[usize], base: usize) -> Vec<u32> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|i| (base + offset_of(i, shape, strides)) as u32)
        .collect()
}

/// A broadcast of `from` to `to`.
pub(super) fn broadcast(from: &[usize], to: &[usize]) -> Vec<u32> {
    through(to, &broadcast_strides(from, to), 0)
}

/// A permutation: output axis `i` is input axis `perm[i]`.
pub(super) fn permute(input: &[usize], perm: &[usize], out: &[usize]) -> Vec<u32> {
    let own = strides(input);
    let moved: Vec<usize> = perm.iter().map(|&p| own[p]).collect();
    through(out, &moved, 0)
}

/// `x[.., start.., ..]` along `axis`, the output's shape being `out`.
pub(super) fn slice(input: &[usize], axis: usize, start: usize, out: &[usize]) -> Vec<u32> {
    let own = strides(input);
    through(out, &own, start * own[axis])
}

/// A reduction over `axes` of `input`: the first element each output reads, and the
/// offsets of the reduced elements from it, both in row-major order.
pub(super) fn reduce(input: &[usize], axes: &[usize]) -> (Vec<u32>, Vec<u32>) {
    let own = strides(input);
    let pick = |reduced: bool| -> (Vec<usize>, Vec<usize>) {
        (0..input.len())
            .filter(|a| axes.contains(a) == reduced)
            .map(|a| (input[a], own[a]))
            .unzip()
    };
    let (kept, kept_strides) = pick(false);
    let (red, red_strides) = pick(true);
    (
        through(&kept, &kept_strides, 0),
        through(&red, &red_strides, 0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_row_major_order() {
        assert_eq!(broadcast(&[3], &[2, 3]), [0, 1, 2, 0, 1, 2]);
        assert_eq!(permute(&[2, 3], &[1, 0], &[3, 2]), [0, 3, 1, 4, 2, 5]);
        assert_eq!(slice(&[2, 4], 1, 1, &[2, 2]), [1, 2, 5, 6]);
        let (base, offs) = reduce(&[2, 3, 4], &[1]);
        assert_eq!(base, [0, 1, 2, 3, 12, 13, 14, 15]);
        assert_eq!(offs, [0, 4, 8]);
    }
}
