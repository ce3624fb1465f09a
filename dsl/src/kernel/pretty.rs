//! The kernel IR's pretty printer, used by snapshots and `VIBEE_DUMP=ir`.
