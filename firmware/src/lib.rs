//! The camera's contracts, as pure values and codecs that the host and the virtual camera
//! (`visreg-sim`) both take from here: OpenMV's result conventions, the wire protocols v1
//! and v2, the workload contract, DFU and the CDC bootloader, firmware images, the boards
//! and the catalog, and byte transports (in-memory and pseudo-terminal).
#![warn(missing_docs)]

pub mod board;
pub mod catalog;
pub mod cdc_bootloader;
pub mod dfu;
pub mod generation;
pub mod image;
pub mod openmv;
pub mod protocol;
pub mod serial;
pub mod transport;
pub mod usb;
pub mod workload;
