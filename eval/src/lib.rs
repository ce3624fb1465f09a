//! The evaluation harness (see issue: `vibee eval`).
