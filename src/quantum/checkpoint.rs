//! Checkpoints: everything a training run needs to continue bit for bit after it stopped —
//! the drift network (burnpack record, parameter ids included, so the optimiser state still
//! matches its parameters), the Adam state (burnpack), the walkers, the noise-generator state,
//! the learning-rate scale, the rows so far, the NaN-recovery rollback state and the
//! convergence monitor's points (a trailing section; files written before it have none).
//!
//! File layout (`checkpoint.bin`, little-endian): the magic `PATHSPACE-CHECKPOINT-1\n`, then
//! length-prefixed sections in a fixed order, then a 64-bit FNV-1a checksum of everything before
//! it. Floats are stored as their bits. A truncated or altered file fails the checksum before
//! anything is decoded. Written atomically ([`crate::io::write_atomic`]) with the shared codec ([`crate::io::codec`]).

use crate::base::error::{Error, Result};
use crate::io::run::RunCheckpoint;
use crate::quantum::nn::DriftNet;
use crate::base::noise::Noise;
use crate::io::training::TrainingRow;
use crate::quantum::train::{MonitorPoint, TrainState};
use crate::io::codec::{Decoder, Encoder, load_module, load_optimizer, module_bytes, optimizer_bytes, record_error};
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor, TensorData};
use std::path::Path;

const MAGIC: &[u8] = b"PATHSPACE-CHECKPOINT-1\n";

/// Network, optimiser and walkers at one moment, serialised.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub model: Vec<u8>,
    pub optim: Vec<u8>,
    pub walker_shape: [usize; 3],
    pub walkers: Vec<f64>,
}

/// A training run between two iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The problem file's text: a resume must use the same problem.
    pub problem_text: String,
    pub seed: u64,
    /// Next iteration to run.
    pub iteration: usize,
    pub lr_scale: f64,
    pub recoveries: usize,
    pub seconds: f64,
    pub rows: Vec<TrainingRow>,
    /// The training noise stream, serialised (serde JSON of [`Noise`]).
    pub noise: String,
    pub current: Snapshot,
    pub previous: Option<Snapshot>,
    /// The convergence monitor's points (E_L variances need the networks of their iterations,
    /// so a resumed run reads them rather than recomputing them).
    pub monitor: Vec<MonitorPoint>,
    /// A run over several ranks ([`crate::parallel`]): ranks 1, 2, … in order (rank 0's walkers
    /// and stream are the fields above). Empty for a one-process run.
    pub shards: Vec<Shard>,
}

/// What a rank other than 0 adds to a checkpoint: its walkers (now and at the rollback target)
/// and its training noise stream. The network and optimiser are the same on every rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Shard {
    pub noise: String,
    /// Walkers only (empty model and optimiser records).
    pub current: Snapshot,
    pub previous: Option<Snapshot>,
}

const SHARD_MAGIC: &[u8] = b"PATHSPACE-SHARD-1\n";

impl Shard {
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Encoder::new(SHARD_MAGIC);
        write_shard(&mut w, self);
        w.seal()
    }

    fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let mut r = Decoder::open(path, bytes, SHARD_MAGIC, "pathspace checkpoint shard")?;
        let shard = read_shard(&mut r, "shards")?;
        r.finish()?;
        Ok(shard)
    }
}

impl RunCheckpoint for Checkpoint {
    /// Serialises to the file layout described in the module comment.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Encoder::new(MAGIC);
        w.bytes(self.problem_text.as_bytes());
        w.u64(self.seed);
        w.u64(self.iteration as u64);
        w.f64(self.lr_scale);
        w.u64(self.recoveries as u64);
        w.f64(self.seconds);
        w.rows(&self.rows.iter().map(TrainingRow::to_row).collect::<Vec<_>>());
        w.bytes(self.noise.as_bytes());
        write_snapshot(&mut w, &self.current);
        write_optional_snapshot(&mut w, self.previous.as_ref());
        w.u64(self.monitor.len() as u64);
        for m in &self.monitor {
            w.u64(m.iteration as u64);
            w.f64(m.energy);
            w.f64(m.energy_error);
            // NaN bits stand for "no variance".
            w.f64(m.local_energy_variance.unwrap_or(f64::NAN));
        }
        // Written only for several ranks, so one-process files are as before.
        if !self.shards.is_empty() {
            w.u64(self.shards.len() as u64);
            for shard in &self.shards {
                write_shard(&mut w, shard);
            }
        }
        w.seal()
    }

    /// Parses a checkpoint; `path` is for messages. Any damage gives an error naming the part.
    fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |field: &str, message: &str| record_error(path, field, message);
        let mut r = Decoder::open(path, bytes, MAGIC, "pathspace checkpoint")?;
        let problem_text = r.string("problem")?;
        let seed = r.u64("seed")?;
        let iteration = r.u64("iteration")? as usize;
        let lr_scale = r.f64("lr_scale")?;
        // It starts at 1 and only halves: anything else is a damaged or crafted file.
        if !(lr_scale > 0.0 && lr_scale <= 1.0) {
            return Err(bad("lr_scale", &format!("{lr_scale} is not in (0, 1]")));
        }
        let recoveries = r.u64("recoveries")? as usize;
        let seconds = r.f64("seconds")?;
        let rows = r.rows("rows")?.into_iter().map(TrainingRow::from_row).collect();
        let noise = r.string("noise")?;
        let current = read_snapshot(&mut r, "current")?;
        let previous = read_optional_snapshot(&mut r, "previous")?;
        let mut monitor = Vec::new();
        if r.remaining() > 0 {
            let n = r.u64("monitor")? as usize;
            if n > r.remaining() / 32 {
                return Err(bad("monitor", "point count larger than the file"));
            }
            for _ in 0..n {
                let iteration = r.u64("monitor")? as usize;
                let (energy, energy_error, variance) = (r.f64("monitor")?, r.f64("monitor")?, r.f64("monitor")?);
                monitor.push(MonitorPoint { iteration, energy, energy_error, local_energy_variance: (!variance.is_nan()).then_some(variance) });
            }
        }
        let mut shards = Vec::new();
        if r.remaining() > 0 {
            let n = r.u64("shards")? as usize;
            if n > r.remaining() / 24 {
                return Err(bad("shards", "rank count larger than the file"));
            }
            for _ in 0..n {
                shards.push(read_shard(&mut r, "shards")?);
            }
        }
        r.finish()?;
        Ok(Checkpoint { problem_text, seed, iteration, lr_scale, recoveries, seconds, rows, noise, current, previous, monitor, shards })
    }

    /// Writes atomically to `path`.
    fn problem_text(&self) -> &str {
        &self.problem_text
    }
    fn seed(&self) -> u64 {
        self.seed
    }
}

impl Snapshot {
    fn capture(net: &DriftNet, optim: &ModuleOptimizer, walkers: &Tensor<3>) -> Result<Self> {
        let model = module_bytes(net)?;
        let optim = optimizer_bytes(optim)?;
        let walker_shape = walkers.dims();
        let walkers = walkers.clone().into_data().try_into_vec_as::<f64>().map_err(|e| Error::Other(format!("{e:?}")))?;
        Ok(Snapshot { model, optim, walker_shape, walkers })
    }

    /// Restores onto `template` (a freshly built network of the same problem) on `device`.
    fn restore(&self, path: &Path, template: DriftNet, device: &Device) -> Result<(DriftNet, ModuleOptimizer, Tensor<3>)> {
        let net = load_module(path, template, &self.model)?;
        let optim = load_optimizer(path, &self.optim)?;
        let [w, p, d] = self.walker_shape;
        if w * p * d != self.walkers.len() {
            return Err(record_error(path, "walkers", "shape does not match the stored values"));
        }
        let walkers = Tensor::<3>::from_data(TensorData::new(self.walkers.clone(), self.walker_shape), device);
        Ok((net, optim, walkers))
    }
}

impl Checkpoint {
    /// Captures `state` and the noise stream that goes with it.
    pub fn capture(problem_text: &str, seed: u64, state: &TrainState, noise: &Noise) -> Result<Self> {
        let current = Snapshot::capture(&state.net, &state.optim, &state.walkers)?;
        let previous = match &state.previous {
            Some((n, o, w)) => Some(Snapshot::capture(n, o, w)?),
            None => None,
        };
        Ok(Checkpoint {
            problem_text: problem_text.to_string(),
            seed,
            iteration: state.iteration,
            lr_scale: state.lr_scale,
            recoveries: state.recoveries,
            seconds: state.rows.last().map_or(state.seconds_offset, |r| r.seconds),
            rows: state.rows.clone(),
            noise: serde_json::to_string(noise).map_err(|e| Error::Other(format!("checkpoint: noise: {e}")))?,
            current,
            previous,
            monitor: state.monitor.clone(),
            shards: Vec::new(),
        })
    }

    /// [`Self::capture`] on every rank of `comm` (collective): rank 0 gets the checkpoint with
    /// every other rank's walkers and stream as [`Shard`]s; the other ranks get `None`.
    pub fn capture_on(comm: &dyn crate::parallel::Comm, problem_text: &str, seed: u64, state: &TrainState, noise: &Noise) -> Result<Option<Self>> {
        let mut checkpoint = Self::capture(problem_text, seed, state, noise)?;
        if comm.size() == 1 {
            return Ok(Some(checkpoint));
        }
        let walkers_only = |s: &Snapshot| Snapshot { model: Vec::new(), optim: Vec::new(), ..s.clone() };
        let mine = Shard {
            noise: checkpoint.noise.clone(),
            current: walkers_only(&checkpoint.current),
            previous: checkpoint.previous.as_ref().map(walkers_only),
        };
        let all = comm.all_gather_bytes(&mine.to_bytes());
        if !comm.is_root() {
            return Ok(None);
        }
        let here = Path::new("(gathered shard)");
        checkpoint.shards = all[1..].iter().map(|b| Shard::from_bytes(here, b)).collect::<Result<_>>()?;
        Ok(Some(checkpoint))
    }

    /// Ranks whose walkers the checkpoint holds.
    pub fn ranks(&self) -> usize {
        1 + self.shards.len()
    }

    /// [`Self::into_state`] for rank `rank` of a run over `ranks` ranks, which must be the rank
    /// count the checkpoint was written with (an error naming the file and `ranks` otherwise).
    pub fn into_state_of_rank(&self, path: &Path, template: DriftNet, device: &Device, rank: usize, ranks: usize) -> Result<(TrainState, Noise)> {
        if ranks != self.ranks() {
            return Err(record_error(path, "ranks", format!("written by a run over {} rank(s), resumed over {ranks}; resume with the same rank count", self.ranks())));
        }
        if rank == 0 {
            return self.into_state(path, template, device);
        }
        let shard = &self.shards[rank - 1];
        let mut own = self.clone();
        own.noise = shard.noise.clone();
        own.current = Snapshot { walker_shape: shard.current.walker_shape, walkers: shard.current.walkers.clone(), ..self.current.clone() };
        own.previous = match (&self.previous, &shard.previous) {
            (Some(p), Some(s)) => Some(Snapshot { walker_shape: s.walker_shape, walkers: s.walkers.clone(), ..p.clone() }),
            (None, None) => None,
            _ => return Err(record_error(path, "shards", format!("rank {rank}'s rollback walkers do not match rank 0's"))),
        };
        own.shards.clear();
        own.into_state(path, template, device)
    }

    /// The training state and noise stream, with networks loaded into clones of `template`
    /// (which must be built for the same problem, on the training device). `path` is for messages.
    pub fn into_state(&self, path: &Path, template: DriftNet, device: &Device) -> Result<(TrainState, Noise)> {
        let (net, optim, walkers) = self.current.restore(path, template.clone(), device)?;
        let previous = match &self.previous {
            Some(s) => Some(s.restore(path, template, device)?),
            None => None,
        };
        let noise = Noise::from_json(&self.noise).map_err(|e| record_error(path, "noise", e))?;
        let state = TrainState {
            net,
            optim,
            walkers,
            iteration: self.iteration,
            lr_scale: self.lr_scale,
            recoveries: self.recoveries,
            rows: self.rows.clone(),
            previous,
            seconds_offset: self.seconds,
            monitor: self.monitor.clone(),
            plateau: None,
            last: false,
        };
        Ok((state, noise))
    }

}

/// The sections of a [`Snapshot`]: model and optimiser records, walker shape, walkers.
fn write_snapshot(w: &mut Encoder, s: &Snapshot) {
    w.bytes(&s.model);
    w.bytes(&s.optim);
    for d in s.walker_shape {
        w.u64(d as u64);
    }
    w.f64s(&s.walkers);
}

/// A presence flag (0 or 1), then the snapshot if present.
fn write_optional_snapshot(w: &mut Encoder, s: Option<&Snapshot>) {
    w.u64(s.is_some() as u64);
    if let Some(s) = s {
        write_snapshot(w, s);
    }
}

fn write_shard(w: &mut Encoder, s: &Shard) {
    w.bytes(s.noise.as_bytes());
    write_snapshot(w, &s.current);
    write_optional_snapshot(w, s.previous.as_ref());
}

fn read_snapshot(r: &mut Decoder, field: &str) -> Result<Snapshot> {
    let model = r.bytes(field)?.to_vec();
    let optim = r.bytes(field)?.to_vec();
    let walker_shape = [r.u64(field)? as usize, r.u64(field)? as usize, r.u64(field)? as usize];
    let walkers = r.f64s(field)?;
    Ok(Snapshot { model, optim, walker_shape, walkers })
}

/// What [`write_optional_snapshot`] wrote.
fn read_optional_snapshot(r: &mut Decoder, field: &str) -> Result<Option<Snapshot>> {
    match r.u64(field)? {
        0 => Ok(None),
        1 => Ok(Some(read_snapshot(r, field)?)),
        _ => Err(r.error(field, "invalid flag")),
    }
}

fn read_shard(r: &mut Decoder, field: &str) -> Result<Shard> {
    let noise = r.string(field)?;
    let current = read_snapshot(r, field)?;
    let previous = read_optional_snapshot(r, field)?;
    Ok(Shard { noise, current, previous })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let snap = Snapshot { model: vec![1, 2, 3], optim: vec![4, 5], walker_shape: [1, 1, 2], walkers: vec![0.5, -1.25] };
        Checkpoint {
            problem_text: "name = \"x\"".into(),
            seed: 3,
            iteration: 2,
            lr_scale: 0.5,
            recoveries: 1,
            seconds: 1.5,
            rows: vec![TrainingRow { iteration: 0, loss: 1.0, energy: 2.0, learning_rate: 1e-3, seconds: 0.1 }],
            noise: serde_json::to_string(&Noise::new(9)).unwrap(),
            current: snap.clone(),
            previous: Some(snap),
            monitor: vec![
                MonitorPoint { iteration: 100, energy: 1.5, energy_error: 0.01, local_energy_variance: Some(0.25) },
                MonitorPoint { iteration: 200, energy: 1.4, energy_error: 0.02, local_energy_variance: None },
            ],
            shards: Vec::new(),
        }
    }

    /// Two ranks: the second rank's walkers and stream survive the file, each rank restores its
    /// own, and a resume over another rank count is refused naming the field.
    #[test]
    fn shards_round_trip_and_the_rank_count_must_match() {
        let mut c = sample();
        let walkers = Snapshot { model: Vec::new(), optim: Vec::new(), walker_shape: [1, 1, 2], walkers: vec![7.0, 8.0] };
        c.shards.push(Shard { noise: serde_json::to_string(&Noise::new(10)).unwrap(), current: walkers.clone(), previous: Some(walkers) });
        let p = Path::new("ck.bin");
        let back = Checkpoint::from_bytes(p, &c.to_bytes()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.ranks(), 2);
        // Without shards the file is exactly the one-process layout.
        assert_eq!(Checkpoint::from_bytes(p, &sample().to_bytes()).unwrap().ranks(), 1);
        let device = burn::tensor::Device::flex().autodiff();
        let net = crate::quantum::nn::DriftNet::Mlp(crate::quantum::nn::MlpConfig { particles: 1, dims: 2, hidden: 2, layers: 1, skip_init: 0.0 }.init(&mut Noise::new(1), &device));
        let real = Checkpoint::capture("x", 3, &TrainState::new(net.clone(), Tensor::from_data(TensorData::new(vec![0.5, -1.25], [1, 1, 2]), &device)), &Noise::new(9)).unwrap();
        let mut two = real.clone();
        two.shards.push(Shard { noise: serde_json::to_string(&Noise::new(10)).unwrap(), current: c.shards[0].current.clone(), previous: None });
        let (state, _) = two.into_state_of_rank(p, net.clone(), &device, 1, 2).unwrap();
        assert_eq!(state.walkers.into_data().try_into_vec_as::<f64>().unwrap(), vec![7.0, 8.0]);
        let (state, _) = two.into_state_of_rank(p, net.clone(), &device, 0, 2).unwrap();
        assert_eq!(state.walkers.into_data().try_into_vec_as::<f64>().unwrap(), vec![0.5, -1.25]);
        let err = two.into_state_of_rank(p, net, &device, 0, 1).err().expect("rank count refused").to_string();
        assert!(err.contains("ck.bin") && err.contains("ranks"), "{err}");
    }

    /// Issue 37: a checkpoint re-sealed with a valid checksum but a learning-rate scale of NaN,
    /// or a noise stream in the all-zero state, is refused naming the field (both hung before).
    #[test]
    fn crafted_lr_scale_and_noise_state_are_refused() {
        let p = Path::new("ck.bin");
        for lr_scale in [f64::NAN, 0.0, -1.0, 2.0, f64::INFINITY] {
            let e = Checkpoint::from_bytes(p, &Checkpoint { lr_scale, ..sample() }.to_bytes()).unwrap_err().to_string();
            assert!(e.contains("ck.bin") && e.contains("lr_scale"), "{e}");
        }
        // The saved stream with every number of its state set to 0.
        let mut zero = String::new();
        for c in sample().noise.chars() {
            if !c.is_ascii_digit() {
                zero.push(c);
            } else if !zero.ends_with('0') {
                zero.push('0');
            }
        }
        let c = Checkpoint { noise: zero, ..sample() };
        let device = burn::tensor::Device::flex().autodiff();
        let net = crate::quantum::nn::DriftNet::Mlp(crate::quantum::nn::MlpConfig { particles: 1, dims: 2, hidden: 2, layers: 1, skip_init: 0.0 }.init(&mut Noise::new(1), &device));
        let real = Checkpoint::capture("x", 3, &TrainState::new(net.clone(), Tensor::from_data(TensorData::new(vec![0.5, -1.25], [1, 1, 2]), &device)), &Noise::new(9)).unwrap();
        let crafted = Checkpoint { noise: c.noise, ..real };
        let e = crafted.into_state(p, net, &device).err().expect("refused").to_string();
        assert!(e.contains("noise") && e.contains("all zeros"), "{e}");
    }

    #[test]
    fn checkpoint_bytes_round_trip_and_damage_is_detected() {
        let c = sample();
        let bytes = c.to_bytes();
        let p = Path::new("ck.bin");
        assert_eq!(Checkpoint::from_bytes(p, &bytes).unwrap(), c);
        let truncated = Checkpoint::from_bytes(p, &bytes[..bytes.len() - 5]).unwrap_err().to_string();
        assert!(truncated.contains("ck.bin") && truncated.contains("checksum"), "{truncated}");
        let mut flipped = bytes.clone();
        flipped[MAGIC.len() + 12] ^= 1;
        assert!(Checkpoint::from_bytes(p, &flipped).is_err());
        let wrong = Checkpoint::from_bytes(p, b"hello world, not a checkpoint").unwrap_err().to_string();
        assert!(wrong.contains("magic"), "{wrong}");
    }
}
