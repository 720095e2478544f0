//! The `visreg` binary as a user runs it: each test in its own temporary folder, with its
//! own preset cache, running the real binary and reading what it prints and writes.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn visreg(&self, args: &[&str]) -> Output {
        self.visreg_with(args, &[])
    }

    /// Runs with `env` added to the environment (PG* variables, as a user sets them).
    fn visreg_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        common::visreg(self.dir.path())
            .args(args)
            .env_remove("VISREG_LOG")
            .envs(env.iter().copied())
            .output()
            .expect("visreg runs")
    }

    /// Runs and expects exit code `code`; returns (stdout, stderr).
    fn expect(&self, code: i32, args: &[&str]) -> (String, String) {
        let out = self.visreg(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "visreg {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "visreg {args:?} panicked:\n{stderr}"
        );
        (stdout, stderr)
    }

    fn generate(&self, preset: &str, frames: usize, out: &str) {
        self.expect(
            0,
            &[
                "dataset",
                "generate",
                "--preset",
                preset,
                "--frames",
                &frames.to_string(),
                "--out",
                out,
            ],
        );
    }

    fn eval_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["eval", "--json", "metrics.json"];
        all.extend_from_slice(args);
        self.expect(0, &all);
        serde_json::from_str(&std::fs::read_to_string(self.path("metrics.json")).unwrap()).unwrap()
    }
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn qvga_basic_meets_the_reference_bar() {
    let s = Sandbox::new();
    let doc = s.eval_json(&["--preset", "qvga-basic"]);
    let o = &doc["overall"];
    assert!(f(o, "recall") >= 0.98, "recall {}", o["recall"]);
    assert!(f(o, "corner_err_px_median") < 0.3);
    assert!(f(o, "rot_err_deg_median") < 2.0);
    assert!(f(o, "trans_err_m_median") < 0.01);
    assert_eq!(o["false_positives"], 0);
    assert_eq!(o["id_errors"], 0);
    assert!(f(&doc, "frames_per_s") > 0.0);
    assert_eq!(doc["schema"], "visreg.eval/1");
    assert_eq!(doc["detector"]["library_version"], "3.4.5");
    assert_eq!(doc["detector"]["settings"]["quad_decimate"], 1.0);
    assert!(doc["dataset"]["hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(doc["dataset"]["frames"], 200);
    assert!(doc["host"]["logical_cpus"].as_u64().unwrap() >= 1);
}

#[test]
fn hard_is_worse_and_reported_per_bucket() {
    let s = Sandbox::new();
    let doc = s.eval_json(&["--preset", "hard"]);
    assert!(f(&doc["overall"], "recall") < 0.98);
    let buckets = doc["buckets"].as_array().unwrap();
    for axis in ["range", "angle", "blur", "noise", "light"] {
        assert!(
            buckets.iter().any(|b| b["axis"] == axis),
            "no {axis} bucket"
        );
    }
    // Blur hurts: the sharp bucket beats the most blurred one.
    let recall = |axis: &str, label: &str| {
        let b = buckets
            .iter()
            .find(|b| b["axis"] == axis && b["label"] == label)
            .unwrap();
        f(b, "recall")
    };
    assert!(recall("blur", "0") > recall("blur", "1-2"));
    // Per-tag buckets carry no frame-level counts.
    let angle = buckets.iter().find(|b| b["axis"] == "angle").unwrap();
    assert!(angle["false_positives"].is_null());
}

#[test]
fn generate_check_show_and_deterministic_hash() {
    let s = Sandbox::new();
    s.generate("qqvga", 8, "a");
    let (out, _) = s.expect(0, &["dataset", "check", "a"]);
    assert!(out.starts_with("ok: a — 8 frames"), "{out}");
    let hash_a = out.lines().last().unwrap().to_string();
    s.generate("qqvga", 8, "b");
    let (out, _) = s.expect(0, &["dataset", "check", "b"]);
    assert_eq!(
        out.lines().last().unwrap(),
        hash_a,
        "same preset and seed, same hash"
    );
    s.expect(
        0,
        &[
            "dataset", "generate", "--preset", "qqvga", "--frames", "8", "--seed", "9", "--out",
            "c",
        ],
    );
    let (out, _) = s.expect(0, &["dataset", "check", "c"]);
    assert_ne!(out.lines().last().unwrap(), hash_a);
    // An existing dataset is not overwritten unless asked.
    let (_, err) = s.expect(
        2,
        &[
            "dataset", "generate", "--preset", "qqvga", "--frames", "8", "--out", "a",
        ],
    );
    assert!(err.contains("already exists"), "{err}");
    s.expect(
        0,
        &[
            "dataset", "generate", "--preset", "qqvga", "--frames", "4", "--out", "a", "--force",
        ],
    );
    let (out, _) = s.expect(0, &["dataset", "show", "a"]);
    assert!(
        out.contains("tag36h11") && out.contains("160×120") && out.contains("view angle deg"),
        "{out}"
    );
    let (out, _) = s.expect(0, &["dataset", "presets"]);
    for p in [
        "qvga-basic",
        "qqvga",
        "hard",
        "qvga-tag16h5",
        "qvga-tag25h9",
        "qvga-tagCircle21h7",
        "qvga-tagStandard41h12",
    ] {
        assert!(out.contains(p), "{p} missing from presets");
    }
}

#[test]
fn every_extra_family_preset_detects() {
    let s = Sandbox::new();
    for p in [
        "qvga-tag16h5",
        "qvga-tag25h9",
        "qvga-tagCircle21h7",
        "qvga-tagStandard41h12",
    ] {
        s.generate(p, 10, p);
        let doc = s.eval_json(&["--dataset", p]);
        assert!(
            f(&doc["overall"], "recall") >= 0.95,
            "{p}: {}",
            doc["overall"]
        );
        assert!(f(&doc["overall"], "corner_err_px_median") < 0.3, "{p}");
    }
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn truncated_png_is_named() {
    let s = Sandbox::new();
    s.generate("qqvga", 5, "ds");
    let frame = s.path("ds/frames/000003.png");
    let bytes = std::fs::read(&frame).unwrap();
    std::fs::write(&frame, &bytes[..bytes.len() / 2]).unwrap();
    let (_, err) = s.expect(2, &["dataset", "check", "ds"]);
    assert!(
        err.contains("frames/000003.png") && err.contains("cannot decode image"),
        "{err}"
    );
    let (_, err) = s.expect(2, &["eval", "--dataset", "ds"]);
    assert!(err.contains("frames/000003.png"), "{err}");
}

#[test]
fn a_truth_line_with_three_corners_is_named() {
    let s = Sandbox::new();
    s.generate("qqvga", 5, "ds");
    let truth = s.path("ds/truth.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // Drop the last corner of the first tag on line 2.
    let mut v: Value = serde_json::from_str(&lines[1]).unwrap();
    v["tags"][0]["corners"].as_array_mut().unwrap().pop();
    let mut new = lines.clone();
    new[1] = v.to_string();
    std::fs::write(&truth, new.join("\n") + "\n").unwrap();
    let (_, err) = s.expect(2, &["dataset", "check", "ds"]);
    assert!(
        err.contains("truth.jsonl:2:") && err.contains("a tag has 4 corners, this one has 3"),
        "{err}"
    );
    let (_, err) = s.expect(2, &["eval", "--dataset", "ds"]);
    assert!(err.contains("truth.jsonl:2:"), "{err}");
}

#[test]
fn an_unknown_family_is_named() {
    let s = Sandbox::new();
    s.generate("qqvga", 3, "ds");
    replace_in(&s.path("ds/dataset.toml"), "\"tag36h11\"", "\"tag37h12\"");
    let (_, err) = s.expect(2, &["dataset", "check", "ds"]);
    assert!(
        err.contains("dataset.toml")
            && err.contains("unknown tag family 'tag37h12'")
            && err.contains("line"),
        "{err}"
    );
    let (_, err) = s.expect(2, &["detect", "x.png", "--family", "tag37h12"]);
    assert!(err.contains("unknown tag family 'tag37h12'"), "{err}");
}

#[test]
fn detect_json_agrees_with_truth() {
    let s = Sandbox::new();
    s.generate("qvga-basic", 6, "ds");
    let manifest = std::fs::read_to_string(s.path("ds/dataset.toml")).unwrap();
    let num = |key: &str| {
        manifest
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .and_then(|l| l.split(" = ").nth(1))
            .unwrap()
            .to_string()
    };
    let truth: Vec<Value> = std::fs::read_to_string(s.path("ds/truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let images: Vec<String> = truth
        .iter()
        .map(|t| format!("ds/{}", t["frame"].as_str().unwrap()))
        .collect();
    let (fx, fy, cx, cy) = (num("fx"), num("fy"), num("cx"), num("cy"));
    let mut args = vec![
        "detect",
        "--json",
        "--tag-size",
        "0.08",
        "--fx",
        &fx,
        "--fy",
        &fy,
        "--cx",
        &cx,
        "--cy",
        &cy,
    ];
    args.extend(images.iter().map(String::as_str));
    let (out, _) = s.expect(0, &args);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), truth.len());
    for (line, t) in lines.iter().zip(&truth) {
        assert_eq!(
            line["image"],
            format!("ds/{}", t["frame"].as_str().unwrap())
        );
        let dets = line["detections"].as_array().unwrap();
        let mut ids: Vec<u64> = dets.iter().map(|d| d["id"].as_u64().unwrap()).collect();
        let mut want: Vec<u64> = t["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect();
        ids.sort();
        want.sort();
        assert_eq!(ids, want);
        for d in dets {
            assert_eq!(d["family"], "tag36h11");
            let tt = t["tags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["id"] == d["id"])
                .unwrap();
            for i in 0..4 {
                for j in 0..2 {
                    let e = d["corners"][i][j].as_f64().unwrap()
                        - tt["corners"][i][j].as_f64().unwrap();
                    assert!(e.abs() < 0.5, "corner {i} off by {e}");
                }
            }
            let tz = d["pose"]["translation_m"][2].as_f64().unwrap();
            let wz = tt["pose"]["translation_m"][2].as_f64().unwrap();
            assert!((tz - wz).abs() < 0.01 * wz, "z {tz} vs {wz}");
            assert!(
                d["hamming"].is_u64() && d["decision_margin"].is_f64() && d["center"].is_array()
            );
        }
    }
}

#[test]
fn detect_names_unreadable_images_and_carries_on() {
    let s = Sandbox::new();
    s.generate("qqvga", 1, "ds");
    std::fs::write(s.path("junk.png"), b"not an image").unwrap();
    let out = s.visreg(&[
        "detect",
        "--json",
        "junk.png",
        "missing.png",
        "ds/frames/000000.png",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("junk.png: cannot decode image"), "{stderr}");
    assert!(stderr.contains("missing.png: cannot read"), "{stderr}");
    assert!(
        stderr.contains("2 of 3 image(s) could not be read"),
        "{stderr}"
    );
    // The readable image was still processed.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    let (_, err) = s.expect(2, &["detect", "ds/frames/000000.png", "--tag-size", "0.08"]);
    assert!(err.contains("poses need intrinsics"), "{err}");
}

#[test]
fn a_printed_target_sheet_is_detected() {
    let s = Sandbox::new();
    let (out, _) = s.expect(
        0,
        &[
            "dataset",
            "target",
            "--family",
            "tag36h11",
            "--ids",
            "0-5",
            "--size-mm",
            "40",
            "--dpi",
            "72",
            "--out",
            "sheet.png",
        ],
    );
    assert!(out.contains("print at 100 %"), "{out}");
    let (out, _) = s.expect(0, &["detect", "--json", "sheet.png"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let mut ids: Vec<u64> = v["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 3, 4, 5]);
    // The issue's example needs three A4 pages.
    let (out, _) = s.expect(
        0,
        &[
            "dataset",
            "target",
            "--family",
            "tag36h11",
            "--ids",
            "0-5",
            "--size-mm",
            "80",
            "--dpi",
            "72",
            "--out",
            "big.png",
        ],
    );
    assert!(out.starts_with("3 page(s)"), "{out}");
    for p in 1..=3 {
        assert!(s.path(&format!("big-p{p}.png")).is_file());
    }
    let (_, err) = s.expect(
        2,
        &["dataset", "target", "--size-mm", "400", "--out", "x.png"],
    );
    assert!(
        err.contains("do not fit") && err.contains("at most 0"),
        "{err}"
    );
}

#[test]
fn every_verb_has_help_with_an_example() {
    let s = Sandbox::new();
    for verb in [
        vec!["--help"],
        vec!["eval", "--help"],
        vec!["detect", "--help"],
        vec!["dataset", "generate", "--help"],
        vec!["dataset", "check", "--help"],
        vec!["dataset", "show", "--help"],
        vec!["dataset", "target", "--help"],
    ] {
        let (out, _) = s.expect(0, &verb);
        assert!(
            out.contains("Example"),
            "{verb:?} help has no example:\n{out}"
        );
    }
    s.expect(0, &["dataset", "presets", "--help"]);
}

#[cfg(unix)]
#[test]
fn devices_lists_a_running_virtual_camera() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // One camera per generation: the probe finds the protocol, and the generation the
    // bootloader — 4.8.1 speaks v1 like 4.5.9 but is flashed like 5.0.0.
    for (build, protocol, bootloader) in [
        ("4.5.9", "v1", "cdc-bootloader"),
        ("4.8.1", "v1", "openmv-dfu"),
        ("5.0.0", "v2", "openmv-dfu"),
    ] {
        let s = Sandbox::new();
        let mut sim = common::visreg(s.dir.path())
            .args(["sim", "--firmware", build, "--preset", "qqvga"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(sim.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let out = common::visreg(s.dir.path())
            .args(["devices", "--json"])
            .output()
            .unwrap();
        let _ = sim.kill();
        let _ = sim.wait();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let d = v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["port"] == port.trim())
            .expect("the sim is listed");
        assert_eq!(d["kind"], "virtual");
        assert_eq!(d["firmware"], build, "version read back over the wire");
        assert_eq!(
            d["protocol"], protocol,
            "{build}: protocol found by probing"
        );
        assert_eq!(
            d["bootloader"], bootloader,
            "{build}: the generation's bootloader"
        );
    }
}

#[test]
fn firmware_check_refuses_bad_images_with_the_reason() {
    let s = Sandbox::new();
    let (out, _) = s.expect(0, &["firmware", "check"]);
    assert!(out.lines().all(|l| l.starts_with("ok ")), "{out}");
    // A user catalog: a good raw image, a .dfu with a flipped byte, an image for another
    // board, an oversize image.
    let good: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    std::fs::write(s.path("good.bin"), &good).unwrap();
    let sha = |b: &[u8]| visreg_firmware::image::sha256_hex(b);
    let dfu = visreg_firmware::image::dfuse::DfuseFile {
        targets: vec![visreg_firmware::image::dfuse::Target {
            alt: 2,
            name: None,
            elements: vec![visreg_firmware::image::dfuse::Element {
                address: 0x0804_0000,
                data: good.clone(),
            }],
        }],
        suffix: visreg_firmware::image::dfuse::Suffix {
            bcd_device: 0xFFFF,
            product: 0x924A,
            vendor: 0x37C5,
            bcd_dfu: 0x011A,
        },
    }
    .write();
    let mut corrupt = dfu.clone();
    corrupt[400] ^= 1;
    std::fs::write(s.path("corrupt.dfu"), &corrupt).unwrap();
    std::fs::write(s.path("h7plus.dfu"), &dfu).unwrap();
    let big = vec![0u8; 1792 * 1024 + 64];
    std::fs::write(s.path("big.bin"), &big).unwrap();
    let catalog = format!(
        r#"
[[build]]
name = "good"
version = "5.2.0"
board = "H7Plus"
protocol = "v2"
[[build.image]]
partition = "FIRMWARE"
file = "good.bin"
sha256 = "{}"

[[build]]
name = "corrupt"
version = "5.2.0"
board = "H7Plus"
protocol = "v2"
[[build.image]]
dfu = "corrupt.dfu"
sha256 = "{}"

[[build]]
name = "wrong-board"
version = "5.2.0"
board = "H7"
protocol = "v2"
[[build.image]]
dfu = "h7plus.dfu"
sha256 = "{}"

[[build]]
name = "oversize"
version = "5.2.0"
board = "H7Plus"
protocol = "v2"
[[build.image]]
partition = "FIRMWARE"
file = "big.bin"
sha256 = "{}"
"#,
        sha(&good),
        sha(&corrupt),
        sha(&dfu),
        sha(&big)
    );
    std::fs::write(s.path("mine.toml"), catalog).unwrap();
    let (out, err) = s.expect(2, &["firmware", "check", "--catalog", "mine.toml"]);
    assert!(out.contains("ok   good"), "{out}");
    assert!(
        out.contains("FAIL build corrupt") && out.contains("CRC mismatch"),
        "{out}"
    );
    assert!(
        out.contains("FAIL build wrong-board") && out.contains("another board"),
        "{out}"
    );
    assert!(
        out.contains("FAIL build oversize") && out.contains("too large"),
        "{out}"
    );
    assert!(err.contains("3 build(s) cannot be flashed"), "{err}");
    s.expect(0, &["firmware", "check", "good", "--catalog", "mine.toml"]);
    let (out, _) = s.expect(0, &["firmware", "show", "5.1.0-rc2"]);
    assert!(
        out.contains("pose broken") && out.contains("FIRMWARE (alt 2)"),
        "{out}"
    );
}

/// A running `visreg sim`, killed on drop.
#[cfg(unix)]
struct SimProcess {
    child: std::process::Child,
    port: String,
}

#[cfg(unix)]
impl SimProcess {
    fn start(s: &Sandbox, args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let mut child = common::visreg(s.dir.path())
            .arg("sim")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        SimProcess {
            child,
            port: port.trim().to_string(),
        }
    }
}

#[cfg(unix)]
impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
#[test]
fn flash_every_simulated_build_onto_visreg_sim_and_read_the_version_back() {
    let s = Sandbox::new();
    let sim = SimProcess::start(&s, &["--firmware", "5.0.0", "--preset", "qqvga"]);
    use visreg_firmware::board::Board;
    use visreg_firmware::generation::Generation;
    let catalog = visreg_firmware::catalog::Catalog::builtin();
    // The flasher follows the bootloader of the generation the camera runs *now*: the
    // legacy CDC bootloader under ≤ 4.5.x, the DFU bootloader under 4.6 … 4.8.1 and 5.x.
    let mut running = Generation::V2;
    let mut paths = std::collections::BTreeSet::new();
    for b in &catalog.builds {
        if b.board != Board::H7Plus {
            // Another board's build: refused before anything is written — by the ARCH
            // prefix or USB PID the camera reports, or (RT1062: NXP's ROM bootloader)
            // before the camera is touched at all.
            let (_, err) = s.expect(2, &["flash", &b.name, "--port", &sim.port]);
            assert!(
                (err.contains("nothing was written") && err.contains("the build is for the"))
                    || err.contains("which visreg does not drive"),
                "{}: {err}",
                b.name
            );
            assert!(!err.contains("left in its bootloader"), "{err}");
            continue;
        }
        let (out, err) = s.expect(0, &["flash", &b.name, "--port", &sim.port]);
        assert!(
            out.contains(&format!(
                "flashed {} onto the camera on {}",
                b.name, sim.port
            )) && out.contains(&format!(
                "firmware {} (verified), on {}",
                b.version, sim.port
            )),
            "{out}"
        );
        let both = format!("{out}{err}");
        let cdc = both.contains("through the legacy CDC bootloader");
        assert_eq!(
            cdc,
            running == Generation::Legacy,
            "{} flashed from a {running:?} camera: {both}",
            b.name
        );
        paths.insert((format!("{running:?}"), cdc));
        running = b.generation();
    }
    // All three generations were flashed from: 4.5.9 → 4.8.1 through the CDC bootloader,
    // 4.8.1 (protocol v1) → 5.0.0 through the DFU bootloader.
    assert!(paths.contains(&("Legacy".into(), true)), "{paths:?}");
    assert!(paths.contains(&("DfuV1".into(), false)), "{paths:?}");
    // A bad image is refused before the camera is touched.
    std::fs::write(s.path("x.bin"), b"abcd").unwrap();
    std::fs::write(
        s.path("bad.toml"),
        "[[build]]\nname = 'x'\nversion = '5.3.0'\nboard = 'H7Plus'\nprotocol = 'v2'\n[[build.image]]\npartition = 'FIRMWARE'\nfile = 'x.bin'\nsha256 = '0000000000000000000000000000000000000000000000000000000000000000'\n",
    )
    .unwrap();
    let (_, err) = s.expect(
        2,
        &["flash", "x", "--catalog", "bad.toml", "--port", &sim.port],
    );
    assert!(
        err.contains("refusing to flash") && err.contains("checksum mismatch"),
        "{err}"
    );
    // The camera still runs what it ran.
    let out = common::visreg(s.dir.path())
        .args(["devices", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = catalog
        .builds
        .iter()
        .rfind(|b| b.board == visreg_firmware::board::Board::H7Plus)
        .unwrap();
    assert_eq!(v["devices"][0]["firmware"], last.version.as_str());
}

/// What `visreg devices --json` says the camera on `port` runs.
#[cfg(unix)]
fn firmware_on(s: &Sandbox, port: &str) -> Value {
    let out = common::visreg(s.dir.path())
        .args(["devices", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["port"] == port)
        .unwrap_or_else(|| panic!("the camera on {port} is not listed: {v}"))["firmware"]
        .clone()
}

#[cfg(unix)]
#[test]
fn a_dfu_the_bootloader_cannot_write_is_refused_by_check_and_by_flash_before_the_camera_leaves_its_firmware(
) {
    use visreg_firmware::image::dfuse::{DfuseFile, Element, Suffix, Target};
    let s = Sandbox::new();
    let sim = SimProcess::start(&s, &["--firmware", "5.0.0", "--preset", "qqvga"]);
    let catalog = visreg_firmware::catalog::Catalog::builtin();
    // A whole 4096-byte image of a build (header and payload).
    let image = visreg_firmware::image::sim::sim_image(
        catalog.build("5.0.1").unwrap(),
        4096 - visreg_firmware::image::sim::SIM_HEADER,
    );
    // Files for the H7 Plus's OpenMV bootloader, its FIRMWARE partition (alt 2, 0x08040000).
    let dfu = |elements: &[u32]| {
        DfuseFile {
            targets: vec![Target {
                alt: 2,
                name: Some("FIRMWARE".into()),
                elements: elements
                    .iter()
                    .map(|&address| Element {
                        address,
                        data: image.clone(),
                    })
                    .collect(),
            }],
            suffix: Suffix {
                bcd_device: 0xFFFF,
                product: 0x924A,
                vendor: 0x37C5,
                bcd_dfu: 0x011A,
            },
        }
        .write()
    };
    let inside = dfu(&[0x0804_1000]);
    let twice = dfu(&[0x0804_0000, 0x0804_0000]);
    std::fs::write(s.path("inside.dfu"), &inside).unwrap();
    std::fs::write(s.path("twice.dfu"), &twice).unwrap();
    let mut text = String::new();
    for (name, file, bytes) in [
        ("inside", "inside.dfu", &inside),
        ("twice", "twice.dfu", &twice),
    ] {
        text += &format!(
            "[[build]]\nname = '{name}'\nversion = '5.0.1'\nboard = 'H7Plus'\nprotocol = 'v2'\n[[build.image]]\ndfu = '{file}'\nsha256 = '{}'\n",
            visreg_firmware::image::sha256_hex(bytes)
        );
    }
    std::fs::write(s.path("mine.toml"), text).unwrap();
    let not_at_start = "target 0 (alt 2, 'FIRMWARE') element 0, 0x08041000–0x08041FFF (4096 bytes) lies inside partition FIRMWARE of H7 Plus but not at its start 0x08040000";
    let overlap = "target 0 (alt 2, 'FIRMWARE') element 0, 0x08040000–0x08040FFF (4096 bytes) and target 0 (alt 2, 'FIRMWARE') element 1, 0x08040000–0x08040FFF (4096 bytes) overlap";
    let (out, err) = s.expect(2, &["firmware", "check", "--catalog", "mine.toml"]);
    assert!(
        out.contains("FAIL build inside") && out.contains(not_at_start),
        "{out}"
    );
    assert!(
        out.contains("FAIL build twice") && out.contains(overlap),
        "{out}"
    );
    assert!(err.contains("2 build(s) cannot be flashed"), "{err}");
    // `flash` runs the same preflight, before the camera is sent to its bootloader.
    for (build, why) in [("inside", not_at_start), ("twice", overlap)] {
        let (_, err) = s.expect(
            2,
            &[
                "flash",
                build,
                "--catalog",
                "mine.toml",
                "--port",
                &sim.port,
            ],
        );
        assert!(
            err.contains("refusing to flash") && err.contains(why),
            "{err}"
        );
        assert_eq!(
            firmware_on(&s, &sim.port),
            "5.0.0",
            "after `flash {build}` the camera still runs its firmware"
        );
    }
}

#[cfg(unix)]
#[test]
fn an_interrupted_flash_is_diagnosed_by_doctor_and_repaired_by_recover() {
    let s = Sandbox::new();
    let sim = SimProcess::start(&s, &["--firmware", "5.0.0", "--faults", "power-loss@5"]);
    let (_, err) = s.expect(2, &["flash", "5.0.1", "--port", &sim.port]);
    assert!(
        err.contains("writing partition FIRMWARE") && err.contains("power lost"),
        "{err}"
    );
    assert!(
        err.contains(&format!("visreg doctor --port {}", sim.port)),
        "{err}"
    );
    // The camera comes back a second later, in its bootloader: half an image is no firmware.
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let (out, _) = s.expect(1, &["doctor", "--port", &sim.port]);
    assert!(
        out.contains("in its DFU bootloader (37C5:924A) and no firmware boots")
            && out.contains("visreg recover"),
        "{out}"
    );
    let (out, _) = s.expect(0, &["recover", "--port", &sim.port]);
    assert!(
        out.contains("recovered:") && out.contains("pose check passes"),
        "{out}"
    );
    let (out, _) = s.expect(0, &["doctor", "--port", &sim.port]);
    assert!(out.contains("healthy"), "{out}");
}

#[cfg(unix)]
#[test]
fn verify_passes_a_good_build_and_names_the_broken_pose() {
    let s = Sandbox::new();
    let sim = SimProcess::start(&s, &["--firmware", "5.0.1"]);
    let (out, _) = s.expect(0, &["verify", "--port", &sim.port]);
    assert!(out.contains("PASS"), "{out}");
    let sim = SimProcess::start(&s, &["--firmware", "5.1.0-rc2"]);
    let (out, _) = s.expect(1, &["verify", "--port", &sim.port]);
    assert!(
        out.contains("FAIL") && out.contains("no usable 3D pose"),
        "{out}"
    );
    let (out, _) = s.expect(1, &["doctor", "--port", &sim.port]);
    assert!(
        out.contains("pose estimation is broken") && out.contains("visreg flash"),
        "{out}"
    );
}

#[test]
fn doctor_with_no_camera_says_what_to_try() {
    let s = Sandbox::new();
    let out = common::visreg(s.dir.path())
        .arg("doctor")
        .env("VISREG_RUNTIME_DIR", s.path("empty-run"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // On a machine with a real OpenMV camera attached this test says nothing useful.
    if text.contains("no camera found") {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text.contains("data cable") && text.contains("Device Descriptor Request Failed"),
            "{text}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_camera_can_be_named_by_its_serial_number() {
    let s = Sandbox::new();
    let sim = SimProcess::start(&s, &["--firmware", "5.0.0", "--preset", "qqvga"]);
    let run = |args: &[&str]| common::visreg(s.dir.path()).args(args).output().unwrap();
    let v: Value = serde_json::from_slice(&run(&["devices", "--json"]).stdout).unwrap();
    let serial = v["devices"][0]["serial"].as_str().unwrap().to_string();
    assert_eq!(v["devices"][0]["port"], sim.port.as_str());
    let out = run(&["verify", "--serial", &serial, "--frames", "4"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("verifying {}", sim.port)));
    let out = run(&["verify", "--serial", "NOPE"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no camera with serial NOPE"));
}

#[cfg(unix)]
#[test]
fn a_bricked_camera_is_recovered_through_st_rom_dfu() {
    let s = Sandbox::new();
    let sim = SimProcess::start(&s, &["--bricked", "--preset", "qqvga"]);
    let (out, _) = s.expect(1, &["doctor", "--port", &sim.port]);
    assert!(
        out.contains("ST's ROM bootloader (0483:DF11)") && out.contains("visreg recover"),
        "{out}"
    );
    let (out, _) = s.expect(0, &["recover", "--port", &sim.port]);
    assert!(
        out.contains("through DfuSe") && out.contains("normal for ST's ROM"),
        "{out}"
    );
    assert!(
        out.contains("remove the BOOT0 jumper") && out.contains("recovered:"),
        "{out}"
    );
    let (out, _) = s.expect(0, &["doctor", "--port", &sim.port]);
    assert!(out.contains("healthy"), "{out}");
}

/// What a run could never judge, or where it could never write, is refused before a camera
/// or the store is touched: no empty run reads as a pass, no report lands outside its folder.
#[test]
fn runs_that_would_judge_nothing_or_write_nowhere_are_refused_up_front() {
    let s = Sandbox::new();
    let store = s.path("r.sqlite");
    let store = store.to_str().unwrap();
    let (_, err) = s.expect(2, &["run", "--repeat", "0", "--store", store]);
    assert!(err.contains("--repeat 0 measures nothing"), "{err}");
    let (_, err) = s.expect(2, &["run", "--firmware", "5.0.0", "--store", store]);
    assert!(
        err.contains("5.0.0 alone has nothing to be judged against")
            && err.contains("visreg verify"),
        "{err}"
    );
    let (_, err) = s.expect(
        2,
        &["run", "--firmware", "5.0.0,5.0.1,5.0.0", "--store", store],
    );
    assert!(err.contains("build 5.0.0 is named twice"), "{err}");
    std::fs::write(s.path("not-a-folder"), b"x").unwrap();
    let (_, err) = s.expect(
        2,
        &[
            "run",
            "--firmware",
            "5.0.0,5.0.1",
            "--preset",
            "qqvga",
            "--repeat",
            "1",
            "--store",
            store,
            "--out",
            "not-a-folder",
        ],
    );
    assert!(err.contains("is a file, not a folder"), "{err}");
    // A run id is never a path: `report ../x` would have written reports/../x.
    let (_, err) = s.expect(2, &["report", "../x", "--store", store]);
    assert!(err.contains("is not a run id"), "{err}");
    assert!(!s.path("x").exists());
}

#[test]
fn verify_refuses_more_frames_than_its_dataset_before_touching_a_camera() {
    let s = Sandbox::new();
    // The port does not exist: the refusal must come first.
    let (_, err) = s.expect(
        2,
        &["verify", "--port", "/dev/visreg-none", "--frames", "100000"],
    );
    assert!(
        err.contains("--frames 100000: the check dataset") && err.contains("give 1 to"),
        "{err}"
    );
    let (_, err) = s.expect(
        2,
        &["verify", "--port", "/dev/visreg-none", "--frames", "0"],
    );
    assert!(err.contains("--frames 0"), "{err}");
}

#[test]
fn eval_refuses_more_threads_than_the_machine_can_use() {
    let s = Sandbox::new();
    let (_, err) = s.expect(2, &["eval", "--preset", "qqvga", "--threads", "100000"]);
    assert!(err.contains("more than 4 per CPU"), "{err}");
}

/// The results store as a user meets its failures: a damaged file, a keyword string with a
/// typo (never a new SQLite file named after it, never its password in the message).
#[test]
fn a_damaged_store_and_a_mistyped_spec_are_refused_with_what_to_do() {
    let s = Sandbox::new();
    std::fs::write(s.path("broken.sqlite"), vec![0x17u8; 8192]).unwrap();
    let (_, err) = s.expect(
        2,
        &["history", "--metric", "recall", "--store", "broken.sqlite"],
    );
    assert!(
        err.contains("results store broken.sqlite is damaged")
            && err.contains(
                "restore it from a backup, or start a new store with --store other.sqlite"
            ),
        "{err}"
    );
    let spec = "host=127.0.0.1 port=1 user=ci password='s3cret";
    let (_, err) = s.expect(2, &["history", "--metric", "recall", "--store", spec]);
    assert!(
        err.contains("password=*** …") && err.contains("is not closed") && !err.contains("s3cret"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(s.path("")).unwrap().count(),
        1,
        "only broken.sqlite: no store was created"
    );
}

/// A PostgreSQL store named by a keyword/value string, its password from PGPASSWORD, as a
/// lab host's CI job would give it (`.ci/start-postgres` makes the role).
#[test]
fn a_keyword_value_store_takes_its_password_from_pgpassword() {
    let spec = match std::env::var("VISREG_TEST_POSTGRES_PASSWORD_SPEC") {
        Ok(v) if !v.is_empty() => v,
        _ if std::env::var("CI").is_ok_and(|c| !c.is_empty()) => {
            panic!("VISREG_TEST_POSTGRES_PASSWORD_SPEC is not set, and in CI the PostgreSQL tests must run")
        }
        _ => {
            eprintln!("skipped: VISREG_TEST_POSTGRES_PASSWORD_SPEC is not set (.ci/start-postgres starts a server)");
            return;
        }
    };
    let pw = std::env::var("VISREG_TEST_POSTGRES_PASSWORD").expect("set with its spec");
    let s = Sandbox::new();
    let args = ["history", "--metric", "recall", "--store", &spec];
    let out = s.visreg_with(&args, &[("PGPASSWORD", &pw), ("HOME", "/nonexistent")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("in {spec}")), "{stdout}");
    let out = s.visreg_with(&args, &[("PGPASSWORD", "not-it"), ("HOME", "/nonexistent")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("password authentication failed") && !err.contains("not-it"),
        "{err}"
    );
}
