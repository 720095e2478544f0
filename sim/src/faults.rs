//! Faults on demand for the virtual camera: corrupted and dropped bytes, a stall, a
//! disconnect. Parsed from a spec such as `corrupt=0.01,stall=2s@3s,disconnect@200KB`
//! and applied to the bytes the camera sends and receives, deterministically from a seed
//! so a failing test can be replayed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// When a one-off fault fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// After this long since the first byte from the host.
    After(Duration),
    /// Once the camera has sent this many bytes.
    AfterBytes(u64),
}

/// A fault plan.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FaultSpec {
    /// Probability that a byte (either direction) has one bit flipped.
    pub corrupt: f64,
    /// Probability that a byte (either direction) is lost.
    pub drop: f64,
    /// A stall: nothing read or written for the duration, once.
    pub stall: Option<(Duration, Trigger)>,
    /// The camera vanishes (port closed), once.
    pub disconnect: Option<Trigger>,
    /// Seed of the byte faults.
    pub seed: u64,
    /// Power fails after this many flash blocks are programmed (once).
    pub power_loss_after_blocks: Option<u32>,
    /// Served over USB: the device stalls its device descriptor, so the host cannot
    /// enumerate it ("Device Descriptor Request Failed").
    pub descriptor_fail: bool,
}

/// Why a fault spec does not parse; each message names the piece at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    /// A duration without `ms` or `s`.
    #[error("'{0}' needs a unit: ms or s")]
    NoUnit(String),
    /// A duration whose number does not parse.
    #[error("'{0}' is not a duration")]
    NotDuration(String),
    /// A duration of an hour or more (or negative).
    #[error("'{0}' is out of range")]
    OutOfRange(String),
    /// A byte count (`200KB`) whose number does not parse.
    #[error("'{0}' is not a byte count")]
    NotByteCount(String),
    /// `key=value` whose value should be a number.
    #[error("{key}={value}: not a number")]
    NotNumber {
        /// The key.
        key: String,
        /// What was given.
        value: String,
    },
    /// A probability outside 0..=1.
    #[error("{key}={value}: a probability is between 0 and 1")]
    NotProbability {
        /// The key.
        key: String,
        /// What was given.
        value: String,
    },
    /// `power-loss@` without a block count.
    #[error("power-loss@{0}: expected a count of flash blocks, e.g. power-loss@5")]
    PowerLoss(String),
    /// An item that is neither `key=value` nor `disconnect@WHEN`.
    #[error("'{0}': expected key=value or disconnect@WHEN")]
    NotKeyValue(String),
    /// A key the fault layer does not know.
    #[error("unknown fault '{0}' (known: corrupt=P, drop=P, stall=DUR@WHEN, disconnect@WHEN, power-loss@BLOCKS, descriptor-fail (USB), seed=N; WHEN is a time like 3s or a byte count like 200KB)")]
    Unknown(String),
}

fn parse_duration(s: &str) -> Result<Duration, FaultSpecError> {
    let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else {
        return Err(FaultSpecError::NoUnit(s.into()));
    };
    let v: f64 = num
        .parse()
        .map_err(|_| FaultSpecError::NotDuration(s.into()))?;
    if !(0.0..3600.0).contains(&v) {
        return Err(FaultSpecError::OutOfRange(s.into()));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

fn parse_trigger(s: &str) -> Result<Trigger, FaultSpecError> {
    for (suffix, mult) in [("MB", 1_000_000u64), ("KB", 1000), ("B", 1)] {
        if let Some(v) = s.strip_suffix(suffix) {
            let n: u64 = v
                .parse()
                .map_err(|_| FaultSpecError::NotByteCount(s.into()))?;
            return Ok(Trigger::AfterBytes(n * mult));
        }
    }
    parse_duration(s).map(Trigger::After)
}

fn not_number(key: &str, value: &str) -> FaultSpecError {
    FaultSpecError::NotNumber {
        key: key.into(),
        value: value.into(),
    }
}

fn parse_prob(key: &str, v: &str) -> Result<f64, FaultSpecError> {
    let p: f64 = v.parse().map_err(|_| not_number(key, v))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(FaultSpecError::NotProbability {
            key: key.into(),
            value: v.into(),
        });
    }
    Ok(p)
}

impl std::str::FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut spec = FaultSpec::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Some(at) = item.strip_prefix("disconnect@") {
                spec.disconnect = Some(parse_trigger(at)?);
                continue;
            }
            if item == "descriptor-fail" {
                spec.descriptor_fail = true;
                continue;
            }
            if let Some(n) = item.strip_prefix("power-loss@") {
                let blocks = n
                    .strip_suffix("blocks")
                    .unwrap_or(n)
                    .parse()
                    .map_err(|_| FaultSpecError::PowerLoss(n.into()))?;
                spec.power_loss_after_blocks = Some(blocks);
                continue;
            }
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| FaultSpecError::NotKeyValue(item.into()))?;
            match key {
                "corrupt" => spec.corrupt = parse_prob(key, value)?,
                "drop" => spec.drop = parse_prob(key, value)?,
                "seed" => spec.seed = value.parse().map_err(|_| not_number("seed", value))?,
                "stall" => {
                    let (d, at) = value.split_once('@').unwrap_or((value, "0s"));
                    spec.stall = Some((parse_duration(d)?, parse_trigger(at)?));
                }
                other => return Err(FaultSpecError::Unknown(other.into())),
            }
        }
        Ok(spec)
    }
}

/// What the fault layer decides for the next piece of serving.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Carry on.
    Continue,
    /// Sleep this long, touching nothing.
    Stall(Duration),
    /// Drop the connection.
    Disconnect,
}

/// The fault layer's state over one serving session.
pub struct Faults {
    spec: FaultSpec,
    rng: ChaCha8Rng,
    sent: u64,
    stalled: bool,
    disconnected: bool,
}

impl Faults {
    /// A fault layer for `spec`.
    pub fn new(spec: FaultSpec) -> Self {
        Faults {
            rng: ChaCha8Rng::seed_from_u64(spec.seed),
            spec,
            sent: 0,
            stalled: false,
            disconnected: false,
        }
    }

    /// No faults at all.
    pub fn none() -> Self {
        Self::new(FaultSpec::default())
    }

    fn due(&self, t: Trigger, elapsed: Duration) -> bool {
        match t {
            Trigger::After(d) => elapsed >= d,
            Trigger::AfterBytes(n) => self.sent >= n,
        }
    }

    /// Checks the one-off faults, `elapsed` after the host's first byte.
    pub fn check(&mut self, elapsed: Duration) -> Action {
        if let Some(t) = self.spec.disconnect {
            if !self.disconnected && self.due(t, elapsed) {
                self.disconnected = true;
                return Action::Disconnect;
            }
        }
        if let Some((d, t)) = self.spec.stall {
            if !self.stalled && self.due(t, elapsed) {
                self.stalled = true;
                return Action::Stall(d);
            }
        }
        Action::Continue
    }

    /// Applies byte faults to data about to be sent and counts it.
    pub fn outgoing(&mut self, data: &[u8]) -> Vec<u8> {
        self.sent += data.len() as u64;
        self.mangle(data)
    }

    /// Applies byte faults to data just received.
    pub fn incoming(&mut self, data: &[u8]) -> Vec<u8> {
        self.mangle(data)
    }

    fn mangle(&mut self, data: &[u8]) -> Vec<u8> {
        if self.spec.corrupt == 0.0 && self.spec.drop == 0.0 {
            return data.to_vec();
        }
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if self.spec.drop > 0.0 && self.rng.gen_bool(self.spec.drop) {
                continue;
            }
            if self.spec.corrupt > 0.0 && self.rng.gen_bool(self.spec.corrupt) {
                out.push(b ^ (1 << self.rng.gen_range(0..8)));
            } else {
                out.push(b);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_errors_say_what_is_known() {
        let s: FaultSpec = "corrupt=0.01,stall=2s@3s,disconnect@200KB,seed=4"
            .parse()
            .unwrap();
        assert_eq!(s.corrupt, 0.01);
        assert_eq!(
            s.stall,
            Some((
                Duration::from_secs(2),
                Trigger::After(Duration::from_secs(3))
            ))
        );
        assert_eq!(s.disconnect, Some(Trigger::AfterBytes(200_000)));
        assert_eq!(s.seed, 4);
        let p: FaultSpec = "power-loss@5".parse().unwrap();
        assert_eq!(p.power_loss_after_blocks, Some(5));
        let e = "jitter=3".parse::<FaultSpec>().unwrap_err().to_string();
        assert!(
            e.contains("unknown fault 'jitter'") && e.contains("corrupt=P"),
            "{e}"
        );
        assert!("corrupt=2".parse::<FaultSpec>().is_err());
        assert!("stall=2@1s"
            .parse::<FaultSpec>()
            .unwrap_err()
            .to_string()
            .contains("needs a unit"));
    }

    #[test]
    fn corruption_rate_is_about_right_and_deterministic() {
        let spec: FaultSpec = "corrupt=0.01".parse().unwrap();
        let data = vec![0u8; 100_000];
        let a = Faults::new(spec.clone()).outgoing(&data);
        let b = Faults::new(spec).outgoing(&data);
        assert_eq!(a, b);
        let flipped = a.iter().filter(|&&x| x != 0).count();
        assert!((800..1200).contains(&flipped), "{flipped}");
    }

    #[test]
    fn one_off_faults_fire_once() {
        let mut f = Faults::new("stall=1s@10B,disconnect@5s".parse().unwrap());
        assert_eq!(f.check(Duration::ZERO), Action::Continue);
        f.outgoing(&[0; 10]);
        assert_eq!(
            f.check(Duration::ZERO),
            Action::Stall(Duration::from_secs(1))
        );
        assert_eq!(f.check(Duration::ZERO), Action::Continue);
        assert_eq!(f.check(Duration::from_secs(5)), Action::Disconnect);
        assert_eq!(f.check(Duration::from_secs(6)), Action::Continue);
    }
}
