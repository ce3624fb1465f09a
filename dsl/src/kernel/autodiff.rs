//! Reverse-mode differentiation of elementwise functions: the VJP kernel.
