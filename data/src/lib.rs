//! Data-quality pipelines (see issue: filtering and deduplication).
