//! `visreg flash BUILD --port P | --serial S`: refuse bad images before touching the
//! camera, send the camera into its bootloader (or find it waiting there), write with a
//! progress bar, follow the camera back to its firmware with a visible countdown, and read
//! its version back.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use visreg::flash::{flash_camera, flash_over_usb, FlashDeadlines, FlashEvent, Flashed};
use visreg::link::{SerialTransport, DEBUG_BAUD};
use visreg::select::{locate, CameraSelector, Located, NusbBus, Track};

use crate::cli::FlashArgs;
use crate::cmd_firmware::catalog;
use crate::Outcome;

pub fn run(args: FlashArgs) -> anyhow::Result<Outcome> {
    let (cat, base) = catalog(args.catalog.as_deref())?;
    let build = cat.build(&args.build)?.clone();
    // Everything a camera must not receive is refused here, before the port is opened.
    build.check_flasher()?;
    let writes = build.plan(&base).context("refusing to flash")?;
    let total: u64 = writes.iter().map(|w| w.data.len() as u64).sum();
    let sel = CameraSelector::from_flags(args.port.as_deref(), args.serial.as_deref())
        .context("give --port or --serial")?;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>32} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    // The write phase's own time: from the step that starts the writes (opening the
    // bootloader's interface included) to the last block.
    let writing: Arc<Mutex<Option<(Instant, Instant)>>> = Arc::default();
    let last_step = Arc::new(Mutex::new(Instant::now()));
    let (b, w, ls) = (bar.clone(), writing.clone(), last_step.clone());
    let events = Arc::new(move |e: FlashEvent| match e {
        FlashEvent::Step(s) => {
            *ls.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            // Without a terminal the bar draws nothing: the steps still go to the log.
            if b.is_hidden() {
                eprintln!("  {s}")
            } else {
                b.println(format!("  {s}"))
            }
        }
        FlashEvent::Waiting { what, left } => b.set_message(format!(
            "waiting for {what}: {:.0} s left",
            left.as_secs_f64().ceil()
        )),
        FlashEvent::Progress(p) => {
            let now = Instant::now();
            let start = *ls.lock().unwrap_or_else(|p| p.into_inner());
            let mut g = w.lock().unwrap_or_else(|p| p.into_inner());
            *g = Some((g.map_or(start, |(t0, _)| t0), now));
            b.set_message(format!("writing {}", p.partition));
            b.set_position(p.done);
        }
    });
    let deadlines = FlashDeadlines {
        write: std::time::Duration::from_secs(args.timeout_s),
        ..FlashDeadlines::default()
    };
    // How to name this camera again once it is in its bootloader: a USB camera's tty is
    // gone then, its serial is not; a pseudo-terminal stays.
    let hint = match (&args.serial, &args.port) {
        (Some(s), _) => format!(" --serial {s}"),
        (None, Some(p)) if visreg::select::port_path_of_tty(p).is_none() => format!(" --port {p}"),
        _ => String::new(),
    };
    let done: Flashed = match locate(&sel, &NusbBus) {
        Located::Port(port) => {
            let t = SerialTransport::open(&port, DEBUG_BAUD).map_err(|e| {
                anyhow::anyhow!("{port}: {e}\n(run `visreg devices` to see the cameras and their ports)")
            })?;
            flash_camera(t, &build, &writes, deadlines, &NusbBus, events)
        }
        // Already waiting in its DFU bootloader (sent there, or an interrupted update).
        Located::Usb(dev, _) => {
            let track = Track::of_dfu_device(&dev);
            flash_over_usb(&dev, &build, &writes, deadlines, &NusbBus, &track, &(events as _))
        }
        Located::NotFound(what) => {
            anyhow::bail!("{what} (`visreg devices` lists every camera in every state)")
        }
    }
    .map_err(|e| {
        // A refusal before the first write leaves the camera running what it ran.
        if matches!(e, visreg::flash::FlashError::Refused(_)) {
            anyhow::anyhow!("{e}")
        } else {
            anyhow::anyhow!(
                "{e}\nthe camera may be left in its bootloader: `visreg doctor{hint}` tells, `visreg recover{hint}` repairs it"
            )
        }
    })?;
    bar.finish_and_clear();
    let [a, b, c] = done.version;
    println!(
        "flashed {} onto {sel}: it now reports firmware {a}.{b}.{c} (verified), on {}",
        build.name, done.port
    );
    if let Some((t0, t1)) = *writing.lock().unwrap_or_else(|p| p.into_inner()) {
        let s = (t1 - t0).as_secs_f64();
        println!(
            "wrote {total} bytes in {s:.2} s ({:.0} KiB/s)",
            total as f64 / 1024.0 / s.max(1e-9)
        );
    }
    Ok(Outcome::Clean)
}
