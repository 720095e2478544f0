//! What the kernel saw of a USB device that never became one: a camera whose device
//! descriptor request fails (Windows says "Unknown USB Device (Device Descriptor Request
//! Failed)") leaves no device in sysfs, only kernel log lines such as
//! `usb 1-1: device descriptor read/64, error -32` and
//! `usb usb1-port1: unable to enumerate USB device`. Read from `/dev/kmsg` where the
//! process may (root, or `kernel.dmesg_restrict=0`); parsing is pure.

/// One enumeration failure the kernel logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumerationFailure {
    /// The port (`1-1`, or `usb1-port1`).
    pub port: String,
    /// The kernel's own words.
    pub line: String,
}

/// The enumeration failures among kernel log lines (`dmesg` text or `/dev/kmsg`
/// records), the newest last.
pub fn enumeration_failures(log: &str) -> Vec<EnumerationFailure> {
    const SIGNS: [&str; 6] = [
        "device descriptor read",
        "unable to enumerate USB device",
        "device not accepting address",
        "can't read configurations",
        "can't set config",
        "Cannot enable. Maybe the USB cable is bad?",
    ];
    log.lines()
        .filter_map(|raw| {
            // /dev/kmsg: "6,1234,5678,-;usb 1-1: …"; dmesg: "[  1.23] usb 1-1: …".
            let text = raw.split_once(';').map_or(raw, |(_, t)| t);
            let text = text.split_once("] ").map_or(text, |(_, t)| t).trim();
            let rest = text.strip_prefix("usb ")?;
            let (port, msg) = rest.split_once(": ")?;
            SIGNS
                .iter()
                .any(|s| msg.contains(s))
                .then(|| EnumerationFailure {
                    port: port.to_string(),
                    line: text.to_string(),
                })
        })
        .collect()
}

/// The kernel log, if this process may read it (`/dev/kmsg`, without blocking).
#[cfg(target_os = "linux")]
pub fn read_kernel_log() -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .ok()?;
    let mut out = String::new();
    let mut buf = vec![0u8; 8192];
    // Each read returns one record; EAGAIN at the end of the buffer.
    for _ in 0..100_000 {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.push_str(&String::from_utf8_lossy(&buf[..n]));
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            // EPIPE: a record was overwritten while reading; keep going.
            Err(e) if e.raw_os_error() == Some(32) => continue,
            Err(_) => break,
        }
    }
    Some(out)
}

/// The kernel log is Linux's.
#[cfg(not(target_os = "linux"))]
pub fn read_kernel_log() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_failures_are_found_in_both_log_formats() {
        let log = "6,100,1000,-;usb 1-1: new full-speed USB device number 2 using vhci_hcd\n\
                   3,101,1100,-;usb 1-1: device descriptor read/64, error -32\n\
                   [   12.5] usb usb1-port1: unable to enumerate USB device\n\
                   [   13.0] usb 1-2: new full-speed USB device number 3 using vhci_hcd\n";
        let f = enumeration_failures(log);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].port, "1-1");
        assert_eq!(f[0].line, "usb 1-1: device descriptor read/64, error -32");
        assert_eq!(f[1].port, "usb1-port1");
        assert!(enumeration_failures("usb 1-2: new device\n").is_empty());
    }
}
