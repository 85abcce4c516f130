use std::fmt;

/// Every error the engine reports. Each maps to one `monitoring_status` of the C ABI.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A bad event or argument. `field` is the JSON path of the offending field when known
    /// (`event.kind`, `event.metrics.temp`), so HTTP and language bindings can point at it.
    InvalidArgument {
        field: Option<String>,
        message: String,
    },
    /// A bad configuration. `path` names the key (`direct_backends[1].bukcet`) when known.
    Config {
        path: Option<String>,
        message: String,
    },
    QueueFull,
    Timeout,
    Shutdown,
    Io(String),
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument { field: Some(field.into()), message: message.into() }
    }
    pub(crate) fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        let path = path.into();
        Error::Config { path: (!path.is_empty()).then_some(path), message: message.into() }
    }
    /// The field or key path the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { field, .. } => field.as_deref(),
            Error::Config { path, .. } => path.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument { field: Some(field), message } => {
                write!(f, "invalid event: {field}: {message}")
            }
            Error::InvalidArgument { field: None, message } => write!(f, "invalid argument: {message}"),
            Error::Config { path: Some(path), message } => {
                write!(f, "configuration error at {path}: {message}")
            }
            Error::Config { path: None, message } => write!(f, "configuration error: {message}"),
            Error::QueueFull => f.write_str("queue full: event dropped"),
            Error::Timeout => f.write_str("deadline reached before completion"),
            Error::Shutdown => f.write_str("client is shut down"),
            Error::Io(m) => write!(f, "I/O error: {m}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
