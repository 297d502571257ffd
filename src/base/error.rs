//! Error types of the library. Every message names the file and, where there is one, the key.

use std::path::PathBuf;

/// Library result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in pathspace, as a type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem file could not be read.
    /// The io error is part of the one-line message and deliberately not a source (a field
    /// named `source` would be one implicitly), so printing the chain does not repeat it.
    #[error("{path}: cannot read: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A problem file is malformed or has an invalid value. `location` is `key` or `line N, key`.
    #[error("{path}: {location}: {message}")]
    Problem {
        path: PathBuf,
        location: String,
        message: String,
    },
    /// An output could not be written.
    #[error("{path}: cannot write: {message}")]
    Write { path: PathBuf, message: String },
    /// A file this crate wrote earlier (run.h5, checkpoint) is missing, truncated or corrupt.
    /// `field` names the dataset, attribute or section that could not be read.
    #[error("{path}: {field}: {message}")]
    Format { path: PathBuf, field: String, message: String },
    /// Training diverged and could not be recovered.
    #[error("training diverged: {0} (lower the key train.lr, or sde.dt)")]
    Diverged(String),
    /// Anything else, with its context.
    #[error("{0}")]
    Other(String),
    /// An error with its context: what the run was doing, or the file it concerns (the inner
    /// message is part of this one and deliberately not a source, so a printed chain does not
    /// repeat it).
    #[error("{context}: {inner}")]
    Context { context: String, inner: Box<Error> },
}

impl Error {
    /// This error with `context` in front of its message.
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context { context: context.into(), inner: Box::new(self) }
    }
}
