//! The camera's side of visreg: OpenMV's result conventions, byte transports (in-memory
//! and pseudo-terminal), and — growing — the wire protocols and the virtual camera.
#![warn(missing_docs)]

pub mod board;
pub mod catalog;
pub mod image;
pub mod openmv;
pub mod protocol;
pub mod sim;
pub mod transport;
