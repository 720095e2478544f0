//! Labs: an inventory of cameras (`lab.toml`) and one worker per camera, each running the
//! ordinary run (flash, measure, score, store) on its own camera with a health check
//! before each build. A camera that fails its health check or errors is power-cycled once
//! (its `power_cycle` command, or a restart for a virtual camera), then quarantined for
//! the rest of the lab run: an infrastructure failure, reported apart from regressions.
//! Workers report what happens to their cameras as values ([`LabEvent`]) and as
//! append-only rows in the store (`camera_events`), which `visreg lab status` reads.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use visreg_firmware::board::Board;
use visreg_firmware::catalog::{Build, Catalog};
use visreg_firmware::transport::PtyDevice;
use visreg_reports::store::{now_unix_s, CameraEvent, RunRecord, RunStatus, Store};
use visreg_reports::HostInfo;
use visreg_sim::bootloader::DfuTiming;
use visreg_sim::faults::FaultSpec;
use visreg_sim::launch::{LaunchError, ServedCamera};
use visreg_sim::unit::VirtualUnit;

use crate::check::{health_check, HEALTH_DEADLINE};
use crate::run::{execute, verdicts, RunError, RunEvent, RunPlan, VerdictEntry};

/// The inventory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabFile {
    /// The lab's name (for reports).
    #[serde(default)]
    pub name: Option<String>,
    /// Its cameras.
    #[serde(rename = "camera", default)]
    pub cameras: Vec<LabCamera>,
}

/// One camera of the lab.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabCamera {
    /// A name unique in the lab (used in run ids, reports and `lab status`).
    pub name: String,
    /// Its board.
    pub board: Board,
    /// Found by USB serial number (survives re-enumeration: preferred).
    #[serde(default)]
    pub serial: Option<String>,
    /// Or by port path (`/dev/ttyACM0`, `/dev/serial/by-id/…`).
    #[serde(default)]
    pub port: Option<String>,
    /// Or a virtual camera started by the worker.
    #[serde(default)]
    pub sim: bool,
    /// A command that power-cycles the camera (run with `sh -c`, 60 s deadline), e.g.
    /// `uhubctl -l 1-1 -p 2 -a cycle`.
    #[serde(default)]
    pub power_cycle: Option<String>,
    /// The rig in front of the camera, for live mode.
    #[serde(default)]
    pub fixture: Option<Fixture>,
    /// Virtual camera only: faults on demand (`visreg sim --faults` syntax).
    #[serde(default)]
    pub sim_faults: Option<String>,
    /// Virtual camera only: after its fault it stays dead, power cycle or not (a camera
    /// that has failed for good).
    #[serde(default)]
    pub sim_dies: bool,
}

/// A printed target at a measured pose in front of a camera.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Tag family of the target (`tag36h11`).
    pub family: String,
    /// Tag ids on the target.
    pub ids: Vec<u32>,
    /// Printed tag size (black border edge), millimetres.
    pub size_mm: f64,
    /// Measured distance from the camera to the target's centre, metres.
    pub distance_m: f64,
    /// Measured rotation of the target about the camera's vertical axis, degrees.
    #[serde(default)]
    pub yaw_deg: f64,
    /// Measured rotation about the horizontal axis, degrees.
    #[serde(default)]
    pub pitch_deg: f64,
    /// Paper the sheet is printed on: `a4` (default) or `letter`.
    #[serde(default)]
    pub paper: Option<String>,
}

impl Fixture {
    /// The rig as the renderer knows it (the camera capturing QVGA gray, as the live
    /// workload sets it).
    pub fn spec(&self) -> Result<visreg_datasets::fixture::FixtureSpec, LabError> {
        use visreg_datasets::target::Paper;
        Ok(visreg_datasets::fixture::FixtureSpec {
            family: self
                .family
                .parse()
                .map_err(|_| LabError::UnknownFamily(self.family.clone()))?,
            ids: self.ids.clone(),
            size_mm: self.size_mm,
            paper: match self.paper.as_deref().unwrap_or("a4") {
                "a4" | "A4" => Paper::A4,
                "letter" | "Letter" => Paper::Letter,
                other => return Err(LabError::Paper(other.into())),
            },
            distance_m: self.distance_m,
            yaw_deg: self.yaw_deg,
            pitch_deg: self.pitch_deg,
            width: 320,
            height: 240,
        })
    }

    /// The rig rendered as a dataset (cached by its parameters under
    /// `$VISREG_CACHE_DIR/fixtures/`), for camera `name`.
    pub fn dataset(&self, name: &str, seed: u64) -> Result<visreg_datasets::Dataset, LabError> {
        let spec = self.spec()?;
        let key = fnv1a(
            0xcbf2_9ce4_8422_2325,
            &format!("{spec:?}{seed}{FIXTURE_FRAMES}"),
        );
        let dir = visreg_datasets::cache::cache_root()
            .join("fixtures")
            .join(format!("{name}-{key:016x}"));
        if let Ok(ds) = visreg_datasets::Dataset::open(&dir) {
            return Ok(ds);
        }
        visreg_datasets::fixture::generate_fixture(
            &spec,
            &format!("fixture-{name}"),
            FIXTURE_FRAMES,
            seed,
            &dir,
            &|_| {},
        )
        .map_err(LabError::Fixture)
    }
}

/// Errors of a lab: in `lab.toml` (naming the file and the camera), in rendering a
/// camera's fixture, in reaching or power-cycling a camera, and a camera's run failing.
/// Errors whose message already shows their cause are not chained to it (`{:#}` would
/// say it twice).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The file could not be read.
    #[error("{path}: cannot read the lab inventory (see lab.example.toml for one)")]
    Read {
        /// Which file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML or not the inventory's shape.
    #[error("{path}: {message}")]
    Parse {
        /// Which file.
        path: String,
        /// TOML's message (with line and column).
        message: String,
    },
    /// A camera entry is inconsistent.
    #[error("{path}: camera '{camera}': {message}")]
    Camera {
        /// Which file.
        path: String,
        /// Which camera.
        camera: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A fixture's tag family is not one the renderer knows.
    #[error("unknown tag family '{0}'")]
    UnknownFamily(String),
    /// A fixture's paper is not a4 or letter.
    #[error("paper '{0}': a4 or letter")]
    Paper(String),
    /// A fixture could not be rendered as a dataset.
    #[error("{0}")]
    Fixture(visreg_datasets::fixture::FixtureError),
    /// A dataset's content could not be hashed.
    #[error("{0}")]
    Dataset(visreg_datasets::DatasetError),
    /// A virtual camera could not be made.
    #[error(transparent)]
    Sim(#[from] visreg_sim::device::SimError),
    /// A virtual camera's `sim_faults` do not parse.
    #[error(transparent)]
    Faults(#[from] visreg_sim::faults::FaultSpecError),
    /// A virtual camera could not be started (or restarted).
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The camera named by serial waits in its bootloader.
    #[error("{0}: the camera waits in its bootloader (no serial port)")]
    InBootloader(String),
    /// The camera named by serial is not attached (the selector says what it looked for).
    #[error("{0}")]
    NotFound(String),
    /// The camera entry names neither a serial nor a port.
    #[error("no serial or port")]
    NoPort,
    /// The camera has no power switch.
    #[error("no power_cycle command in lab.toml: retried once without one")]
    NoPowerCycle,
    /// The power-cycle command could not be started.
    #[error("`{cmd}`: {error}")]
    PowerCycleSpawn {
        /// The command.
        cmd: String,
        /// Why.
        error: std::io::Error,
    },
    /// The power-cycle command failed.
    #[error("`{cmd}` failed ({status}){}", said(.output))]
    PowerCycleFailed {
        /// The command.
        cmd: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its last lines of output, printable.
        output: String,
    },
    /// The power-cycle command did not finish in time (killed with its children).
    #[error("`{cmd}` did not finish within {} s (killed with its children){}", .deadline.as_secs(), said(.output))]
    PowerCycleTimeout {
        /// The command.
        cmd: String,
        /// Its deadline.
        deadline: Duration,
        /// Its last lines of output, printable.
        output: String,
    },
    /// Waiting for the power-cycle command failed.
    #[error("`{cmd}` {error}{}", said(.output))]
    PowerCycleWait {
        /// The command.
        cmd: String,
        /// Why.
        error: std::io::Error,
        /// Its last lines of output, printable.
        output: String,
    },
    /// The camera's run failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

impl From<visreg_reports::store::StoreError> for LabError {
    fn from(e: visreg_reports::store::StoreError) -> Self {
        LabError::Run(RunError::Store(e))
    }
}

/// A command's output as a message tail: `: OUTPUT`, or nothing.
fn said(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output}")
    }
}

impl LabFile {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Read {
            path: p.clone(),
            source,
        })?;
        Self::parse(&text, &p)
    }

    /// Parses and validates an inventory (`path` names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<Self, LabError> {
        let lab: LabFile = toml::from_str(text).map_err(|e| LabError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        if lab.cameras.is_empty() {
            return Err(LabError::Parse {
                path: path.into(),
                message: "no [[camera]] entries: a lab needs at least one camera".into(),
            });
        }
        let mut names = std::collections::HashSet::new();
        for c in &lab.cameras {
            let bad = |message: &str| LabError::Camera {
                path: path.into(),
                camera: c.name.clone(),
                message: message.into(),
            };
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
            {
                return Err(bad("a name is letters, digits, '-' and '_' (it goes into run ids and folder names)"));
            }
            if !names.insert(c.name.clone()) {
                return Err(bad("the name is used twice"));
            }
            let ways = usize::from(c.serial.is_some())
                + usize::from(c.port.is_some())
                + usize::from(c.sim);
            if ways != 1 {
                return Err(bad(
                    "give exactly one of serial = \"…\", port = \"…\" or sim = true",
                ));
            }
            if !c.sim && (c.sim_faults.is_some() || c.sim_dies) {
                return Err(bad(
                    "sim_faults and sim_dies apply to virtual cameras (sim = true) only",
                ));
            }
            if let Some(f) = &c.sim_faults {
                f.parse::<FaultSpec>()
                    .map_err(|e| bad(&format!("sim_faults: {e}")))?;
            }
            if let Some(f) = &c.fixture {
                let spec = f.spec().map_err(|e| bad(&format!("fixture: {e}")))?;
                spec.placements()
                    .map_err(|e| bad(&format!("fixture: {e}")))?;
                if !(f.size_mm > 0.0 && f.distance_m > 0.0) || f.ids.is_empty() {
                    return Err(bad(
                        "fixture: size_mm and distance_m must be positive and ids not empty",
                    ));
                }
            }
        }
        Ok(lab)
    }

    /// The cameras on `boards` (`h7plus`, `H7 Plus`, … — case and spaces ignored), or all.
    pub fn select(&self, boards: Option<&str>) -> Vec<LabCamera> {
        let norm = |s: &str| s.replace([' ', '-', '_'], "").to_ascii_lowercase();
        self.cameras
            .iter()
            .filter(|c| {
                boards.is_none_or(|list| list.split(',').any(|b| norm(b) == norm(c.board.name())))
            })
            .cloned()
            .collect()
    }
}

/// What happens to a camera, as it happens.
#[derive(Clone, Debug, PartialEq)]
pub enum LabEvent {
    /// A state change: `healthy`, `error`, `power-cycled`, `quarantined`, `done`, ….
    State {
        /// Camera name.
        camera: String,
        /// New state.
        state: String,
        /// In plain words.
        detail: String,
    },
    /// Progress of its run.
    Run {
        /// Camera name.
        camera: String,
        /// The run's own event.
        event: RunEvent,
    },
}

/// How a camera's part of the lab run ended.
#[derive(Clone, Debug)]
pub enum CameraOutcome {
    /// Measured and judged.
    Done {
        /// Its run id.
        run_id: String,
        /// Its verdicts.
        verdicts: Vec<VerdictEntry>,
        /// The dataset it measured (its fixture's, in live mode).
        dataset: Box<visreg_datasets::Dataset>,
    },
    /// Failed its health check or errored after a power cycle: an infrastructure failure.
    Quarantined {
        /// Its run id.
        run_id: String,
        /// Why.
        reason: String,
    },
    /// Stopped by Ctrl-C.
    Interrupted {
        /// Its run id.
        run_id: String,
    },
    /// No build of the plan is for its board.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// FNV-1a of `text` from `basis`: a stable hash for cache keys and seeds.
fn fnv1a(basis: u64, text: &str) -> u64 {
    visreg_datasets::hash::fnv1a(basis, text.as_bytes())
}

/// A virtual camera a worker runs on a pseudo-terminal, with a power switch.
struct SimCamera {
    unit: Arc<VirtualUnit>,
    dies: bool,
    // How serving ends shows to the worker as a vanished port.
    served: Option<ServedCamera>,
    // A dead camera's port: open, never answered.
    dead_port: Option<PtyDevice>,
    port: String,
}

impl SimCamera {
    fn start(unit: VirtualUnit, faults: FaultSpec, dies: bool) -> Result<Self, LaunchError> {
        let unit = Arc::new(unit);
        let served = ServedCamera::pty(unit.clone(), faults)?;
        Ok(SimCamera {
            unit,
            dies,
            port: served.port().to_string(),
            served: Some(served),
            dead_port: None,
        })
    }

    /// Cuts the power and restores it: the one-off fault is gone, unless the camera
    /// dies for good — then its port answers nothing.
    fn power_cycle(&mut self) -> Result<(), LaunchError> {
        if let Some(s) = self.served.take() {
            s.stop();
        }
        if self.dies {
            let pty = PtyDevice::open().map_err(LaunchError::Pty)?;
            self.port = pty.path().display().to_string();
            self.dead_port = Some(pty);
            return Ok(());
        }
        let served = ServedCamera::pty(self.unit.clone(), FaultSpec::default())?;
        self.port = served.port().to_string();
        self.served = Some(served);
        Ok(())
    }
}

/// How a worker reaches its camera.
enum Link {
    Real {
        serial: Option<String>,
        port: Option<String>,
        power_cycle: Option<String>,
    },
    Sim(SimCamera),
}

impl Link {
    fn port(&self) -> Result<String, LabError> {
        match self {
            Link::Real {
                serial: Some(s), ..
            } => match crate::select::locate(
                &crate::select::CameraSelector::Serial(s.clone()),
                &crate::select::NusbBus,
            ) {
                crate::select::Located::Port(p) => Ok(p),
                crate::select::Located::Usb(dev, _) => Err(LabError::InBootloader(dev.describe())),
                crate::select::Located::NotFound(what) => Err(LabError::NotFound(what)),
            },
            Link::Real { port: Some(p), .. } => Ok(p.clone()),
            Link::Real { .. } => Err(LabError::NoPort),
            Link::Sim(s) => Ok(s.port.clone()),
        }
    }

    /// Power-cycles the camera, calling `tick` with the time left while it waits; says
    /// how, or why it could not.
    fn power_cycle(&mut self, tick: &dyn Fn(Duration)) -> Result<String, LabError> {
        match self {
            Link::Sim(s) => s
                .power_cycle()
                .map(|_| "virtual camera restarted".to_string())
                .map_err(LabError::Launch),
            Link::Real {
                power_cycle: Some(cmd),
                ..
            } => run_with_deadline(cmd, Duration::from_secs(60), tick).map(|out| {
                if out.is_empty() {
                    format!("ran `{cmd}`")
                } else {
                    format!("ran `{cmd}`: {out}")
                }
            }),
            Link::Real {
                power_cycle: None, ..
            } => {
                // Without a switch, give the camera the time a USB re-enumeration takes.
                std::thread::sleep(Duration::from_secs(2));
                Err(LabError::NoPowerCycle)
            }
        }
    }
}

/// How often a long power cycle reports that it is still waiting.
const POWER_CYCLE_TICK: Duration = Duration::from_secs(5);

/// Runs `cmd` with `sh -c` in a process group of its own, reading its output as it comes
/// (a command that writes more than a pipe holds must not block on it), calling `tick`
/// with the time left every few seconds, and killing the whole group at `deadline` (a
/// relay script's children must not outlive it). Returns the output, trimmed to its last
/// lines, or why it failed with that output.
fn run_with_deadline(
    cmd: &str,
    deadline: Duration,
    tick: &dyn Fn(Duration),
) -> Result<String, LabError> {
    use std::io::Read;
    let mut c = Command::new("sh");
    c.args(["-c", cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let mut child = c.spawn().map_err(|error| LabError::PowerCycleSpawn {
        cmd: cmd.into(),
        error,
    })?;
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        let output = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut o = output.lock().unwrap_or_else(|p| p.into_inner());
                o.push_str(&String::from_utf8_lossy(&buf[..n]));
                // Keep the tail: what a failing relay says last is what matters.
                if o.len() > 16 * 1024 {
                    let cut = o.len() - 8 * 1024;
                    let cut = (cut..o.len())
                        .find(|&i| o.is_char_boundary(i))
                        .unwrap_or(cut);
                    o.drain(..cut);
                }
            }
        })
    })
    .collect();
    let t0 = Instant::now();
    let until = t0 + deadline;
    let mut next_tick = t0 + POWER_CYCLE_TICK;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Ok(st),
            Ok(None) if Instant::now() > until => {
                #[cfg(unix)]
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = child.kill();
                let _ = child.wait();
                break Err(None);
            }
            Ok(None) => {
                if Instant::now() >= next_tick {
                    tick(until.saturating_duration_since(Instant::now()));
                    next_tick += POWER_CYCLE_TICK;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => break Err(Some(e)),
        }
    };
    // The group is gone; its pipes close and the readers finish.
    for r in readers {
        let _ = r.join();
    }
    let out = output.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // Its last lines, each made printable (a relay's output reaches the terminal).
    let mut last: Vec<String> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(5)
        .map(crate::discovery::printable)
        .collect();
    last.reverse();
    let output = last.join(" / ");
    let cmd = cmd.to_string();
    match status {
        Ok(st) if st.success() => Ok(output),
        Ok(status) => Err(LabError::PowerCycleFailed {
            cmd,
            status,
            output,
        }),
        // Past the deadline, killed.
        Err(None) => Err(LabError::PowerCycleTimeout {
            cmd,
            deadline,
            output,
        }),
        Err(Some(error)) => Err(LabError::PowerCycleWait { cmd, error, output }),
    }
}

/// What every worker of a lab run shares.
pub struct LabPlan {
    /// The lab run's id (one per `visreg run --lab` on one host).
    pub lab_run: String,
    /// The catalog.
    pub catalog: Catalog,
    /// The folder its relative image paths start from.
    pub image_base: std::path::PathBuf,
    /// Builds to run (each camera runs those for its board).
    pub builds: Vec<Build>,
    /// Baseline build.
    pub baseline: String,
    /// What the cameras are measured on.
    pub source: LabSource,
    /// Repetitions.
    pub repeats: u32,
}

/// What a lab's cameras are measured on.
#[derive(Clone, Debug)]
pub enum LabSource {
    /// Every camera replays this dataset (with its content hash).
    Replay(Box<visreg_datasets::Dataset>, String),
    /// Each camera captures its own fixture (cameras without one are skipped).
    Live,
}

/// Captures per build and repetition in live mode (the fixture dataset's length).
pub const FIXTURE_FRAMES: usize = 50;

/// The id of `camera`'s run within `lab_run`.
pub fn camera_run_id(lab_run: &str, camera: &str) -> String {
    format!("{lab_run}.{camera}")
}

/// Runs `camera`'s part of the lab run: health check, measure (with a health check before
/// each build), one power cycle on trouble, then quarantine.
pub fn work(
    plan: &LabPlan,
    camera: &LabCamera,
    store: &Store,
    stop: &AtomicBool,
    on_event: &(dyn Fn(LabEvent) + Sync),
) -> Result<CameraOutcome, LabError> {
    let host = HostInfo::current();
    let run_id = camera_run_id(&plan.lab_run, &camera.name);
    let say = |state: &str, detail: String| -> Result<(), RunError> {
        store.record_camera_event(&CameraEvent {
            lab_run: plan.lab_run.clone(),
            host: host.hostname.clone(),
            camera: camera.name.clone(),
            board: camera.board.name().into(),
            run_id: Some(run_id.clone()),
            state: state.into(),
            detail: detail.clone(),
            recorded_unix_s: now_unix_s(),
        })?;
        on_event(LabEvent::State {
            camera: camera.name.clone(),
            state: state.into(),
            detail,
        });
        Ok(())
    };
    let builds: Vec<Build> = plan
        .builds
        .iter()
        .filter(|b| b.board == camera.board)
        .cloned()
        .collect();
    if builds.is_empty() || !builds.iter().any(|b| b.name == plan.baseline) {
        let reason = format!(
            "no build of the plan with its baseline {} is for board {}",
            plan.baseline,
            camera.board.name()
        );
        say("skipped", reason.clone())?;
        return Ok(CameraOutcome::Skipped { reason });
    }
    // Replay: the plan's dataset. Live: the camera's fixture, rendered (the virtual
    // camera's sensor shows it; a real camera's captures are scored against its truth).
    let (dataset, dataset_hash) = match &plan.source {
        LabSource::Replay(ds, hash) => ((**ds).clone(), hash.clone()),
        LabSource::Live => {
            let Some(f) = &camera.fixture else {
                let reason =
                    "live mode needs a fixture (the rig in front of the camera) in lab.toml"
                        .to_string();
                say("skipped", reason.clone())?;
                return Ok(CameraOutcome::Skipped { reason });
            };
            let ds = f.dataset(&camera.name, 1)?;
            let hash = ds.content_hash().map_err(LabError::Dataset)?;
            (ds, hash)
        }
    };
    let live = matches!(plan.source, LabSource::Live);
    let mut link = if camera.sim {
        let unit = VirtualUnit::new(
            plan.catalog.clone(),
            &builds[0].name,
            Some(dataset.clone()),
            DfuTiming::instant(),
            // Each virtual camera its own noise: a seed from the time and its name.
            fnv1a(now_unix_s() as u64, &camera.name),
        )?;
        let faults = camera
            .sim_faults
            .as_deref()
            .map(|f| f.parse::<FaultSpec>())
            .transpose()?
            .unwrap_or_default();
        Link::Sim(SimCamera::start(unit, faults, camera.sim_dies)?)
    } else {
        Link::Real {
            serial: camera.serial.clone(),
            port: camera.port.clone(),
            power_cycle: camera.power_cycle.clone(),
        }
    };
    // A real camera is this worker's for the whole lab run: another visreg process (on
    // any host sharing the store) using it now means this one skips it, saying who has it.
    let selector = match (&camera.serial, &camera.port) {
        (Some(s), _) => Some(crate::select::CameraSelector::Serial(s.clone())),
        (None, Some(p)) => Some(crate::select::CameraSelector::Port(p.clone())),
        (None, None) => None,
    };
    let key = selector
        .filter(|_| !camera.sim)
        .and_then(|s| s.reservation_key(&host.hostname));
    let _reservation = match key {
        Some(key) => match store.reserve(&key, &plan.lab_run)? {
            visreg_reports::store::Reserved::Got(r) => Some(r),
            visreg_reports::store::Reserved::Held(h) => {
                let reason = format!("in use by {h}: skipped; run it again once that is done");
                say("skipped", reason.clone())?;
                return Ok(CameraOutcome::Skipped { reason });
            }
        },
        None => None,
    };
    store.create_run(&RunRecord {
        id: run_id.clone(),
        started_unix_s: now_unix_s(),
        finished_unix_s: None,
        status: RunStatus::Running,
        host_json: serde_json::to_string(&host).unwrap_or_default(),
        dataset_name: dataset.manifest.name.clone(),
        dataset_hash: dataset_hash.clone(),
        camera: camera.name.clone(),
        baseline: plan.baseline.clone(),
        builds_json: serde_json::to_string(&builds.iter().map(|b| &b.name).collect::<Vec<_>>())
            .unwrap_or_default(),
        detector_json: serde_json::to_string(&visreg_apriltag::DetectorSettings::reference(
            dataset.manifest.tags.family,
        ))
        .unwrap_or_default(),
        mode: if live { "live" } else { "replay" }.into(),
        repeats: Some(plan.repeats),
        heartbeat_unix_s: None,
    })?;
    // The one power cycle on trouble, once tried: whether it worked.
    let mut power_cycle: Option<Result<(), LabError>> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            store.finish_run(&run_id, RunStatus::Interrupted)?;
            say("interrupted", "stopped by the user".into())?;
            return Ok(CameraOutcome::Interrupted { run_id });
        }
        let trouble = match link.port() {
            Err(e) => Some(e.to_string()),
            Ok(port) => {
                match health_check(&port, HEALTH_DEADLINE, Some(camera.board)) {
                    Err(e) => Some(e.to_string()),
                    Ok(version) => {
                        say("healthy", format!("{port}: {version}"))?;
                        let run_plan = RunPlan {
                            run_id: run_id.clone(),
                            port,
                            builds: builds.clone(),
                            baseline: plan.baseline.clone(),
                            dataset: dataset.clone(),
                            repeats: plan.repeats,
                            live,
                            health_check: true,
                            sensor_shows_dataset: camera.sim || !live,
                            on_camera: None,
                            image_base: plan.image_base.clone(),
                        };
                        say(
                            "measuring",
                            format!("{} build(s) × {} repetition(s)", builds.len(), plan.repeats),
                        )?;
                        let name = camera.name.clone();
                        match execute(&run_plan, store, stop, &|event| {
                            on_event(LabEvent::Run {
                                camera: name.clone(),
                                event,
                            })
                        }) {
                            Ok(_) => None,
                            // Stopped by the user: the loop's top records the interruption.
                            Err(_) if stop.load(Ordering::Relaxed) => None,
                            Err(RunError::Store(e)) => return Err(e.into()),
                            Err(e) => Some(e.to_string()),
                        }
                    }
                }
            }
        };
        match trouble {
            None if stop.load(Ordering::Relaxed) => continue,
            None => break,
            Some(e) if power_cycle.is_none() => {
                say("error", e)?;
                let name = camera.name.clone();
                let tick = |left: Duration| {
                    on_event(LabEvent::State {
                        camera: name.clone(),
                        state: "power-cycling".into(),
                        detail: format!("waiting for the power cycle, {} s left", left.as_secs()),
                    })
                };
                match link.power_cycle(&tick) {
                    Ok(how) => {
                        say("power-cycled", how)?;
                        power_cycle = Some(Ok(()));
                    }
                    Err(why) => {
                        say("power-cycle-failed", why.to_string())?;
                        power_cycle = Some(Err(why));
                    }
                }
            }
            Some(e) => {
                // Say what really happened: a power cycle that failed is no power cycle.
                let reason = match &power_cycle {
                    Some(Err(why)) => format!("{e} (the power cycle failed: {why})"),
                    _ => format!("{e} (after a power cycle)"),
                };
                store.finish_run(&run_id, RunStatus::Quarantined)?;
                say("quarantined", reason.clone())?;
                return Ok(CameraOutcome::Quarantined { run_id, reason });
            }
        }
    }
    store.finish_run(&run_id, RunStatus::Done)?;
    let names: Vec<String> = builds.iter().map(|b| b.name.clone()).collect();
    let units = if live {
        crate::run::Units::Live
    } else {
        crate::run::Units::Replay
    };
    let v = verdicts(store, &run_id, &names, &plan.baseline, units)?;
    let regressed = v
        .iter()
        .filter(|e| e.primary && e.verdict == visreg_bench::verdict::Verdict::Regressed)
        .count();
    say(
        "done",
        if regressed == 0 {
            "no regression".into()
        } else {
            format!("{regressed} regression(s)")
        },
    )?;
    Ok(CameraOutcome::Done {
        run_id,
        verdicts: v,
        dataset: Box::new(dataset),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../lab.example.toml");

    #[cfg(unix)]
    #[test]
    fn a_power_cycle_command_is_drained_shown_timed_and_killed_with_its_children() {
        // More output than a pipe holds: read as it comes, the command finishes.
        let t0 = Instant::now();
        let out = run_with_deadline(
            "head -c 300000 /dev/zero | tr '\\0' x; echo; echo relay 3 on",
            Duration::from_secs(20),
            &|_| {},
        )
        .unwrap();
        assert!(out.ends_with("relay 3 on"), "{out}");
        assert!(t0.elapsed() < Duration::from_secs(10));
        // A failure says what the command said.
        let e = run_with_deadline(
            "echo relay 3 stuck >&2; exit 3",
            Duration::from_secs(5),
            &|_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("failed") && e.contains("relay 3 stuck"), "{e}");
        // At the deadline the whole group goes, the command's children too; the wait
        // is reported as it goes.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let ticks = std::sync::atomic::AtomicU32::new(0);
        let cmd = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let t0 = Instant::now();
        let e = run_with_deadline(&cmd, Duration::from_secs(6), &|_| {
            ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap_err()
        .to_string();
        assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
        assert!(e.contains("did not finish within 6 s"), "{e}");
        assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) >= 1);
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .to_string();
        std::thread::sleep(Duration::from_millis(200));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z "),
            "the child survived: {state}"
        );
    }

    #[test]
    fn the_example_inventory_parses() {
        let lab = LabFile::parse(EXAMPLE, "lab.example.toml").unwrap();
        assert!(lab.cameras.len() >= 3);
        assert!(lab.cameras.iter().any(|c| c.fixture.is_some()));
        assert!(lab.cameras.iter().any(|c| c.power_cycle.is_some()));
    }

    #[test]
    fn bad_inventories_name_the_camera_and_the_fix() {
        let e = LabFile::parse(
            "[[camera]]\nname = \"a\"\nboard = \"H7Plus\"\nport = \"/dev/x\"\nsim = true\n",
            "lab.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("lab.toml: camera 'a': give exactly one of"),
            "{e}"
        );
        let e = LabFile::parse(
            "[[camera]]\nname = \"a\"\nboard = \"H7Plus\"\nsim = true\n[[camera]]\nname = \"a\"\nboard = \"H7Plus\"\nsim = true\n",
            "lab.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("used twice"), "{e}");
        let e = LabFile::parse(
            "[[camera]]\nname = \"a\"\nboard = \"H9\"\nsim = true\n",
            "lab.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("lab.toml: ") && e.contains("H9"), "{e}");
        let e = LabFile::parse(
            "[[camera]]\nname = \"a\"\nboard = \"H7Plus\"\nport = \"/dev/x\"\nsim_dies = true\n",
            "lab.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("virtual cameras"), "{e}");
        let e = LabFile::parse(
            "[[camera]]\nname = \"a\"\nboard = \"H7Plus\"\nsim = true\nsim_faults = \"explode\"\n",
            "lab.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sim_faults"), "{e}");
    }

    #[test]
    fn boards_select_cameras_whatever_the_spelling() {
        let lab = LabFile::parse(
            "[[camera]]\nname = \"a\"\nboard = \"H7Plus\"\nsim = true\n[[camera]]\nname = \"b\"\nboard = \"H7\"\nsim = true\n",
            "lab.toml",
        )
        .unwrap();
        let names = |sel: Option<&str>| -> Vec<String> {
            lab.select(sel).into_iter().map(|c| c.name).collect()
        };
        assert_eq!(names(Some("h7plus")), ["a"]);
        assert_eq!(names(Some("H7 Plus,h7")), ["a", "b"]);
        assert_eq!(names(Some("h7")), ["b"]);
        assert_eq!(names(None), ["a", "b"]);
    }

    #[test]
    fn a_power_cycle_command_has_a_deadline() {
        let t = Instant::now();
        let e = run_with_deadline("sleep 5", Duration::from_millis(200), &|_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not finish"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
        assert!(run_with_deadline("true", Duration::from_secs(5), &|_| {}).is_ok());
        assert!(run_with_deadline("exit 3", Duration::from_secs(5), &|_| {})
            .unwrap_err()
            .to_string()
            .contains("failed"));
    }
}
