//! Flashing through a DFU 1.1 bootloader with `dfu-core`, over any [`DfuIo`]: a real
//! camera's OpenMV bootloader through `nusb`, or the virtual camera's. One write per
//! partition (alternate setting), progress reported as values, every step under the
//! caller's deadline (enforced by the I/O), the device reset at the end so it boots what
//! was written. Images are planned and refused before this runs
//! ([`visreg_firmware::image`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dfu_core::synchronous::DfuSync;
use dfu_core::DfuIo;
use visreg_firmware::image::{partition, Write};

/// Progress of a flash, as a value (the binary draws the bar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlashProgress {
    /// Partition being written.
    pub partition: &'static str,
    /// Bytes written over all partitions.
    pub done: u64,
    /// Bytes to write in all.
    pub total: u64,
}

/// Why a flash failed, naming the partition and the step.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// Opening the bootloader's alternate setting failed.
    #[error("opening partition {partition} (alt {alt}) of the DFU bootloader: {message}")]
    Open {
        /// Partition.
        partition: &'static str,
        /// Alternate setting.
        alt: u8,
        /// Why.
        message: String,
    },
    /// The download failed.
    #[error("writing partition {partition}: {message}")]
    Download {
        /// Partition.
        partition: &'static str,
        /// Why.
        message: String,
    },
    /// The plan cannot be written by a plain-DFU bootloader.
    #[error("{0}")]
    Plan(String),
    /// The final reset failed.
    #[error("resetting the camera after flashing: {0}")]
    Reset(String),
}

/// Writes `writes` in order, opening alternate settings with `open`, and resets the
/// device at the end.
pub fn flash_dfu<IO, E, F>(
    board: visreg_firmware::board::Board,
    writes: &[Write],
    mut open: F,
    on_progress: Arc<dyn Fn(FlashProgress) + Send + Sync>,
) -> Result<(), FlashError>
where
    IO: DfuIo<Read = usize, Write = usize, Reset = (), Error = E> + 'static,
    E: From<std::io::Error> + From<dfu_core::Error> + std::fmt::Display,
    F: FnMut(u8) -> Result<IO, E>,
{
    for w in writes {
        let p = partition(board, w.partition).map_err(|e| FlashError::Plan(e.to_string()))?;
        if w.address != p.start {
            return Err(FlashError::Plan(format!(
                "the OpenMV bootloader writes a partition from its start: {} bytes at 0x{:08X} are inside {} (0x{:08X}); make an image of the whole partition",
                w.data.len(),
                w.address,
                p.name,
                p.start
            )));
        }
    }
    let total: u64 = writes.iter().map(|w| w.data.len() as u64).sum();
    let done = Arc::new(AtomicU64::new(0));
    let mut last = None;
    for w in writes {
        let io = open(w.alt).map_err(|e| FlashError::Open {
            partition: w.partition,
            alt: w.alt,
            message: e.to_string(),
        })?;
        let mut dfu = DfuSync::new(io);
        {
            let (done, on_progress, partition) = (done.clone(), on_progress.clone(), w.partition);
            dfu.with_progress(move |n| {
                if n == 0 {
                    return; // the zero-length DNLOAD that starts manifestation
                }
                let d = done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                on_progress(FlashProgress {
                    partition,
                    done: d,
                    total,
                });
            });
        }
        match dfu.download_from_slice(&w.data) {
            Ok(Some(d)) => last = Some(d),
            Ok(None) => last = None, // the device reset itself after manifestation
            Err(e) => {
                return Err(FlashError::Download {
                    partition: w.partition,
                    message: e.to_string(),
                })
            }
        }
    }
    if let Some(d) = last {
        d.usb_reset()
            .map_err(|e| FlashError::Reset(e.to_string()))?;
    }
    Ok(())
}
