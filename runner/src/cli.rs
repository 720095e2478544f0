//! Command-line interface: every verb, its options and its `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::detector_args::DetectorArgs;

/// What `--store` takes, said once for every verb that has one (the rule itself is
/// `visreg_reports::store::Store::open`'s).
const STORE_HELP: &str = "Results store: an SQLite file, or PostgreSQL (a postgres:// URL, or libpq keyword/value pairs such as \"host=db user=ci dbname=visreg\")";
const STORE_LONG_HELP: &str = "Results store. PostgreSQL when the value starts with postgres:// or postgresql://, or opens with a libpq keyword and '=' (\"host=db user=ci dbname=visreg sslmode=verify-full\"); anything else is an SQLite file, created if needed (write ./host=x for a file named like that). PostgreSQL takes what the value leaves out from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT and PGPASSFILE, then the password from ~/.pgpass (ignored if others may read it); sslmode disable, prefer (the default), require, verify-ca or verify-full, sslrootcert=FILE for a private CA or sslrootcert=system. Passwords are never printed. An SQLite file visreg may not write is opened read-only (reports and history work).";

/// visreg: hardware-in-the-loop regression benchmarks for the AprilTag and 3D-pose
/// functions of OpenMV cameras.
#[derive(Debug, Parser)]
#[command(name = "visreg", version, about, long_about = None, after_help = "\
Examples:
  visreg eval                                  # host detector on the built-in qvga-basic dataset
  visreg eval --preset hard --json hard.json   # a harder dataset, metrics as JSON
  visreg dataset generate --preset qvga-basic --out ./qvga
  visreg detect photo.png --tag-size 0.08 --openmv-intrinsics

Exit codes: 0 clean, 1 regression found, 2 could not run.")]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); or set VISREG_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate, check, inspect datasets; print target sheets.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Detect AprilTags (and poses) in images with the host reference detector.
    Detect(DetectArgs),
    /// Evaluate the host reference detector on a dataset against its ground truth.
    Eval(EvalArgs),
    /// Run a virtual camera on a pseudo-terminal, or as a USB device with --usb (prints the
    /// port, serves until Ctrl-C).
    Sim(SimArgs),
    /// List cameras: USB identities in every state, and running virtual cameras.
    Devices(DevicesArgs),
    /// The firmware catalog: list builds, show one, check every image file.
    #[command(subcommand)]
    Firmware(FirmwareCommand),
    /// Flash a build onto a camera and verify the version it reports afterwards.
    Flash(FlashArgs),
    /// Quick check after an update: a short pose test, PASS or FAIL with the reason.
    Verify(VerifyArgs),
    /// Diagnose a camera that does not connect or no longer finds a pose.
    Doctor(DoctorArgs),
    /// Bring back a camera whose update was interrupted.
    Recover(RecoverArgs),
    /// The main job: flash each build, replay the dataset through the camera, score, judge.
    Run(RunArgs),
    /// Find the first build of a series that regressed: measure builds between a good and
    /// a bad one, halving the range, each judged as `visreg run` judges.
    Bisect(BisectArgs),
    /// Judge the builds of one stored run against the same builds in another.
    Compare(CompareArgs),
    /// A metric over the stored runs, with change points.
    History(HistoryArgs),
    /// Write a run's report: index.html, summary.md, junit.xml, bmf/<build>.json.
    Report(ReportArgs),
    /// The stored runs, newest first: id, start, status, builds, board, camera, host,
    /// verdict.
    Runs(RunsArgs),
    /// Labs: the state of each camera of a lab inventory.
    #[command(subcommand)]
    Lab(LabCommand),
}

/// `visreg lab …`
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Each camera's state and last result, from the store (every host's workers write
    /// there).
    #[command(
        after_help = "Examples:\n  visreg lab status --lab lab.toml\n  visreg lab status --store postgres://ci@db/visreg"
    )]
    Status {
        /// The inventory (default: every camera the store has heard of).
        #[arg(long)]
        lab: Option<PathBuf>,
        #[arg(long, default_value = "visreg-results.sqlite", help = STORE_HELP, long_help = STORE_LONG_HELP)]
        store: String,
    },
}

/// `visreg report`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  visreg report run-1764028800-1a2b\n  visreg report run-1764028800-1a2b --out site/ --store postgres://ci@db/visreg\n  visreg report --history --store postgres://ci@db/visreg --out site/\n\nWrites index.html (self-contained: open it in any browser, no network), summary.md (for a CI job summary: cat it into $GITHUB_STEP_SUMMARY), junit.xml and bmf/<build>.json (Bencher Metric Format, one file per build: bencher run --branch <build> --testbed <board> --adapter json --file bmf/<build>.json). visreg run writes the same files at its end."
)]
pub struct ReportArgs {
    /// The run (its id, as visreg run printed it).
    #[arg(required_unless_present = "history")]
    pub run: Option<String>,
    /// Instead of one run: the history of every stored run of each dataset (or of
    /// --dataset's alone), from every host and camera, with change points: one
    /// history.html per dataset, under --out/<dataset>-<hash>/ [default:
    /// visreg-reports/history/<store>/<dataset>-<hash>/].
    #[arg(long, conflicts_with = "run")]
    pub history: bool,
    /// With --history: only runs on this board.
    #[arg(long, requires = "history")]
    pub board: Option<String>,
    /// Folder to write into [default: visreg-reports/<run>/; with --history and
    /// --dataset, the page's folder].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "visreg-results.sqlite", help = STORE_HELP, long_help = STORE_LONG_HELP)]
    pub store: String,
    /// The run's dataset folder, for the gallery's frames (a built-in preset is found by
    /// its name). With --history: the dataset whose runs to show.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
}

/// `visreg compare`
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  visreg compare run-1764028800-1a2b run-1764115200-3c4d\n\nExit 1 when a build regressed from the first run to the second."
)]
pub struct CompareArgs {
    /// Baseline run.
    pub run_a: String,
    /// Candidate run.
    pub run_b: String,
    #[arg(long, default_value = "visreg-results.sqlite", help = STORE_HELP, long_help = STORE_LONG_HELP)]
    pub store: String,
}

/// `visreg runs`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg runs                                  # the 20 newest runs in visreg-results.sqlite
  visreg runs --limit 0 --json                 # every run, as JSON
  visreg runs --store postgres://ci@db/visreg

verdict: `N regression(s)` or `pass` for a finished run (judged as `visreg report` judges
it), `failed`, `incomplete` (interrupted, quarantined, or still running) for the others.
--json prints {\"schema\": \"visreg.runs/1\", \"store\", \"runs\": [...]}, newest first, each run
with id, started_unix_s, started (local time, RFC 3339), status, builds, baseline, boards,
camera, host, dataset, camera_frames, verdict (pass | regressed | failed | incomplete),
regressions and checks (null until judged).")]
pub struct RunsArgs {
    /// How many runs to list, newest first (0: every one).
    #[arg(long, default_value_t = 20)]
    pub limit: u64,
    /// One JSON object per run and line instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value = "visreg-results.sqlite", help = STORE_HELP, long_help = STORE_LONG_HELP)]
    pub store: String,
}

/// `visreg history`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  visreg history --metric latency_ms --board H7Plus\n  visreg history --metric recall --build 5.0.0\n\nMetrics: latency_ms, recall, false_positives, pose_coverage, corner_err_px, trans_err_pct, rot_err_deg. Change points: E-Divisive means."
)]
pub struct HistoryArgs {
    /// Metric.
    #[arg(long)]
    pub metric: String,
    /// Only this board.
    #[arg(long)]
    pub board: Option<String>,
    /// Only this build.
    #[arg(long)]
    pub build: Option<String>,
    #[arg(long, default_value = "visreg-results.sqlite", help = STORE_HELP, long_help = STORE_LONG_HELP)]
    pub store: String,
}

/// `visreg run`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg run                                   # virtual camera, the catalog's 5.x builds, qvga-basic
  visreg run --firmware 5.0.0,5.1.0-rc1 --baseline 5.0.0 --camera /dev/ttyACM0
  visreg run --resume run-1764028800-1a2b      # finish an interrupted run
  visreg run --lab lab.toml --boards h7plus --builds 5.0.0,5.1.0-rc1 --store postgres://ci@db/visreg

Every frame result is stored as it is measured (--store, SQLite); Ctrl-C stops cleanly.
Writes verdicts.json and the report into --out (default visreg-reports/<run-id>/). Exit codes:
0 no regression, 1 regression, 2 could not run or finish — with --lab, 2 also when a
camera was quarantined (an infrastructure failure, not a regression).")]
pub struct RunArgs {
    /// `sim` (default: a virtual camera), a port, or a USB serial number.
    #[arg(long)]
    pub camera: Option<String>,
    /// Builds, comma-separated (default: the catalog's protocol v2 builds).
    #[arg(long, visible_alias = "builds")]
    pub firmware: Option<String>,
    /// A lab inventory: run every camera in it in parallel (see lab.example.toml).
    #[arg(long, conflicts_with_all = ["camera", "resume"])]
    pub lab: Option<PathBuf>,
    /// With --lab: only cameras on these boards, comma-separated (h7,h7plus).
    #[arg(long, requires = "lab")]
    pub boards: Option<String>,
    /// Baseline build (default: the first).
    #[arg(long)]
    pub baseline: Option<String>,
    /// A catalog file of your own builds.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Dataset folder.
    #[arg(long, conflicts_with = "preset")]
    pub dataset: Option<PathBuf>,
    /// Built-in preset (default qvga-basic).
    #[arg(long)]
    pub preset: Option<String>,
    /// Repetitions of each build [default: 3].
    #[arg(long)]
    pub repeat: Option<u32>,
    /// replay: the host sends the dataset's frames; live: the camera captures (the virtual
    /// camera's sensor shows the dataset) [default: replay].
    #[arg(long, value_parser = ["replay", "live"])]
    pub mode: Option<String>,
    #[arg(long, default_value = "visreg-results.sqlite", help = STORE_HELP, long_help = STORE_LONG_HELP)]
    pub store: String,
    /// Output folder for verdicts.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Finish an interrupted run with its stored plan (builds, baseline, repetitions,
    /// mode, camera, dataset); arguments that would change it are refused.
    #[arg(long)]
    pub resume: Option<String>,
    /// Seconds to wait for a camera another visreg process (on any host sharing the
    /// store) is using, before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub camera_wait: u64,
    /// How fast the virtual camera's (`--camera sim`) link and detector are: `fast` (as fast as the
    /// pseudo-terminal, detection time reported but not spent) or `real` (bytes cost the
    /// board's USB bus time — full speed 1.2 MB/s on M7/H7/H7 Plus, high speed 53 MB/s on
    /// RT1062/N6 — and each replayed frame keeps the detector busy for its modelled time).
    #[arg(long, default_value = "fast", value_parser = ["fast", "real"])]
    pub link: String,
}

impl RunArgs {
    /// Repetitions of each build.
    pub fn repeats(&self) -> u32 {
        self.repeat.unwrap_or(3)
    }

    /// `replay` or `live`.
    pub fn mode(&self) -> &str {
        self.mode.as_deref().unwrap_or("replay")
    }
}

/// `visreg bisect`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg bisect --good 5.0.0 --bad 5.1.0-rc3                     # virtual camera, the shipped nightlies
  visreg bisect --good 5.0.0 --bad 5.1.0-rc3 --check latency_ms  # follow one check
  visreg bisect --good 5.0.0 --bad nightly-412 --catalog nightlies.toml --camera /dev/ttyACM0
  visreg bisect --resume bisect-1764028800-1a2b3c4d              # finish an interrupted bisect

The builds come from the catalog series holding both ends (`visreg firmware list --series
NAME`; a user catalog gives nightlies a place with [[build.series]] name/order). First
both ends are measured and the bad build must regress against the good one on the checks
followed (default: every check it regresses); then the build nearest the middle of the
open range is flashed, measured and judged against the good build, until the first bad
build is named. A build that does not flash or boot is skipped, an inconclusive one is
measured again with more repetitions (up to --max-repeat) and skipped if still undecided.
Each build measured is a run in the store (its report is linked); Ctrl-C keeps them and
--resume goes on from there. Writes index.html and summary.md into --out (default
visreg-reports/<bisect-id>/), with --json a machine-readable answer. Exit codes: 0 first bad
build named, 1 narrowed to a few builds that could not all be judged, 2 could not bisect
(no regression between the ends, a camera failure, interrupted).")]
pub struct BisectArgs {
    /// The last build known good: the baseline every step is judged against.
    #[arg(long, required_unless_present = "resume")]
    pub good: Option<String>,
    /// A build known bad, later in the same series.
    #[arg(long, required_unless_present = "resume")]
    pub bad: Option<String>,
    /// A check to follow (repeatable): a metric (`recall`, `latency_ms`, …) or a bucket
    /// (`recall[angle:30-45]`). Default: every check the bad build regresses.
    #[arg(long = "check", value_name = "CHECK")]
    pub checks: Vec<String>,
    /// The series to take the builds from, when both ends are in several.
    #[arg(long)]
    pub series: Option<String>,
    /// `sim` (default: a virtual camera), a port, or a USB serial number.
    #[arg(long)]
    pub camera: Option<String>,
    /// A catalog file of your own builds.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Dataset folder.
    #[arg(long, conflicts_with = "preset")]
    pub dataset: Option<PathBuf>,
    /// Built-in preset (default qvga-basic).
    #[arg(long)]
    pub preset: Option<String>,
    /// Repetitions of each build (measured back to back on one flash).
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Most repetitions for a build whose verdict stays inconclusive.
    #[arg(long, default_value_t = 12)]
    pub max_repeat: u32,
    #[arg(long, default_value = "visreg-results.sqlite", help = STORE_HELP, long_help = STORE_LONG_HELP)]
    pub store: String,
    /// Report folder [default: visreg-reports/<bisect-id>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the answer as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Seconds to wait for a camera another visreg process is using, before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub camera_wait: u64,
    /// Finish an interrupted bisect with its stored plan.
    #[arg(long, conflicts_with_all = ["good", "bad", "checks", "series", "camera", "catalog", "dataset", "preset", "repeat", "max_repeat"])]
    pub resume: Option<String>,
}

/// `visreg verify`
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  visreg verify --port /dev/ttyACM0

Replays frames of the built-in qvga-basic dataset through the camera's own
find_apriltags and scores tags and 3D pose against ground truth. Exit 0 PASS, 1 FAIL,
2 could not run.")]
pub struct VerifyArgs {
    /// The camera's serial port.
    #[arg(long, required_unless_present = "serial")]
    pub port: Option<String>,
    /// The camera's USB serial number instead of its port.
    #[arg(long, conflicts_with = "port")]
    pub serial: Option<String>,
    /// Frames to replay.
    #[arg(long, default_value_t = 12)]
    pub frames: usize,
    /// Deadline of the whole check, seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
}

/// `visreg doctor`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg doctor
  visreg doctor --port /dev/ttyACM0

Names the state of each camera — none found, ST ROM DFU (bricked), bootloader waiting,
firmware running (then a short pose check) — with the next step. Exit 0 when every camera
is healthy, 1 when one is not, 2 when the doctor itself could not run.")]
pub struct DoctorArgs {
    /// Only this port.
    #[arg(long)]
    pub port: Option<String>,
    /// Only the camera with this USB serial number.
    #[arg(long, conflicts_with = "port")]
    pub serial: Option<String>,
    /// Deadline of each pose check, seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
}

/// `visreg recover`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg recover --port /dev/ttyACM0
  visreg recover --port /dev/ttyACM0 --firmware 5.0.1

For a camera left in its bootloader by an interrupted update: writes a known-good build
(by default the newest without known defects), waits for it to boot, checks its version
and its pose function. Without a port it explains the BOOT0 recovery of a camera that
shows no port at all.")]
pub struct RecoverArgs {
    /// The camera's serial port.
    #[arg(long)]
    pub port: Option<String>,
    /// The camera's USB serial number instead of its port.
    #[arg(long, conflicts_with = "port")]
    pub serial: Option<String>,
    /// Build to install.
    #[arg(long)]
    pub firmware: Option<String>,
    /// The OpenMV bootloader image to write when the camera is in ST's ROM DFU.
    #[arg(long)]
    pub bootloader: Option<PathBuf>,
    /// A catalog file.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
}

/// `visreg flash`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg flash 5.1.0-rc2 --port /dev/pts/3
  visreg flash mine --catalog my-builds.toml --port /dev/ttyACM0

The images are checked first (checksum, DFU CRC, board, size); a bad one is refused
before the camera is touched. The camera is sent into its bootloader, written, reset, and
must come back reporting the build's version. Every wait shows its deadline.")]
pub struct FlashArgs {
    /// Build name from the catalog.
    pub build: String,
    /// The camera's serial port (see `visreg devices`).
    #[arg(long, required_unless_present = "serial")]
    pub port: Option<String>,
    /// The camera's USB serial number instead of its port.
    #[arg(long, conflicts_with = "port")]
    pub serial: Option<String>,
    /// A catalog file of your own builds.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Deadline for writing, seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
}

/// `visreg firmware …`
#[derive(Debug, Subcommand)]
pub enum FirmwareCommand {
    /// List the builds of the catalog.
    #[command(
        after_help = "Examples:\n  visreg firmware list\n  visreg firmware list --catalog my-builds.toml"
    )]
    #[command(
        after_help = "Examples:\n  visreg firmware list\n  visreg firmware list --series 5.1-nightly\n  visreg firmware list --all"
    )]
    List {
        /// A catalog file of your own builds (default: the simulated builds shipped with visreg).
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// The builds of one ordered series (nightlies), in series order, with their place.
        #[arg(long, value_name = "NAME")]
        series: Option<String>,
        /// Nightly builds too (they are summarised per series otherwise).
        #[arg(long, conflicts_with = "series")]
        all: bool,
    },
    /// Show one build: its images, checksums and the writes a flash would do.
    #[command(after_help = "Example:\n  visreg firmware show 5.1.0-rc2")]
    Show {
        /// Build name.
        build: String,
        /// A catalog file.
        #[arg(long)]
        catalog: Option<PathBuf>,
    },
    /// Check every image file: checksum, DFU CRC, board, size against its partition.
    #[command(
        after_help = "Examples:\n  visreg firmware check\n  visreg firmware check mine --catalog my-builds.toml\n\nExit code 2 when a build cannot be flashed, with the reason."
    )]
    Check {
        /// Only this build.
        build: Option<String>,
        /// A catalog file.
        #[arg(long)]
        catalog: Option<PathBuf>,
    },
    /// Write the bytes a flash of BUILD would put into one partition, as a raw file (for
    /// `dfu-util -a PARTITION -D FILE`, or to compare with what `dfu-util -U` reads back).
    #[command(
        after_help = "Examples:\n  visreg firmware image 5.0.1 --out 5.0.1.bin\n  dfu-util -d 37c5:924a -a FIRMWARE -D 5.0.1.bin -R"
    )]
    Image {
        /// Build name.
        build: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// The partition (default FIRMWARE).
        #[arg(long, default_value = "FIRMWARE")]
        partition: String,
        /// A catalog file.
        #[arg(long)]
        catalog: Option<PathBuf>,
    },
}

/// `visreg devices`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg devices
  visreg devices --json

Lists OpenMV cameras by USB VID:PID and serial in every state (running firmware, OpenMV
DFU bootloader, legacy CDC bootloader, ST ROM DFU) and the virtual cameras of `visreg
sim`; cameras with a serial port are asked for their protocol and firmware version.")]
pub struct DevicesArgs {
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Do not open ports to ask the cameras.
    #[arg(long)]
    pub no_probe: bool,
    /// Deadline for each question to a camera, ms.
    #[arg(long, default_value_t = 500)]
    pub timeout_ms: u64,
}

/// `visreg sim`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg sim                                   # firmware 5.0.0, sensor showing qvga-basic
  visreg sim --firmware 5.1.0-rc2              # the build whose 3D pose is broken
  visreg sim --faults corrupt=0.01,stall=2s@3s,disconnect@20s
  sudo visreg sim --usb --firmware 5.0.1       # a USB device on the kernel's vhci_hcd: /dev/ttyACM0
  sudo visreg sim --usb --in-bootloader        # waiting in its DFU bootloader: dfu-util -l lists it

The first line of stdout is the port to open (e.g. /dev/pts/4, or /dev/ttyACM0 with --usb;
for a bootloader with --usb: `usb BUS-PORT VID:PID SERIAL`). Faults: corrupt=P and drop=P
per byte, stall=DURATION@WHEN, disconnect@WHEN, seed=N; WHEN is a time since the first
byte (3s, 500ms) or a count of bytes sent (200KB). power-loss@N cuts the power after N
flash blocks of the next update (the camera comes back a second later, in its
bootloader). descriptor-fail (with --usb) stalls the device descriptor, so the kernel
cannot enumerate the camera. Give two virtual cameras different --run-seed values: the
seed is also their chip's unique id, hence their USB serial numbers.")]
pub struct SimArgs {
    /// Simulated firmware build from the catalog.
    #[arg(long, default_value = "5.0.0")]
    pub firmware: String,
    /// Dataset the virtual sensor shows.
    #[arg(long, conflicts_with = "preset")]
    pub dataset: Option<PathBuf>,
    /// Built-in preset the virtual sensor shows. Default: qvga-basic.
    #[arg(long)]
    pub preset: Option<String>,
    /// Seed for --preset.
    #[arg(long, default_value_t = visreg_datasets::preset::DEFAULT_SEED)]
    pub seed: u64,
    /// Faults to inject.
    #[arg(long)]
    pub faults: Option<String>,
    /// Seed of the simulated latency noise (vary it to get run-to-run noise).
    #[arg(long, default_value_t = 1)]
    pub run_seed: u64,
    /// Start bricked: bootloader and firmware erased, BOOT0 jumpered (ST's ROM DFU answers).
    #[arg(long)]
    pub bricked: bool,
    /// Be a real USB device: attach to the kernel's USB/IP host controller (vhci_hcd,
    /// Linux, root) instead of serving a pseudo-terminal. Prints the tty `cdc_acm` made
    /// (or `usb BUS-PORT VID:PID SERIAL` for a bootloader) once the kernel has bound it.
    #[arg(long)]
    pub usb: bool,
    /// Start waiting in the bootloader (as after `machine.bootloader()`), with --usb.
    #[arg(long, requires = "usb")]
    pub in_bootloader: bool,
    /// Where the DFU bootloader puts its functional descriptor, with --usb:
    /// `after-last-alt` (as OpenMV's TinyUSB bootloader and ST's ROM do) or `each-alt`.
    #[arg(long, requires = "usb", default_value = "after-last-alt", value_parser = ["after-last-alt", "each-alt"])]
    pub dfu_functional: String,
    /// How fast the virtual camera's link and detector are: `fast` (as fast as the
    /// pseudo-terminal, detection time reported but not spent) or `real` (bytes cost the
    /// board's USB bus time — full speed 1.2 MB/s on M7/H7/H7 Plus, high speed 53 MB/s on
    /// RT1062/N6 — and each replayed frame keeps the detector busy for its modelled time).
    #[arg(long, conflicts_with = "usb", default_value = "fast", value_parser = ["fast", "real"])]
    pub link: String,
}

/// `visreg dataset …`
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Render a built-in preset into a dataset folder.
    #[command(after_help = "\
Example:
  visreg dataset generate --preset qvga-basic --out ./qvga-basic --seed 7

Presets are deterministic: the same preset, seed and visreg version render the same
frames. See `visreg dataset presets` for the list.")]
    Generate {
        /// Preset to render.
        #[arg(long, default_value = "qvga-basic")]
        preset: String,
        /// Output folder (must not exist or be empty, unless --force).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the scene distribution.
        #[arg(long, default_value_t = visreg_datasets::preset::DEFAULT_SEED)]
        seed: u64,
        /// Render this many frames instead of the preset's count.
        #[arg(long)]
        frames: Option<usize>,
        /// Replace an existing dataset in --out.
        #[arg(long)]
        force: bool,
    },
    /// Validate a dataset: manifest, every truth line, every frame decoded.
    #[command(
        after_help = "Example:\n  visreg dataset check ./qvga-basic\n\nExit code 2 and the first offending file (and line) when it is not valid."
    )]
    Check {
        /// Dataset folder.
        dir: PathBuf,
    },
    /// Summarise a dataset: camera, tags, distribution of range, angle, size, blur, noise.
    #[command(after_help = "Example:\n  visreg dataset show ./qvga-basic")]
    Show {
        /// Dataset folder.
        dir: PathBuf,
    },
    /// List the built-in presets.
    Presets,
    /// Print a target sheet (PNG at a stated DPI) for a physical test rig.
    #[command(after_help = "\
Example:
  visreg dataset target --family tag36h11 --ids 0-5 --size-mm 80 --out target.png

--size-mm is the edge of the black border (the tag size pose estimation needs), not
the whole printed tag. Print at 100 % (no \"fit to page\") and check the 100 mm bar.
Tags that do not fit on one page go on more: target-p1.png, target-p2.png, ...")]
    Target {
        /// Tag family.
        #[arg(long, default_value = "tag36h11")]
        family: String,
        /// Ids: a list and ranges, e.g. 0-5 or 1,3,7-9.
        #[arg(long, default_value = "0-5")]
        ids: String,
        /// Tag size (black border edge), millimetres.
        #[arg(long, default_value_t = 80.0)]
        size_mm: f64,
        /// Print resolution.
        #[arg(long, default_value_t = 300)]
        dpi: u32,
        /// Paper size: a4 or letter.
        #[arg(long, default_value = "a4")]
        paper: String,
        /// Output PNG file (FILE-pN.png for each page when there are several).
        #[arg(long)]
        out: PathBuf,
    },
    /// Render a lab camera's fixture (its rig: a printed sheet at a measured pose) as a
    /// dataset: what the camera should see, with the truth live mode scores against.
    #[command(after_help = "\
Example:
  visreg dataset fixture --lab lab.toml --camera h7plus-a --out rig-a

Print the sheet with `visreg dataset target` (same family, ids, size and paper), stand it
at the fixture's distance, yaw and pitch, and compare the camera's view with rig-a/frames.")]
    Fixture {
        /// The lab inventory.
        #[arg(long)]
        lab: PathBuf,
        /// The camera whose fixture to render.
        #[arg(long)]
        camera: String,
        /// Output folder (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the sensor noise.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Frames to render.
        #[arg(long, default_value_t = 50)]
        frames: usize,
    },
}

/// `visreg detect`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg detect frame.png
  visreg detect a.png b.jpg --family tag16h5 --json
  visreg detect frame.png --tag-size 0.08 --fx 224.9 --fy 227.6 --cx 160 --cy 120

Corners are in the AprilTag library's order (tag corners (-1,+1), (+1,+1), (+1,-1),
(-1,-1): counter-clockwise in the image, starting bottom-left for an upright tag) and
pixel convention (the centre of the top-left pixel is (0.5, 0.5)); --cx/--cy use the same
convention (add 0.5 to an OpenCV calibration). Poses are T_cam_tag in metres, camera
x right, y down, z forward.")]
pub struct DetectArgs {
    /// Images (PNG, JPEG, PGM); colour images are converted to gray.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Print one JSON line per image instead of text.
    #[arg(long)]
    pub json: bool,
    /// Tag size (black border edge) in metres; with intrinsics, poses are estimated.
    #[arg(long)]
    pub tag_size: Option<f64>,
    /// Focal length x, pixels.
    #[arg(long)]
    pub fx: Option<f64>,
    /// Focal length y, pixels.
    #[arg(long)]
    pub fy: Option<f64>,
    /// Principal point x, pixels (library convention).
    #[arg(long)]
    pub cx: Option<f64>,
    /// Principal point y, pixels (library convention).
    #[arg(long)]
    pub cy: Option<f64>,
    /// Use the OpenMV firmware's default find_apriltags intrinsics for each image's size.
    #[arg(long, conflicts_with_all = ["fx", "fy", "cx", "cy"])]
    pub openmv_intrinsics: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// `visreg eval`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  visreg eval
  visreg eval --preset hard --json hard.json
  visreg eval --dataset ./my-rig-photos --threads 1

Built-in presets are rendered on first use and cached in $VISREG_CACHE_DIR
(default ~/.cache/visreg). The JSON keys are documented in the README.")]
pub struct EvalArgs {
    /// Dataset folder.
    #[arg(long, conflicts_with = "preset")]
    pub dataset: Option<PathBuf>,
    /// Built-in preset (rendered and cached on first use). Default: qvga-basic.
    #[arg(long)]
    pub preset: Option<String>,
    /// Seed for --preset.
    #[arg(long, default_value_t = visreg_datasets::preset::DEFAULT_SEED)]
    pub seed: u64,
    /// Write the metrics document to FILE ('-' for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}
