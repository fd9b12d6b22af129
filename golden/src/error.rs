//! The error type of the golden model: every bad input becomes one of these,
//! naming what was wrong (never a panic, never silent garbage).

use thiserror::Error;

/// Everything that can go wrong in the golden model and its I/O.
#[derive(Debug, Error)]
pub enum GoldenError {
    /// A policy or argument field holds an impossible value.
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// Input data that cannot be compressed (NaN/Inf, wrong shape, dtype...).
    #[error("bad input: {0}")]
    BadInput(String),
    /// A stream or file that ends early.
    #[error("truncated: {0}")]
    Truncated(String),
    /// A stream or file whose content is inconsistent (checksum, padding, fields).
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// A compressed file made with a different policy.
    #[error("policy mismatch: {0}")]
    PolicyMismatch(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A .npy file that is malformed or unsupported.
    #[error("{path}: not a usable .npy file: {reason}")]
    Npy { path: String, reason: String },
    /// A JSON file that is malformed or does not describe a policy.
    #[error("{path}: {reason}")]
    Json { path: String, reason: String },
}

impl GoldenError {
    /// Shorthand for [`GoldenError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        GoldenError::Invalid { field: field.into(), reason: reason.into() }
    }
}

/// Result alias of the golden model.
pub type Result<T> = std::result::Result<T, GoldenError>;
