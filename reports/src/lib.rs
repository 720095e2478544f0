//! visreg's outputs: the results store (SQLite, versioned schema), the evaluation
//! document written by `visreg eval --json` (stable keys, documented in the README), the
//! description of the host that produced a result, and the text tables the binary prints.
#![warn(missing_docs)]

pub mod eval_doc;
mod fmt;
pub mod host;
pub mod report;
pub mod store;
pub mod table;

pub use eval_doc::{EvalDocument, EVAL_SCHEMA};
pub use host::HostInfo;
