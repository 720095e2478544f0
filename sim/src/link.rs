//! `--link real`: the virtual camera's link and detector take the time a real camera's
//! would. Without it the virtual camera answers as fast as the pseudo-terminal carries
//! bytes and reports its modelled `find_apriltags` time without spending it; with it
//! every byte costs bus time at its board's USB speed and each replayed frame keeps the
//! camera's detector busy for the time it reports.
//!
//! The bus model is USB 2.0's bulk ceiling (USB 2.0 specification §5.8.4, tables 5-9 and
//! 5-10): at full speed at most 19 bulk transactions of 64 bytes fit one 1 ms frame
//! (1216 B/ms ≈ 1.216 MB/s); at high speed at most 13 of 512 bytes fit one 125 µs
//! microframe (53.2 MB/s). A transfer of n bytes takes ⌈n / packet⌉ packet slots (a short
//! last packet costs a whole slot, so a 10-byte ACK costs as much as 64 bytes), both
//! directions share one bus, and nothing else uses it: real host controllers and the
//! firmware's CDC buffers deliver less (often 0.8–1.0 MB/s at full speed), so replay times
//! here are a lower bound of a real camera's. The boards' speeds: M7, H7 and H7 Plus run
//! their STM32 OTG_FS controller (`OMV_USB_IRQN (OTG_FS_IRQn)`, boards/OPENMV3|4|4P
//! omv_boardconfig.h v4.8.1, board_config.h v5.0.0); RT1060 and N6 run high speed
//! (`HAS_USB_HS` in their `OMV_PROTOCOL_HW_CAPS`, board_config.h v5.0.0) — see
//! [`Board::usb_speed`].
//!
//! While `find_apriltags` runs, 5.x services the protocol only from the detector's own
//! `apriltag_poll_events()` → `imlib_poll_events()`, at most every 20 ms
//! (`IMLIB_POLL_INTERVAL_CYC`, lib/imlib/imlib.h and lib/imlib/apriltag_config.h
//! v5.0.0); [`DETECTOR_POLL`] is that interval.

use std::time::{Duration, Instant};

use visreg_firmware::board::{Board, UsbSpeed};
use visreg_firmware::transport::{Transport, TransportError};

/// How often 5.x's detector lets the protocol run while it works.
pub const DETECTOR_POLL: Duration = Duration::from_millis(20);

/// A board's USB link as the virtual camera models it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkModel {
    /// The bus speed.
    pub speed: UsbSpeed,
}

impl LinkModel {
    /// The link of `board`.
    pub fn for_board(board: Board) -> Self {
        LinkModel {
            speed: board.usb_speed(),
        }
    }

    /// Bytes in one bulk packet.
    pub fn packet_bytes(self) -> usize {
        match self.speed {
            UsbSpeed::Full => 64,
            UsbSpeed::High => 512,
        }
    }

    /// Bus time of one bulk packet slot: a 1 ms frame / 19, a 125 µs microframe / 13.
    pub fn slot(self) -> Duration {
        match self.speed {
            UsbSpeed::Full => Duration::from_nanos(1_000_000 / 19),
            UsbSpeed::High => Duration::from_nanos(125_000 / 13),
        }
    }

    /// The bulk ceiling, bytes per second.
    pub fn bytes_per_s(self) -> f64 {
        self.packet_bytes() as f64 / self.slot().as_secs_f64()
    }

    /// Bus time of one transfer of `n` bytes (at least one packet).
    pub fn transfer_time(self, n: usize) -> Duration {
        self.slot() * n.div_ceil(self.packet_bytes()).max(1) as u32
    }
}

/// A transport whose bytes cost the bus time of `link`, both directions on one bus. The
/// device side of a virtual camera is wrapped in it; `recv` also returns within 1 ms, so
/// the serving loop notices at once when the detector finishes.
pub struct PacedTransport<'a> {
    inner: &'a mut dyn Transport,
    link: LinkModel,
    bus_free: Instant,
}

impl<'a> PacedTransport<'a> {
    /// `inner`, paced by `link`.
    pub fn new(inner: &'a mut dyn Transport, link: LinkModel) -> Self {
        PacedTransport {
            inner,
            link,
            bus_free: Instant::now(),
        }
    }

    fn occupy(&mut self, n: usize) {
        let start = self.bus_free.max(Instant::now());
        self.bus_free = start + self.link.transfer_time(n);
        let now = Instant::now();
        if self.bus_free > now {
            std::thread::sleep(self.bus_free - now);
        }
    }
}

impl Transport for PacedTransport<'_> {
    fn send(&mut self, data: &[u8], deadline: Instant) -> Result<(), TransportError> {
        // The host sees the bytes once the bus has carried them.
        self.occupy(data.len());
        self.inner.send(data, deadline)
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        let short = deadline.min(Instant::now() + Duration::from_millis(1));
        let n = self.inner.recv(buf, short)?;
        // The device has the bytes once the bus has carried them.
        self.occupy(n);
        Ok(n)
    }

    fn name(&self) -> String {
        self.inner.name()
    }

    fn keeps_writes(&self) -> bool {
        self.inner.keeps_writes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_speed_carries_19_packets_a_millisecond_high_speed_13_a_microframe() {
        let fs = LinkModel::for_board(Board::H7Plus);
        let hs = LinkModel::for_board(Board::RT1062);
        assert_eq!(fs.speed, UsbSpeed::Full);
        assert_eq!(LinkModel::for_board(Board::H7).speed, UsbSpeed::Full);
        assert_eq!(hs.speed, UsbSpeed::High);
        assert!(
            (fs.bytes_per_s() - 1_216_000.0).abs() < 100.0,
            "{}",
            fs.bytes_per_s()
        );
        assert!(
            (hs.bytes_per_s() - 53_248_000.0).abs() < 5_000.0,
            "{}",
            hs.bytes_per_s()
        );
        // A QVGA frame (76 800 B) takes 1200 FS packet slots: 63 ms.
        let t = fs.transfer_time(76_800).as_secs_f64();
        assert!((t - 1200.0 / 19_000.0).abs() < 1e-6, "{t}");
        // A 10-byte ACK costs a whole packet.
        assert_eq!(fs.transfer_time(10), fs.transfer_time(64));
        assert_eq!(fs.transfer_time(65), fs.transfer_time(64) * 2);
    }

    #[test]
    fn a_paced_pipe_takes_the_modelled_time() {
        let (mut a, mut b) = visreg_firmware::transport::memory_pair("link");
        let link = LinkModel::for_board(Board::H7Plus);
        let t0 = Instant::now();
        {
            let mut p = PacedTransport::new(&mut a, link);
            p.send(
                &[0u8; 19 * 64 * 20],
                Instant::now() + Duration::from_secs(1),
            )
            .unwrap();
        }
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(20), "{took:?}");
        assert!(took < Duration::from_millis(200), "{took:?}");
        let mut buf = [0u8; 64];
        assert!(b
            .recv(&mut buf, Instant::now() + Duration::from_secs(1))
            .is_ok());
    }
}
