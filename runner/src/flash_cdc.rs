//! Flashing through the legacy CDC bootloader of firmware ≤ 4.5.x, over the camera's
//! serial port, as the OpenMV IDE does: START (re-sent until answered), FLASH_LAYOUT,
//! erase the firmware's sectors, write 508-byte chunks (the last padded with 0xFF),
//! RESET. "Fast" mode sends without pauses; if it fails, one retry in "safe" mode waits
//! after each erase, as the IDE's fallback does. Every read has a deadline.

use std::time::{Duration, Instant};

use visreg_firmware::cdc_bootloader::{
    FLASH_ERASE, FLASH_LAYOUT, FLASH_WRITE, RESET, START, WRITE_CHUNK,
};
use visreg_firmware::image::Write;
use visreg_firmware::transport::{Transport, TransportError};

use crate::flash::{FlashError, FlashProgress};

/// How long safe mode waits after each erase.
pub const SAFE_ERASE_WAIT: Duration = Duration::from_secs(2);

fn read_exact<T: Transport>(
    t: &mut T,
    n: usize,
    until: Instant,
) -> Result<Vec<u8>, TransportError> {
    let mut out = Vec::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        let k = t.recv(&mut buf[..(n - out.len()).min(64)], until)?;
        out.extend_from_slice(&buf[..k]);
    }
    Ok(out)
}

/// Writes the FIRMWARE image of `writes` through the CDC bootloader on `t`.
pub fn flash_cdc<T: Transport>(
    t: &mut T,
    writes: &[Write],
    deadline: Instant,
    on_progress: &dyn Fn(FlashProgress),
) -> Result<(), FlashError> {
    // Checked before the camera left its firmware (`flash_camera`); again here, by the same
    // rule, for a caller that comes with a plan of its own.
    let fw = visreg_firmware::image::check_cdc_writes(writes)
        .map_err(|e| FlashError::Plan(e.to_string()))?;
    match attempt(t, fw, deadline, false, on_progress) {
        Ok(()) => Ok(()),
        Err(e) if Instant::now() < deadline => {
            tracing::warn!("fast mode failed ({e}); retrying in safe mode");
            attempt(t, fw, deadline, true, on_progress)
        }
        Err(e) => Err(e),
    }
}

fn attempt<T: Transport>(
    t: &mut T,
    fw: &Write,
    deadline: Instant,
    safe: bool,
    on_progress: &dyn Fn(FlashProgress),
) -> Result<(), FlashError> {
    let err = |step: &str, e: TransportError| FlashError::Download {
        partition: "FIRMWARE",
        message: format!("{step}: {e}"),
    };
    // START, re-sent every 10 ms until the bootloader answers (it waits ~1 s for a host).
    let start_until = (Instant::now() + Duration::from_secs(3)).min(deadline);
    loop {
        t.send(&START.to_le_bytes(), deadline)
            .map_err(|e| err("START", e))?;
        match read_exact(
            t,
            4,
            (Instant::now() + Duration::from_millis(10)).min(start_until),
        ) {
            Ok(v)
                if u32::from_le_bytes([v[0], v[1], v[2], v[3]]) & 0xFFFF_FFF0
                    == START & 0xFFFF_FFF0 =>
            {
                break
            }
            Ok(_) => continue,
            Err(TransportError::Timeout) if Instant::now() < start_until => continue,
            Err(e) => return Err(err("START (no CDC bootloader answered)", e)),
        }
    }
    t.send(&FLASH_LAYOUT.to_le_bytes(), deadline)
        .map_err(|e| err("FLASH_LAYOUT", e))?;
    let l = read_exact(
        t,
        12,
        (Instant::now() + Duration::from_secs(1)).min(deadline),
    )
    .map_err(|e| err("FLASH_LAYOUT", e))?;
    let word = |i: usize| u32::from_le_bytes([l[i], l[i + 1], l[i + 2], l[i + 3]]);
    let (fw_start, last) = (word(4), word(8));
    if fw_start > last || last - fw_start > 64 {
        return Err(FlashError::Plan(format!(
            "the bootloader reports an implausible flash layout ({fw_start}..{last})"
        )));
    }
    for sector in fw_start..=last {
        let mut c = FLASH_ERASE.to_le_bytes().to_vec();
        c.extend_from_slice(&sector.to_le_bytes());
        t.send(&c, deadline).map_err(|e| err("FLASH_ERASE", e))?;
        if safe {
            std::thread::sleep(
                SAFE_ERASE_WAIT.min(deadline.saturating_duration_since(Instant::now())),
            );
        }
    }
    let total = fw.data.len() as u64;
    let mut done = 0u64;
    for chunk in fw.data.chunks(WRITE_CHUNK) {
        let mut c = FLASH_WRITE.to_le_bytes().to_vec();
        c.extend_from_slice(chunk);
        c.resize(4 + WRITE_CHUNK, 0xFF);
        t.send(&c, deadline).map_err(|e| err("FLASH_WRITE", e))?;
        done += chunk.len() as u64;
        on_progress(FlashProgress {
            partition: "FIRMWARE",
            done,
            total,
        });
        if Instant::now() > deadline {
            return Err(FlashError::Download {
                partition: "FIRMWARE",
                message: "the flash did not finish before its deadline".into(),
            });
        }
    }
    t.send(&RESET.to_le_bytes(), deadline)
        .map_err(|e| err("RESET", e))?;
    Ok(())
}
