//! The device side of protocol v1 (usbdbg, firmware 4.x), acting on a
//! [`VirtualCamera`]. Host-to-device commands carry data; device-to-host commands are
//! answered with exactly the number of bytes the header asked for.

use crate::device::VirtualCamera;
use crate::v2::{Control, SENSOR_CHIP_ID};
use visreg_firmware::protocol::v1::{cmd, Request, RequestParser};

/// Device-side protocol v1 state.
pub struct V1Device {
    parser: RequestParser,
    locked_frame: Option<Vec<u8>>,
    dump_pos: usize,
    fb_enabled: bool,
}

impl Default for V1Device {
    fn default() -> Self {
        Self::new()
    }
}

impl V1Device {
    /// A device in its power-on state.
    pub fn new() -> Self {
        V1Device {
            parser: RequestParser::new(4 << 20),
            locked_frame: None,
            dump_pos: 0,
            fb_enabled: true,
        }
    }

    /// Forgets a partial request (the firmware's idle timeout).
    pub fn idle_reset(&mut self) {
        self.parser.reset();
    }

    /// Whether a partial request is buffered.
    pub fn has_partial(&self) -> bool {
        self.parser.pending() > 0
    }

    /// Feeds bytes from the host; appends the bytes to send to `out`.
    pub fn on_bytes(&mut self, cam: &mut VirtualCamera, data: &[u8], out: &mut Vec<u8>) -> Control {
        self.parser.push(data);
        let mut control = Control::Continue;
        while let Some(r) = self.parser.next() {
            match r {
                Request::Read { command, length } => {
                    let mut reply = self.read(cam, command, length as usize);
                    reply.resize(length as usize, 0);
                    out.extend_from_slice(&reply);
                }
                Request::Write { command, data } => match command {
                    cmd::SCRIPT_EXEC => cam.exec(&String::from_utf8_lossy(&data)),
                    cmd::SCRIPT_STOP => cam.stop(),
                    cmd::FB_ENABLE => self.fb_enabled = data.first().copied().unwrap_or(1) != 0,
                    cmd::SYS_RESET | cmd::SYS_RESET_TO_BL => {
                        cam.soft_reset();
                        *self = V1Device::new();
                        control = if command == cmd::SYS_RESET_TO_BL {
                            Control::Boot
                        } else {
                            Control::Reset
                        };
                    }
                    _ => {}
                },
                Request::Garbage(_) => {}
            }
        }
        control
    }

    /// v1 has no events; live workloads print to stdout instead (see the camera).
    pub fn on_idle(&mut self, cam: &mut VirtualCamera) {
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
            cmd::SCRIPT_RUNNING => words(&[u32::from(cam.script_running())]),
            cmd::TX_BUF_LEN => words(&[cam.size(crate::device::ids::STDOUT).unwrap_or(0)]),
            cmd::TX_BUF => cam.take_stdout(length),
            cmd::SENSOR_ID => words(&[SENSOR_CHIP_ID]),
            cmd::GET_STATE => {
                let flags = u32::from(cam.script_running())
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
