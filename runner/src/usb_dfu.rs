//! `dfu-core`'s I/O over real USB with `nusb` (pure Rust: no libusb, no libudev): finds the
//! DFU interface and its functional descriptor in the device's configuration, claims it,
//! selects the alternate setting, and performs class control transfers under a timeout,
//! with the whole flash under the caller's deadline. DfuSe devices (ST's ROM) get their
//! memory layout from the alternate setting's interface string.

use std::time::{Duration, Instant};

use dfu_core::functional_descriptor::FunctionalDescriptor;
use dfu_core::memory_layout::MemoryLayout;
use dfu_core::{DfuIo, DfuProtocol};
use nusb::transfer::{Control, ControlType, Recipient};

/// USB interface class and subclass of DFU.
const DFU_CLASS: (u8, u8) = (0xFE, 0x01);
/// The functional descriptor's type.
const DFU_FUNCTIONAL: u8 = 0x21;

/// Errors of USB DFU.
#[derive(Debug, thiserror::Error)]
pub enum UsbDfuError {
    /// A DFU protocol error.
    #[error("DFU protocol: {0}")]
    Dfu(#[from] dfu_core::Error),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// USB failed.
    #[error("USB: {0}")]
    Usb(String),
    /// No such device or interface.
    #[error("{0}")]
    NotFound(String),
    /// The flash ran out of time.
    #[error("no answer before the deadline")]
    Deadline,
}

/// Finds the functional descriptor in the raw descriptors of an interface: its bytes
/// from bLength on, or `None`.
pub fn functional_descriptor(
    descriptors: &[&[u8]],
) -> Option<Result<FunctionalDescriptor, dfu_core::functional_descriptor::Error>> {
    descriptors
        .iter()
        .find(|d| d.len() >= 2 && d[1] == DFU_FUNCTIONAL)
        .and_then(|d| FunctionalDescriptor::from_bytes(d))
}

/// A DFU interface of a USB device, one alternate setting selected.
pub struct UsbDfu {
    device: nusb::Device,
    interface: nusb::Interface,
    number: u8,
    descriptor: FunctionalDescriptor,
    protocol: DfuProtocol<MemoryLayout>,
    timeout: Duration,
    deadline: Instant,
}

/// The first USB device with `vid:pid` (and `serial`, when given) present now.
pub fn find(
    vid: u16,
    pid: u16,
    serial: Option<&str>,
) -> Result<Option<nusb::DeviceInfo>, UsbDfuError> {
    let list = nusb::list_devices().map_err(|e| UsbDfuError::Usb(e.to_string()))?;
    Ok(list.into_iter().find(|d| {
        d.vendor_id() == vid
            && d.product_id() == pid
            && serial.is_none_or(|s| d.serial_number() == Some(s))
    }))
}

impl UsbDfu {
    /// Opens alternate setting `alt` of the DFU interface of `info`.
    pub fn open(
        info: &nusb::DeviceInfo,
        alt: u8,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<Self, UsbDfuError> {
        let device = info.open().map_err(|e| {
            UsbDfuError::Usb(format!(
                "opening {:04X}:{:04X}: {e}",
                info.vendor_id(),
                info.product_id()
            ))
        })?;
        let config = device
            .active_configuration()
            .map_err(|e| UsbDfuError::Usb(e.to_string()))?;
        let setting = config
            .interface_alt_settings()
            .find(|s| (s.class(), s.subclass()) == DFU_CLASS && s.alternate_setting() == alt)
            .ok_or_else(|| {
                UsbDfuError::NotFound(format!(
                    "the device has no DFU interface with alternate setting {alt}"
                ))
            })?;
        let number = setting.interface_number();
        let raw: Vec<Vec<u8>> = setting.descriptors().map(|d| d.to_vec()).collect();
        let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
        let descriptor = functional_descriptor(&refs)
            .ok_or_else(|| {
                UsbDfuError::NotFound("the DFU interface has no functional descriptor".into())
            })?
            .map_err(|e| UsbDfuError::Usb(format!("bad DFU functional descriptor: {e}")))?;
        let protocol = match (descriptor.dfu_version, setting.string_index()) {
            ((1, 0x1a), Some(idx)) => {
                let name = device
                    .get_string_descriptor(idx, 0x0409, timeout)
                    .map_err(|e| UsbDfuError::Usb(e.to_string()))?;
                DfuProtocol::new(&name, descriptor.dfu_version)?
            }
            _ => DfuProtocol::Dfu,
        };
        let interface = device
            .detach_and_claim_interface(number)
            .map_err(|e| UsbDfuError::Usb(format!("claiming interface {number}: {e}")))?;
        interface
            .set_alt_setting(alt)
            .map_err(|e| UsbDfuError::Usb(format!("selecting alternate setting {alt}: {e}")))?;
        Ok(UsbDfu {
            device,
            interface,
            number,
            descriptor,
            protocol,
            timeout,
            deadline,
        })
    }

    fn control(&self, request: u8, value: u16) -> Result<Control, UsbDfuError> {
        if Instant::now() > self.deadline {
            return Err(UsbDfuError::Deadline);
        }
        Ok(Control {
            control_type: ControlType::Class,
            recipient: Recipient::Interface,
            request,
            value,
            index: u16::from(self.number),
        })
    }
}

impl DfuIo for UsbDfu {
    type Read = usize;
    type Write = usize;
    type Reset = ();
    type Error = UsbDfuError;
    type MemoryLayout = MemoryLayout;

    fn read_control(
        &self,
        _request_type: u8,
        request: u8,
        value: u16,
        buffer: &mut [u8],
    ) -> Result<usize, UsbDfuError> {
        let c = self.control(request, value)?;
        self.interface
            .control_in_blocking(c, buffer, self.timeout)
            .map_err(|e| UsbDfuError::Usb(e.to_string()))
    }

    fn write_control(
        &self,
        _request_type: u8,
        request: u8,
        value: u16,
        buffer: &[u8],
    ) -> Result<usize, UsbDfuError> {
        let c = self.control(request, value)?;
        self.interface
            .control_out_blocking(c, buffer, self.timeout)
            .map_err(|e| UsbDfuError::Usb(e.to_string()))
    }

    fn usb_reset(self) -> Result<(), UsbDfuError> {
        self.device
            .reset()
            .map_err(|e| UsbDfuError::Usb(e.to_string()))
    }

    fn protocol(&self) -> &DfuProtocol<MemoryLayout> {
        &self.protocol
    }

    fn functional_descriptor(&self) -> &FunctionalDescriptor {
        &self.descriptor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_functional_descriptor_is_found_among_the_interface_descriptors() {
        // An interface descriptor, then DFU functional: attributes 0x0B (download, upload,
        // will detach), detach timeout 255, transfer size 2048, bcdDFU 0x011A (ST's ROM).
        let iface = [9u8, 4, 0, 0, 0, 0xFE, 1, 2, 4];
        let func = [9u8, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x08, 0x1A, 0x01];
        let d = functional_descriptor(&[&iface, &func]).unwrap().unwrap();
        assert!(d.can_download && d.can_upload && d.will_detach && !d.manifestation_tolerant);
        assert_eq!(
            (d.transfer_size, d.detach_timeout, d.dfu_version),
            (2048, 255, (1, 0x1A))
        );
        assert!(functional_descriptor(&[&iface]).is_none());
        // Truncated: an error, not a panic.
        assert!(functional_descriptor(&[&func[..5]]).unwrap().is_err());
    }
}
