//! The device side of protocol v1 (usbdbg, firmware 4.x), acting on a
//! [`VirtualCamera`]. Host-to-device commands carry data; device-to-host commands are
//! answered with exactly the number of bytes the header asked for.
//!
//! How the bytes reach usbdbg depends on the board's USB stack ([`Framing`], PROTOCOL.md
//! §2 ✱): the STM32 boards see USB packets (one header per packet, the rest dropped), the
//! TinyUSB boards a FIFO read in 6-byte chunks with no resync. The model is exact where the
//! virtual camera knows the packets: served as a USB device (`visreg sim --usb`, each bulk
//! OUT transfer split at the board's max packet size) and over the in-memory transport
//! (each send is one transfer). A pseudo-terminal does not keep write boundaries — two
//! writes may arrive in one `read()` — so there the STM32 boards fall back to a lenient
//! stream parser ([`Framing::Stream`]): a client that sends a header and its data in one
//! write is caught by the in-memory and USB paths, not by a pty. The TinyUSB FIFO is a
//! stream anyway, so it is exact over a pty too.
//!
//! usbdbg's `script_running` flag is not the VM's state (`src/omv/common/usbdbg.c` v4.5.9,
//! `common/usbdbg.c` v4.8.1): SCRIPT_EXEC sets it as soon as the script is uploaded, a
//! SCRIPT_EXEC while it is set is ignored (`usbdbg_data_out`: `if (!script_running)`), and
//! it clears only when `usbdbg_init` runs in the soft reset after the script ends
//! (`ports/stm32/main.c`, `common/mp_utils.c`) — or at once on SCRIPT_STOP
//! (`usbdbg_interrupt_vm(false)`).

use std::time::{Duration, Instant};

use crate::device::VirtualCamera;
use crate::v2::{Control, SENSOR_CHIP_ID};
use visreg_firmware::board::Board;
use visreg_firmware::catalog::Build;
use visreg_firmware::protocol::v1::{
    cmd, BadChunk, Inbound, Request, RequestParser, Stm32Packets, TinyUsbFifo, Usbdbg,
};

/// How long the virtual camera's soft reset after a script keeps usbdbg's running flag
/// set. A model value, not the firmware's (its soft reset flushes storage, deinitialises
/// and re-initialises the machine; `ports/stm32/main.c`): long enough that a client which
/// does not wait for SCRIPT_RUNNING = 0 meets an ignored SCRIPT_EXEC every time.
pub const SOFT_RESET: Duration = Duration::from_millis(30);

/// The bulk endpoint's max packet size on the board's runtime USB port: 64 bytes at full
/// speed (`CDC_DATA_FS_MAX_PACKET_SIZE`, `ports/stm32/usbdev/class/inc/usbd_cdc_msc_hid.h`
/// at the micropython commit v4.5.9 pins; the STM32 boards run their FS port), 512 at high
/// speed (RT1062, N6: `DEBUG_EP_SIZE`, `common/tinyusb_debug.c` v4.8.1) — the board
/// table's speed ([`Board::usb_packet_size`]).
pub fn max_packet(board: Board) -> usize {
    board.usb_packet_size()
}

/// How the firmware's USB layer frames the host's bytes for usbdbg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// A byte stream, resynchronised on 0x30: what the virtual camera does for an STM32
    /// board where it cannot see packet boundaries (a pseudo-terminal).
    Stream,
    /// STM32: one USB packet at a time, each transfer split at `max_packet`.
    Stm32 {
        /// The endpoint's max packet size.
        max_packet: usize,
    },
    /// TinyUSB (RT1060): a FIFO read in 6-byte header chunks.
    TinyUsb(BadChunk),
}

impl Framing {
    /// The framing of `build`'s board, given whether the link keeps the host's write
    /// boundaries (USB, in-memory) or not (a pseudo-terminal).
    pub fn for_build(build: &Build, keeps_writes: bool) -> Framing {
        match build.board {
            Board::RT1062 => {
                // 4.5.x hangs on a bad chunk, 4.6 and later drop it.
                let v = build.version_triple().unwrap_or([4, 8, 1]);
                Framing::TinyUsb(if (v[0], v[1]) < (4, 6) {
                    BadChunk::Hang
                } else {
                    BadChunk::Drop
                })
            }
            board if keeps_writes => Framing::Stm32 {
                max_packet: max_packet(board),
            },
            _ => Framing::Stream,
        }
    }
}

enum Link {
    Stream(RequestParser),
    Stm32(Stm32Packets, usize),
    TinyUsb(TinyUsbFifo),
}

/// Device-side protocol v1 state.
pub struct V1Device {
    framing: Framing,
    link: Link,
    usbdbg: Usbdbg,
    locked_frame: Option<Vec<u8>>,
    dump_pos: usize,
    fb_enabled: bool,
    /// usbdbg's `script_running`.
    running: bool,
    /// The soft reset after a script's end, until then.
    soft_reset_until: Option<Instant>,
}

impl Default for V1Device {
    fn default() -> Self {
        Self::new(Framing::Stream)
    }
}

impl V1Device {
    /// A device in its power-on state, its input framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        V1Device {
            framing,
            link: match framing {
                Framing::Stream => Link::Stream(RequestParser::new(4 << 20)),
                Framing::Stm32 { max_packet } => Link::Stm32(Stm32Packets::default(), max_packet),
                Framing::TinyUsb(bad) => Link::TinyUsb(TinyUsbFifo::new(bad)),
            },
            usbdbg: Usbdbg::default(),
            locked_frame: None,
            dump_pos: 0,
            fb_enabled: true,
            running: false,
            soft_reset_until: None,
        }
    }

    /// The framing of its input.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The host's bytes went quiet for a second: the stream parser forgets a partial
    /// request, TinyUSB 4.6+ abandons a data phase (`USBDBG_DATA_TIMEOUT`,
    /// `common/tinyusb_debug.c` v4.8.1). The STM32 port has no such timeout: only the
    /// host setting the line coding again ([`V1Device::line_coding`]) ends a data phase.
    pub fn idle_reset(&mut self) {
        match &mut self.link {
            Link::Stream(p) => p.reset(),
            Link::Stm32(..) => return,
            Link::TinyUsb(f) => f.data_timeout(),
        }
        self.usbdbg.reset();
    }

    /// The host set the line coding (opened the port at the debug baud rate):
    /// `usb_cdc_reset_buffers` ends the STM32 port's data phase
    /// (`ports/stm32/usbd_cdc_interface.c`). TinyUSB's line-coding callback keeps its FIFO
    /// and state (`tud_cdc_line_coding_cb`, `common/tinyusb_debug.c` v4.8.1).
    pub fn line_coding(&mut self) {
        if let Link::Stm32(link, _) = &mut self.link {
            link.reset();
            self.usbdbg.reset();
        }
    }

    /// Whether a partial request is buffered.
    pub fn has_partial(&self) -> bool {
        match &self.link {
            Link::Stream(p) => p.pending() > 0,
            Link::Stm32(l, _) => l.in_data_phase(),
            Link::TinyUsb(f) => f.in_data_phase(),
        }
    }

    /// Whether the firmware hangs (a 4.5.x TinyUSB camera sent a chunk that is not a
    /// header): nothing answers until it is power-cycled.
    pub fn hung(&self) -> bool {
        matches!(&self.link, Link::TinyUsb(f) if f.hung())
    }

    /// usbdbg's running flag, as SCRIPT_RUNNING reports it.
    pub fn script_running(&mut self, cam: &VirtualCamera) -> bool {
        self.tick(cam);
        self.running
    }

    /// Moves usbdbg's flag along with the VM: a script that ended starts the soft reset,
    /// whose end clears the flag (`usbdbg_init`).
    fn tick(&mut self, cam: &VirtualCamera) {
        let now = Instant::now();
        match self.soft_reset_until {
            Some(t) if now >= t => {
                self.soft_reset_until = None;
                self.running = false;
            }
            Some(_) => {}
            None if self.running && !cam.script_running() => {
                self.soft_reset_until = Some(now + SOFT_RESET);
            }
            None => {}
        }
    }

    /// Feeds bytes from the host — one write (transfer) of them — and appends the bytes
    /// to send to `out`.
    pub fn on_bytes(&mut self, cam: &mut VirtualCamera, data: &[u8], out: &mut Vec<u8>) -> Control {
        self.tick(cam);
        let mut requests = Vec::new();
        match &mut self.link {
            Link::Stream(p) => {
                p.push(data);
                while let Some(r) = p.next() {
                    requests.push(r);
                }
            }
            Link::Stm32(link, max_packet) => {
                for packet in data.chunks(*max_packet) {
                    for i in link.packet(packet) {
                        requests.extend(self.usbdbg.feed(i));
                    }
                }
            }
            Link::TinyUsb(f) => {
                f.push(data);
                while let Some(i) = f.next() {
                    if i == Inbound::Fatal {
                        tracing::warn!("a 6-byte chunk that is not a usbdbg header: the 4.5.x TinyUSB firmware hangs in __fatal_error until power-cycled");
                    }
                    requests.extend(self.usbdbg.feed(i));
                }
            }
        }
        let mut control = Control::Continue;
        for r in requests {
            match r {
                Request::Read { command, length } => {
                    let mut reply = self.read(cam, command, length as usize);
                    reply.resize(length as usize, 0);
                    out.extend_from_slice(&reply);
                }
                Request::Write { command, data } => match command {
                    cmd::SCRIPT_EXEC if self.running => {
                        tracing::debug!("SCRIPT_EXEC while a script runs: ignored, as usbdbg does");
                    }
                    cmd::SCRIPT_EXEC => {
                        self.running = true;
                        cam.exec(&String::from_utf8_lossy(&data));
                    }
                    // Ignored unless a script runs (`if (script_running)`).
                    cmd::SCRIPT_STOP if self.running => {
                        // `usb_cdc_reset_buffers` drops unread stdout; the flag clears at
                        // once.
                        cam.stop();
                        cam.take_stdout(usize::MAX);
                        self.running = false;
                        self.soft_reset_until = None;
                    }
                    cmd::FB_ENABLE => self.fb_enabled = data.first().copied().unwrap_or(1) != 0,
                    cmd::SYS_RESET | cmd::SYS_RESET_TO_BL => {
                        cam.soft_reset();
                        *self = V1Device::new(self.framing);
                        control = if command == cmd::SYS_RESET_TO_BL {
                            Control::Boot
                        } else {
                            Control::Reset
                        };
                    }
                    _ => {}
                },
                Request::Garbage(n) => tracing::debug!("usbdbg: {n} bytes dropped"),
            }
        }
        control
    }

    /// v1 has no events; live workloads print to stdout instead (see the camera).
    pub fn on_idle(&mut self, cam: &mut VirtualCamera) {
        self.tick(cam);
        cam.take_events();
    }

    fn read(&mut self, cam: &mut VirtualCamera, command: u8, length: usize) -> Vec<u8> {
        let words = |w: &[u32]| -> Vec<u8> { w.iter().flat_map(|x| x.to_le_bytes()).collect() };
        match command {
            cmd::FW_VERSION => {
                let v = cam.version();
                words(&[u32::from(v[0]), u32::from(v[1]), u32::from(v[2])])
            }
            cmd::ARCH_STR => {
                // `usbdbg.c` (v4.5.9, v4.8.1): "%s [%s:%08X%08X%08X]" of OMV_BOARD_ARCH,
                // OMV_BOARD_TYPE (`H7` on the H7 Plus too) and the unique id's words 2, 1, 0.
                format!(
                    "{} [{}:{}]",
                    cam.board().arch(),
                    cam.board().board_type(),
                    visreg_firmware::serial::arch_uid(cam.uid())
                )
                .into_bytes()
            }
            cmd::FRAME_SIZE => match (self.fb_enabled, cam.framebuffer_v1()) {
                (true, Some((w, h, px, size))) => {
                    self.locked_frame = Some(px);
                    self.dump_pos = 0;
                    words(&[w, h, size])
                }
                _ => words(&[0, 0, 0]),
            },
            cmd::FRAME_DUMP => {
                let Some(frame) = &self.locked_frame else {
                    return Vec::new();
                };
                let end = (self.dump_pos + length).min(frame.len());
                let chunk = frame[self.dump_pos..end].to_vec();
                self.dump_pos = end;
                if self.dump_pos >= frame.len() {
                    self.locked_frame = None;
                }
                chunk
            }
            cmd::SCRIPT_RUNNING => words(&[u32::from(self.running)]),
            cmd::TX_BUF_LEN => words(&[cam.size(crate::device::ids::STDOUT).unwrap_or(0)]),
            cmd::TX_BUF => cam.take_stdout(length),
            cmd::SENSOR_ID => words(&[SENSOR_CHIP_ID]),
            cmd::GET_STATE => {
                let flags = u32::from(self.running)
                    | (u32::from(cam.size(crate::device::ids::STDOUT).unwrap_or(0) > 0) << 1)
                    | (u32::from(self.locked_frame.is_some()) << 2);
                let (w, h, size) = cam
                    .framebuffer_v1()
                    .map(|(w, h, _, s)| (w, h, s))
                    .unwrap_or((0, 0, 0));
                let mut b = words(&[flags, w, h, size]);
                let text = cam.take_stdout(length.saturating_sub(17));
                b.extend_from_slice(&text);
                b.push(0);
                b
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visreg_firmware::catalog::Catalog;
    use visreg_firmware::protocol::v1::Header;

    fn camera(board: Board, version: &str) -> VirtualCamera {
        let mut b = Catalog::builtin().build("4.5.9").unwrap().clone();
        b.board = board;
        b.version = version.into();
        VirtualCamera::new(b, None, 1).unwrap()
    }

    fn header(command: u8, length: u32) -> Vec<u8> {
        Header { command, length }.encode().to_vec()
    }

    fn read(dev: &mut V1Device, cam: &mut VirtualCamera, command: u8, length: u32) -> Vec<u8> {
        let mut out = Vec::new();
        dev.on_bytes(cam, &header(command, length), &mut out);
        out
    }

    fn running(dev: &mut V1Device, cam: &mut VirtualCamera) -> u32 {
        let r = read(dev, cam, cmd::SCRIPT_RUNNING, 4);
        u32::from_le_bytes([r[0], r[1], r[2], r[3]])
    }

    fn stdout(dev: &mut V1Device, cam: &mut VirtualCamera) -> String {
        let n = read(dev, cam, cmd::TX_BUF_LEN, 4);
        let n = u32::from_le_bytes([n[0], n[1], n[2], n[3]]);
        String::from_utf8_lossy(&read(dev, cam, cmd::TX_BUF, n)).into_owned()
    }

    fn exec(dev: &mut V1Device, cam: &mut VirtualCamera, script: &str) {
        let mut out = Vec::new();
        dev.on_bytes(
            cam,
            &header(cmd::SCRIPT_EXEC, script.len() as u32),
            &mut out,
        );
        dev.on_bytes(cam, script.as_bytes(), &mut out);
    }

    fn await_idle(dev: &mut V1Device, cam: &mut VirtualCamera) {
        let t0 = Instant::now();
        while running(dev, cam) != 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(2),
                "the flag never cleared"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn the_stm32_boards_take_packets_the_rt1062_a_fifo_a_pty_a_stream() {
        let b = camera(Board::H7Plus, "4.5.9").build().clone();
        assert_eq!(
            Framing::for_build(&b, true),
            Framing::Stm32 { max_packet: 64 }
        );
        assert_eq!(Framing::for_build(&b, false), Framing::Stream);
        let rt = camera(Board::RT1062, "4.8.1").build().clone();
        assert_eq!(
            Framing::for_build(&rt, false),
            Framing::TinyUsb(BadChunk::Drop)
        );
        let rt = camera(Board::RT1062, "4.5.9").build().clone();
        assert_eq!(
            Framing::for_build(&rt, true),
            Framing::TinyUsb(BadChunk::Hang)
        );
    }

    #[test]
    fn stm32_a_script_sent_with_its_header_in_one_packet_is_lost() {
        let mut cam = camera(Board::H7Plus, "4.5.9");
        let mut dev = V1Device::new(Framing::Stm32 { max_packet: 64 });
        let script = "print('hi')\n";
        let mut one = header(cmd::SCRIPT_EXEC, script.len() as u32);
        one.extend_from_slice(script.as_bytes());
        let mut out = Vec::new();
        dev.on_bytes(&mut cam, &one, &mut out);
        assert!(out.is_empty());
        // The port now waits for the script as data: the next header is eaten as data,
        // the request never answered.
        assert!(read(&mut dev, &mut cam, cmd::FW_VERSION, 12).is_empty());
        assert!(!cam.script_running());
        // Opening the port again (SET_LINE_CODING) ends the data phase; the script never ran.
        dev.line_coding();
        assert_eq!(running(&mut dev, &mut cam), 0);
        assert_eq!(stdout(&mut dev, &mut cam), "");
        // Header and script in packets of their own: it runs.
        exec(&mut dev, &mut cam, script);
        assert!(stdout(&mut dev, &mut cam).contains("hi"));
    }

    #[test]
    fn stm32_a_long_script_arrives_in_64_byte_packets() {
        let mut cam = camera(Board::H7, "4.5.9");
        let mut dev = V1Device::new(Framing::Stm32 { max_packet: 64 });
        let script: String = (0..20).map(|i| format!("print('line {i}')\n")).collect();
        assert!(script.len() > 3 * 64);
        exec(&mut dev, &mut cam, &script);
        let out = stdout(&mut dev, &mut cam);
        assert!(out.contains("line 0") && out.contains("line 19"), "{out}");
    }

    #[test]
    fn script_exec_is_ignored_until_the_soft_reset_after_the_last_script() {
        let mut cam = camera(Board::H7Plus, "4.5.9");
        let mut dev = V1Device::new(Framing::Stm32 { max_packet: 64 });
        exec(&mut dev, &mut cam, "print('one')\n");
        // The script has ended; the flag stays set through the soft reset.
        assert!(!cam.script_running());
        assert_eq!(running(&mut dev, &mut cam), 1);
        exec(&mut dev, &mut cam, "print('two')\n");
        await_idle(&mut dev, &mut cam);
        exec(&mut dev, &mut cam, "print('three')\n");
        let out = stdout(&mut dev, &mut cam);
        assert!(out.contains("one") && out.contains("three"), "{out}");
        assert!(
            !out.contains("two"),
            "an exec during a script must be ignored: {out}"
        );
    }

    #[test]
    fn script_stop_clears_the_flag_at_once_and_drops_unread_stdout() {
        let mut cam = camera(Board::H7Plus, "4.5.9");
        let mut dev = V1Device::new(Framing::Stream);
        exec(&mut dev, &mut cam, "print('unread')\n");
        assert_eq!(running(&mut dev, &mut cam), 1);
        let mut out = Vec::new();
        dev.on_bytes(&mut cam, &header(cmd::SCRIPT_STOP, 0), &mut out);
        assert_eq!(running(&mut dev, &mut cam), 0);
        assert_eq!(stdout(&mut dev, &mut cam), "");
    }

    #[test]
    fn tinyusb_a_v2_sync_puts_the_fifo_out_of_step_for_good() {
        let mut cam = camera(Board::RT1062, "4.8.1");
        let mut dev = V1Device::new(Framing::TinyUsb(BadChunk::Drop));
        // Header and data in one write are fine on a FIFO.
        let mut one = header(cmd::SCRIPT_EXEC, 12);
        one.extend_from_slice(b"print('hi')\n");
        let mut out = Vec::new();
        dev.on_bytes(&mut cam, &one, &mut out);
        assert!(stdout(&mut dev, &mut cam).contains("hi"));
        assert_eq!(read(&mut dev, &mut cam, cmd::FW_VERSION, 12).len(), 12);
        dev.on_bytes(
            &mut cam,
            &[0xAA, 0xD5, 0, 0, 0, 0, 0, 0, 0xB0, 0xAC],
            &mut out,
        );
        for _ in 0..3 {
            assert!(read(&mut dev, &mut cam, cmd::FW_VERSION, 12).is_empty());
        }
        // Not even an idle second brings it back: the data timeout does not realign.
        dev.idle_reset();
        assert!(read(&mut dev, &mut cam, cmd::FW_VERSION, 12).is_empty());
    }

    #[test]
    fn tinyusb_4_5_hangs_on_a_v2_sync() {
        let mut cam = camera(Board::RT1062, "4.5.9");
        let mut dev = V1Device::new(Framing::TinyUsb(BadChunk::Hang));
        let mut out = Vec::new();
        dev.on_bytes(
            &mut cam,
            &[0xAA, 0xD5, 0, 0, 0, 0, 0, 0, 0xB0, 0xAC],
            &mut out,
        );
        assert!(dev.hung());
        assert!(read(&mut dev, &mut cam, cmd::FW_VERSION, 12).is_empty());
    }
}
