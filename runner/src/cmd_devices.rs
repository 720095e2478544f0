//! `visreg devices`: every camera attached, in any state, and the virtual ones.

use std::time::Duration;

use serde::Serialize;
use visreg::discovery::{list_sims, usb_devices};
use visreg_firmware::board::Board;
use visreg_firmware::generation::Generation;

use crate::cli::DevicesArgs;
use crate::Outcome;

/// One line of `visreg devices --json`.
#[derive(Serialize)]
struct Row {
    kind: &'static str,
    vid_pid: Option<String>,
    serial: Option<String>,
    port: Option<String>,
    state: String,
    board: Option<String>,
    firmware: Option<String>,
    protocol: Option<String>,
    /// The bootloader the running firmware's generation has (`cdc-bootloader`,
    /// `openmv-dfu`, `nxp-rom …`), when probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    bootloader: Option<String>,
    next_step: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What a probe of a port found.
struct Probed {
    protocol: String,
    firmware: String,
    /// The bootloader of the firmware's generation on that board, which decides how it is
    /// flashed (4.6 … 4.8.1 speak v1 behind the DFU bootloader).
    bootloader: Option<String>,
}

/// Asks the camera on `port` which protocol and version it runs.
fn ask(
    port: &str,
    timeout: Duration,
    board: Option<Board>,
) -> Result<Probed, visreg::check::CheckError> {
    let id = visreg::check::identify(port, timeout)?;
    let v = id.firmware;
    Ok(Probed {
        protocol: id.protocol.into(),
        firmware: format!("{}.{}.{}", v[0], v[1], v[2]),
        bootloader: id
            .board()
            .or(board)
            .map(|b| Generation::of_version(v).bootloader(b).to_string()),
    })
}

pub fn run(args: DevicesArgs) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut rows = Vec::new();
    match usb_devices() {
        Ok(found) => {
            for d in found {
                let mut row = Row {
                    kind: "usb",
                    vid_pid: Some(format!("{:04X}:{:04X}", d.vid, d.pid)),
                    serial: d.serial.clone(),
                    port: d.port.clone(),
                    state: d.identity.description.clone(),
                    board: d.identity.board.map(|b| b.name().to_string()),
                    firmware: None,
                    protocol: d.identity.protocol.map(str::to_string),
                    bootloader: None,
                    next_step: d.identity.next_step.to_string(),
                    error: None,
                };
                if let (Some(port), true, false) =
                    (&d.port, d.identity.state.runs_firmware(), args.no_probe)
                {
                    match ask(port, timeout, d.identity.board) {
                        Ok(p) => {
                            row.protocol = Some(p.protocol);
                            row.firmware = Some(p.firmware);
                            row.bootloader = p.bootloader;
                        }
                        Err(e) => row.error = Some(e.to_string()),
                    }
                }
                rows.push(row);
            }
        }
        Err(e) => tracing::warn!("{e}; listing virtual cameras only"),
    }
    for s in list_sims() {
        let mut row = Row {
            kind: "virtual",
            vid_pid: None,
            serial: Some(s.serial.clone()),
            port: Some(s.port.clone()),
            state: format!("virtual OpenMV {} (visreg sim, pid {})", s.board, s.pid),
            board: Some(s.board.clone()),
            firmware: Some(s.firmware.clone()),
            protocol: Some(s.protocol.clone()),
            bootloader: None,
            next_step: "ready".into(),
            error: None,
        };
        if !args.no_probe {
            let board = Board::ALL.into_iter().find(|b| b.name() == s.board);
            match ask(&s.port, timeout, board) {
                Ok(p) => {
                    row.protocol = Some(p.protocol);
                    row.firmware = Some(p.firmware);
                    row.bootloader = p.bootloader;
                }
                Err(e) => row.error = Some(e.to_string()),
            }
        }
        rows.push(row);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "devices": rows }))?
        );
        return Ok(Outcome::Clean);
    }
    if rows.is_empty() {
        println!("no camera found: connect one by USB (check the cable carries data), or start a virtual one with `visreg sim`");
        return Ok(Outcome::Clean);
    }
    let mut t = crate::term::table();
    t.set_header([
        "port",
        "USB",
        "serial",
        "state",
        "firmware",
        "protocol",
        "next step",
    ]);
    for r in &rows {
        t.add_row([
            r.port.clone().unwrap_or_else(|| "–".into()),
            r.vid_pid.clone().unwrap_or_else(|| "virtual".into()),
            r.serial.clone().unwrap_or_else(|| "–".into()),
            r.state.clone(),
            r.firmware.clone().unwrap_or_else(|| "–".into()),
            match (&r.protocol, &r.bootloader) {
                (Some(p), Some(b)) => format!("{p} · {b}"),
                (Some(p), None) => p.clone(),
                (None, _) => "–".into(),
            },
            r.error
                .clone()
                .map(|e| format!("does not answer: {e}"))
                .unwrap_or_else(|| r.next_step.clone()),
        ]);
    }
    println!("{t}");
    Ok(Outcome::Clean)
}
