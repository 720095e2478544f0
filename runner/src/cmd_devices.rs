//! `visreg devices`: every camera attached, in any state, and the virtual ones.

use std::time::Duration;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use serde::Serialize;
use visreg::client::v1::V1Client;
use visreg::client::v2::{V2Client, V2Options};
use visreg::client::{probe, Probed};
use visreg::discovery::{list_sims, usb_devices};
use visreg::link::{SerialTransport, DEBUG_BAUD};

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
    next_step: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Asks the camera on `port` which protocol and version it runs.
fn ask(port: &str, timeout: Duration) -> Result<(String, String), String> {
    let mut t = SerialTransport::open(port, DEBUG_BAUD).map_err(|e| {
        format!("{port}: {e} (another program, such as the OpenMV IDE, may hold it)")
    })?;
    match probe(&mut t, timeout).map_err(|e| e.to_string())? {
        Probed::V2 => {
            let opts = V2Options {
                packet_timeout: timeout,
                ..V2Options::default()
            };
            let c = V2Client::connect(t, opts).map_err(|e| e.to_string())?;
            let v = c.version.firmware;
            Ok(("v2".into(), format!("{}.{}.{}", v[0], v[1], v[2])))
        }
        Probed::V1(v) => {
            let c = V1Client::connect(t, timeout).map_err(|e| e.to_string())?;
            let _ = c.arch;
            Ok(("v1".into(), format!("{}.{}.{}", v[0], v[1], v[2])))
        }
    }
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
                    next_step: d.identity.next_step.to_string(),
                    error: None,
                };
                if let (Some(port), Some(_), false) = (&d.port, d.identity.protocol, args.no_probe)
                {
                    match ask(port, timeout) {
                        Ok((p, v)) => {
                            row.protocol = Some(p);
                            row.firmware = Some(v);
                        }
                        Err(e) => row.error = Some(e),
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
            next_step: "ready".into(),
            error: None,
        };
        if !args.no_probe {
            match ask(&s.port, timeout) {
                Ok((p, v)) => {
                    row.protocol = Some(p);
                    row.firmware = Some(v);
                }
                Err(e) => row.error = Some(e),
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
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
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
            r.protocol.clone().unwrap_or_else(|| "–".into()),
            r.error
                .clone()
                .map(|e| format!("does not answer: {e}"))
                .unwrap_or_else(|| r.next_step.clone()),
        ]);
    }
    println!("{t}");
    Ok(Outcome::Clean)
}
