//! Step counts read from TOML: signed in the file (so `-5` is a clear error, not a type
//! mismatch), unsigned in Rust. Serde does not tell a field's deserializer its name, and
//! TOML's error context is lost inside tagged enums, so each step field gets a named reader
//! that puts the field in the message.

use serde::{Deserialize, Deserializer, de::Error};

fn non_negative<E: Error>(value: i64, field: &str) -> Result<u64, E> {
    u64::try_from(value)
        .map_err(|_| E::custom(format!("`{field}` cannot be negative (got {value})")))
}

macro_rules! step_fields {
    ($($field:ident),*) => {$(
        /// Reads this step-count field, rejecting negatives by name.
        pub(crate) fn $field<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            non_negative(i64::deserialize(d)?, stringify!($field))
        }
    )*};
}
step_fields!(
    warmup_steps,
    total_steps,
    decay_steps,
    period,
    period_mult,
    at
);

/// Reads the optional `timescale`, rejecting negatives by name.
pub(crate) fn timescale<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<i64>::deserialize(d)?
        .map(|v| non_negative(v, "timescale"))
        .transpose()
}
