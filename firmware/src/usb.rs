//! USB descriptors as OpenMV cameras present them, written once for the virtual camera
//! (which builds them) and the host (which parses what the kernel read from a device):
//! the device descriptor, a CDC-ACM configuration (the firmware's debug port and the
//! legacy CDC bootloader), a DFU configuration (one interface, one alternate setting per
//! partition), string descriptors — and the parser that finds a DFU interface and its
//! functional descriptor wherever a configuration puts it.
//!
//! Where the DFU functional descriptor sits differs between devices: a descriptor per
//! alternate setting, or — as TinyUSB and ST's ROM lay it out — **one** after the last
//! alternate setting. dfu-util searches the whole configuration; so does [`find_dfu`].

use dfu_core::functional_descriptor::FunctionalDescriptor;

/// Descriptor types (USB 2.0 §9.4, table 9-5; DFU 1.1 §4.1.3).
pub mod dtype {
    /// DEVICE.
    pub const DEVICE: u8 = 1;
    /// CONFIGURATION.
    pub const CONFIGURATION: u8 = 2;
    /// STRING.
    pub const STRING: u8 = 3;
    /// INTERFACE.
    pub const INTERFACE: u8 = 4;
    /// ENDPOINT.
    pub const ENDPOINT: u8 = 5;
    /// DEVICE_QUALIFIER.
    pub const DEVICE_QUALIFIER: u8 = 6;
    /// INTERFACE_ASSOCIATION.
    pub const IAD: u8 = 11;
    /// CDC class-specific interface descriptor.
    pub const CS_INTERFACE: u8 = 0x24;
    /// DFU functional descriptor.
    pub const DFU_FUNCTIONAL: u8 = 0x21;
}

/// The DFU interface class and subclass; protocol 2 = DFU mode.
pub const DFU_CLASS: (u8, u8, u8) = (0xFE, 0x01, 0x02);

/// A device's bus speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    /// 12 Mb/s: 64-byte bulk packets.
    Full,
    /// 480 Mb/s: 512-byte bulk packets.
    High,
}

impl Speed {
    /// Bulk endpoints' maximum packet size.
    pub fn bulk_packet(self) -> u16 {
        match self {
            Speed::Full => 64,
            Speed::High => 512,
        }
    }

    /// The signalling rate, bits/s.
    pub fn bits_per_s(self) -> f64 {
        match self {
            Speed::Full => 12.0e6,
            Speed::High => 480.0e6,
        }
    }
}

/// The fields of a device descriptor that OpenMV's identities vary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceDescriptor {
    /// bcdUSB.
    pub bcd_usb: u16,
    /// Class, subclass, protocol (0xEF/2/1 = interface association, for CDC).
    pub class: (u8, u8, u8),
    /// bMaxPacketSize0.
    pub max_packet0: u8,
    /// idVendor.
    pub vid: u16,
    /// idProduct.
    pub pid: u16,
    /// bcdDevice.
    pub bcd_device: u16,
    /// String indices of manufacturer, product, serial (0 = none).
    pub strings: (u8, u8, u8),
}

impl DeviceDescriptor {
    /// The 18 bytes.
    pub fn encode(&self) -> [u8; 18] {
        let mut d = [0u8; 18];
        d[0] = 18;
        d[1] = dtype::DEVICE;
        d[2..4].copy_from_slice(&self.bcd_usb.to_le_bytes());
        (d[4], d[5], d[6]) = self.class;
        d[7] = self.max_packet0;
        d[8..10].copy_from_slice(&self.vid.to_le_bytes());
        d[10..12].copy_from_slice(&self.pid.to_le_bytes());
        d[12..14].copy_from_slice(&self.bcd_device.to_le_bytes());
        (d[14], d[15], d[16]) = self.strings;
        d[17] = 1;
        d
    }
}

/// A string descriptor for `s` (UTF-16LE).
pub fn string_descriptor(s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().take(126).collect();
    let mut d = vec![(2 + 2 * units.len()) as u8, dtype::STRING];
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d
}

/// String descriptor 0: the languages (US English).
pub const LANGUAGES: [u8; 4] = [4, dtype::STRING, 0x09, 0x04];

fn configuration(body: &[u8], interfaces: u8, attributes: u8, max_power_2ma: u8) -> Vec<u8> {
    let total = (9 + body.len()) as u16;
    let mut c = vec![9, dtype::CONFIGURATION];
    c.extend_from_slice(&total.to_le_bytes());
    c.extend_from_slice(&[interfaces, 1, 0, attributes, max_power_2ma]);
    c.extend_from_slice(body);
    c
}

fn endpoint(address: u8, attributes: u8, max_packet: u16, interval: u8) -> [u8; 7] {
    let p = max_packet.to_le_bytes();
    [
        7,
        dtype::ENDPOINT,
        address,
        attributes,
        p[0],
        p[1],
        interval,
    ]
}

/// Endpoint addresses of a CDC-ACM function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CdcEndpoints {
    /// Interrupt IN (notifications).
    pub notify_in: u8,
    /// Bulk OUT (host → device data).
    pub data_out: u8,
    /// Bulk IN (device → host data).
    pub data_in: u8,
}

/// A configuration with one CDC-ACM function (interface 0: communication, interface 1:
/// data), behind an interface association as MicroPython's USB stacks present it.
pub fn cdc_acm_configuration(speed: Speed, ep: CdcEndpoints) -> Vec<u8> {
    let mut b = Vec::new();
    // Interface association: interfaces 0–1, CDC / ACM.
    b.extend_from_slice(&[8, dtype::IAD, 0, 2, 0x02, 0x02, 0x01, 0]);
    // Communication interface, one endpoint.
    b.extend_from_slice(&[9, dtype::INTERFACE, 0, 0, 1, 0x02, 0x02, 0x01, 0]);
    b.extend_from_slice(&[5, dtype::CS_INTERFACE, 0x00, 0x10, 0x01]); // header, CDC 1.10
    b.extend_from_slice(&[5, dtype::CS_INTERFACE, 0x01, 0x00, 0x01]); // call management
    b.extend_from_slice(&[4, dtype::CS_INTERFACE, 0x02, 0x02]); // ACM: line coding, serial state
    b.extend_from_slice(&[5, dtype::CS_INTERFACE, 0x06, 0x00, 0x01]); // union 0 → 1
    let interval = if speed == Speed::High { 9 } else { 16 };
    b.extend_from_slice(&endpoint(ep.notify_in, 0x03, 8, interval));
    // Data interface, two bulk endpoints.
    b.extend_from_slice(&[9, dtype::INTERFACE, 1, 0, 2, 0x0A, 0x00, 0x00, 0]);
    b.extend_from_slice(&endpoint(ep.data_out, 0x02, speed.bulk_packet(), 0));
    b.extend_from_slice(&endpoint(ep.data_in, 0x02, speed.bulk_packet(), 0));
    configuration(&b, 2, 0x80, 250)
}

/// Where a DFU configuration puts its functional descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionalPlacement {
    /// One after each alternate setting.
    EachAlt,
    /// One after the last alternate setting (TinyUSB, ST's ROM).
    AfterLastAlt,
}

/// The 9 bytes of a DFU functional descriptor.
pub fn encode_functional(f: &FunctionalDescriptor) -> [u8; 9] {
    let attributes = u8::from(f.can_download)
        | u8::from(f.can_upload) << 1
        | u8::from(f.manifestation_tolerant) << 2
        | u8::from(f.will_detach) << 3;
    let t = f.detach_timeout.to_le_bytes();
    let s = f.transfer_size.to_le_bytes();
    [
        9,
        dtype::DFU_FUNCTIONAL,
        attributes,
        t[0],
        t[1],
        s[0],
        s[1],
        f.dfu_version.1,
        f.dfu_version.0,
    ]
}

/// A DFU-mode configuration: interface 0 with one alternate setting per entry of
/// `alt_strings` (the string index naming each), and the functional descriptor placed as
/// `placement` says.
pub fn dfu_configuration(
    alt_strings: &[u8],
    functional: &FunctionalDescriptor,
    placement: FunctionalPlacement,
) -> Vec<u8> {
    let func = encode_functional(functional);
    let mut b = Vec::new();
    for (alt, &s) in alt_strings.iter().enumerate() {
        let (c, sc, p) = DFU_CLASS;
        b.extend_from_slice(&[9, dtype::INTERFACE, 0, alt as u8, 0, c, sc, p, s]);
        if placement == FunctionalPlacement::EachAlt {
            b.extend_from_slice(&func);
        }
    }
    if placement == FunctionalPlacement::AfterLastAlt {
        b.extend_from_slice(&func);
    }
    configuration(&b, 1, 0x80, 250)
}

/// What a host needs of one DFU alternate setting.
#[derive(Clone, Debug)]
pub struct DfuInterface {
    /// bInterfaceNumber.
    pub number: u8,
    /// bAlternateSetting.
    pub alt: u8,
    /// iInterface (the partition's name or DfuSe memory layout), if any.
    pub string_index: Option<u8>,
    /// The functional descriptor that applies.
    pub functional: FunctionalDescriptor,
}

/// Why [`find_dfu`] found nothing usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DfuDescriptorError {
    /// No DFU interface has this alternate setting.
    #[error("the device has no DFU interface with alternate setting {0}")]
    NoAlt(u8),
    /// No functional descriptor anywhere in the configuration.
    #[error("the DFU interface has no functional descriptor anywhere in its configuration")]
    NoFunctional,
    /// The functional descriptor is malformed.
    #[error("bad DFU functional descriptor: {0}")]
    BadFunctional(String),
}

/// Splits a configuration (its descriptors concatenated) into descriptors; a truncated
/// tail is dropped.
pub fn split_descriptors(config: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = config;
    while rest.len() >= 2 {
        let n = usize::from(rest[0]);
        if n < 2 || n > rest.len() {
            break;
        }
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Finds DFU alternate setting `alt` in a configuration and the functional descriptor that
/// applies to it: the one inside that alternate setting if it has one, else the first
/// one anywhere in the configuration (TinyUSB and ST's ROM put a single one after the
/// last alternate setting; dfu-util searches the same way).
pub fn find_dfu(config: &[u8], alt: u8) -> Result<DfuInterface, DfuDescriptorError> {
    let descs = split_descriptors(config);
    let mut current: Option<(u8, u8, bool)> = None; // (number, alt, is DFU)
    let mut found: Option<(u8, Option<u8>)> = None;
    let mut own: Option<&[u8]> = None;
    let mut any: Option<&[u8]> = None;
    for d in &descs {
        match d[1] {
            dtype::INTERFACE if d.len() >= 9 => {
                let is_dfu = (d[5], d[6]) == (DFU_CLASS.0, DFU_CLASS.1);
                current = Some((d[2], d[3], is_dfu));
                if is_dfu && d[3] == alt && found.is_none() {
                    found = Some((d[2], (d[8] != 0).then_some(d[8])));
                }
            }
            dtype::DFU_FUNCTIONAL => {
                if any.is_none() {
                    any = Some(d);
                }
                if let (Some((n, a, true)), Some((fnum, _))) = (current, found) {
                    if a == alt && n == fnum && own.is_none() {
                        own = Some(d);
                    }
                }
            }
            _ => {}
        }
    }
    let (number, string_index) = found.ok_or(DfuDescriptorError::NoAlt(alt))?;
    let raw = own.or(any).ok_or(DfuDescriptorError::NoFunctional)?;
    let functional = FunctionalDescriptor::from_bytes(raw)
        .ok_or(DfuDescriptorError::NoFunctional)?
        .map_err(|e| DfuDescriptorError::BadFunctional(e.to_string()))?;
    Ok(DfuInterface {
        number,
        alt,
        string_index,
        functional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dfu::openmv_dfu_descriptor;

    #[test]
    fn the_functional_descriptor_is_found_in_either_layout() {
        let f = openmv_dfu_descriptor();
        for placement in [
            FunctionalPlacement::EachAlt,
            FunctionalPlacement::AfterLastAlt,
        ] {
            let config = dfu_configuration(&[4, 5, 6, 7, 8], &f, placement);
            assert_eq!(
                u16::from_le_bytes([config[2], config[3]]) as usize,
                config.len()
            );
            for alt in 0..5 {
                let d = find_dfu(&config, alt).unwrap();
                assert_eq!((d.number, d.alt, d.string_index), (0, alt, Some(4 + alt)));
                assert_eq!(d.functional.transfer_size, f.transfer_size);
                assert!(d.functional.manifestation_tolerant && d.functional.can_upload);
            }
            assert_eq!(
                find_dfu(&config, 5).unwrap_err(),
                DfuDescriptorError::NoAlt(5)
            );
        }
    }

    #[test]
    fn st_rom_layout_by_hand() {
        // ST's ROM on an STM32H7 (as `lsusb -v` shows it): two alternate settings, one
        // functional descriptor after the last: attributes 0x0B, detach 255 ms,
        // transfer size 2048, bcdDFU 0x011A.
        let config: Vec<u8> = [
            &[9u8, 2, 36, 0, 1, 1, 0, 0x80, 50][..],
            &[9, 4, 0, 0, 0, 0xFE, 1, 2, 4],
            &[9, 4, 0, 1, 0, 0xFE, 1, 2, 5],
            &[9, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x08, 0x1A, 0x01],
        ]
        .concat();
        let d = find_dfu(&config, 0).unwrap();
        assert_eq!(d.functional.transfer_size, 2048);
        assert_eq!(d.functional.dfu_version, (1, 0x1A));
        assert!(d.functional.will_detach && !d.functional.manifestation_tolerant);
        // Without any functional descriptor: said so, not a panic.
        assert_eq!(
            find_dfu(&config[..27], 0).unwrap_err(),
            DfuDescriptorError::NoFunctional
        );
    }

    #[test]
    fn cdc_configuration_is_well_formed() {
        let ep = CdcEndpoints {
            notify_in: 0x82,
            data_out: 0x03,
            data_in: 0x83,
        };
        let c = cdc_acm_configuration(Speed::High, ep);
        let descs = split_descriptors(&c);
        assert_eq!(descs.iter().map(|d| d.len()).sum::<usize>(), c.len());
        let bulk: Vec<u16> = descs
            .iter()
            .filter(|d| d[1] == dtype::ENDPOINT && d[3] == 0x02)
            .map(|d| u16::from_le_bytes([d[4], d[5]]))
            .collect();
        assert_eq!(bulk, vec![512, 512]);
        assert_eq!(string_descriptor("OpenMV")[..4], [14, 3, b'O', 0]);
    }
}
