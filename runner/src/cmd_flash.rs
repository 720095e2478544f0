//! `visreg flash BUILD --port P`: refuse bad images before touching the camera, send the
//! camera into its bootloader, write with a progress bar, wait for the new firmware with
//! a visible countdown, and read its version back.

use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use visreg::flash::{flash_camera, FlashDeadlines, FlashEvent};
use visreg::link::{SerialTransport, DEBUG_BAUD};

use crate::cli::FlashArgs;
use crate::cmd_firmware::catalog;
use crate::Outcome;

pub fn run(args: FlashArgs) -> anyhow::Result<Outcome> {
    let (cat, base) = catalog(args.catalog.as_deref())?;
    let build = cat.build(&args.build)?.clone();
    // Everything a camera must not receive is refused here, before the port is opened.
    let writes = build.plan(&base).context("refusing to flash")?;
    let total: u64 = writes.iter().map(|w| w.data.len() as u64).sum();
    let port = crate::cmd_doctor::port_arg(args.port.clone(), args.serial.as_deref())?
        .context("give --port or --serial")?;
    let t = SerialTransport::open(&port, DEBUG_BAUD).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}\n(run `visreg devices` to see the cameras and their ports)",
            port
        )
    })?;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>32} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    let b = bar.clone();
    let events = Arc::new(move |e: FlashEvent| match e {
        FlashEvent::Step(s) => b.println(format!("  {s}")),
        FlashEvent::Waiting { what, left } => b.set_message(format!(
            "waiting for {what}: {:.0} s left",
            left.as_secs_f64().ceil()
        )),
        FlashEvent::Progress(p) => {
            b.set_message(format!("writing {}", p.partition));
            b.set_position(p.done);
        }
    });
    let deadlines = FlashDeadlines {
        write: std::time::Duration::from_secs(args.timeout_s),
        ..FlashDeadlines::default()
    };
    let v = flash_camera(t, &build, &writes, deadlines, &visreg::select::NusbBus, events).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nthe camera may be left in its bootloader: `visreg doctor{0}` tells, `visreg recover{0}` repairs it",
            args.serial.as_deref().map(|s| format!(" --serial {s}")).unwrap_or_default()
        )
    })?;
    bar.finish_and_clear();
    let [a, b, c] = v.version;
    println!(
        "flashed {} onto the camera on {port}: it now reports firmware {a}.{b}.{c} (verified){}",
        build.name,
        if v.port != port {
            format!(", on {}", v.port)
        } else {
            String::new()
        }
    );
    Ok(Outcome::Clean)
}
