//! The virtual camera: a device-side implementation of what an OpenMV camera does for
//! visreg — its `find_apriltags` ([`engine`]), its virtual sensor, its channels and
//! scripts, and the wire protocols v1 and v2 — served over any [`visreg_firmware::transport`].

pub mod bootloader;
pub mod cdc_bootloader;
pub mod device;
pub mod engine;
pub mod faults;
pub mod launch;
pub mod link;
pub mod serve;
pub mod unit;
#[cfg(unix)]
pub mod usb;
#[cfg(unix)]
pub mod usbip;
pub mod v1;
pub mod v2;
