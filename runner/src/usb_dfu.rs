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

/// A DFU interface of a USB device, one alternate setting selected.
pub struct UsbDfu {
    device: nusb::Device,
    bus: u8,
    address: u8,
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
        // The functional descriptor may sit inside each alternate setting or once after
        // the last (TinyUSB, ST's ROM): search the whole configuration, as dfu-util does.
        let found =
            visreg_firmware::usb::find_dfu(config.descriptors().as_bytes(), alt).map_err(|e| {
                match e {
                    visreg_firmware::usb::DfuDescriptorError::NoAlt(_) => {
                        UsbDfuError::NotFound(e.to_string())
                    }
                    other => UsbDfuError::Usb(other.to_string()),
                }
            })?;
        let (number, descriptor) = (found.number, found.functional);
        let protocol = match (descriptor.dfu_version, found.string_index) {
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
            bus: info.bus_number(),
            address: info.device_address(),
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

    /// Leaves DFU as dfu-util's `--reset` does: DFU_DETACH (the OpenMV bootloader jumps to
    /// its firmware on it from v4.8.1, `boot/src/common/dfu.c`), and — if the device is still
    /// on the bus after its detach timeout — a bus reset (which every version obeys; a reset
    /// of a device that is already leaving makes the kernel wait out a 5 s descriptor
    /// request). The device drops off the bus while we speak to it, so an error from either
    /// is the normal end, not a failure: the caller follows the camera back.
    fn usb_reset(self) -> Result<(), UsbDfuError> {
        let detach = Control {
            control_type: ControlType::Class,
            recipient: Recipient::Interface,
            request: visreg_firmware::dfu::request::DETACH,
            value: self.descriptor.detach_timeout,
            index: u16::from(self.number),
        };
        if let Err(e) = self
            .interface
            .control_out_blocking(detach, &[], self.timeout)
        {
            tracing::debug!("DFU_DETACH: {e} (the device is leaving)");
        }
        let (bus, address) = (self.bus, self.address);
        let on_bus = || {
            nusb::list_devices()
                .map(|mut l| l.any(|d| d.bus_number() == bus && d.device_address() == address))
                .unwrap_or(false)
        };
        let until = Instant::now()
            + Duration::from_millis(u64::from(self.descriptor.detach_timeout).clamp(100, 2000));
        while Instant::now() < until {
            if !on_bus() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Err(e) = self.device.reset() {
            tracing::debug!("USB reset: {e} (the device re-enumerated)");
        }
        Ok(())
    }

    fn protocol(&self) -> &DfuProtocol<MemoryLayout> {
        &self.protocol
    }

    fn functional_descriptor(&self) -> &FunctionalDescriptor {
        &self.descriptor
    }
}
