//! Checkpoints: everything a training run needs to continue bit for bit after it stopped —
//! the drift network (burnpack record, parameter ids included, so the optimiser state still
//! matches its parameters), the Adam state (burnpack), the walkers, the noise-generator state,
//! the learning-rate scale, the rows so far, the NaN-recovery rollback state and the
//! convergence monitor's points (a trailing section; files written before it have none).
//!
//! File layout (`checkpoint.bin`, little-endian): the magic `PATHSPACE-CHECKPOINT-1\n`, then
//! length-prefixed sections in a fixed order, then a 64-bit FNV-1a checksum of everything before
//! it. Floats are stored as their bits. A truncated or altered file fails the checksum before
//! anything is decoded. Written atomically ([`super::write_atomic`]).

use crate::error::{Error, Result};
use crate::nn::DriftNet;
use crate::noise::Noise;
use crate::train::{MonitorPoint, TrainState, TrainingRow};
use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"PATHSPACE-CHECKPOINT-1\n";

/// File name of the checkpoint inside a run directory.
pub const FILE_NAME: &str = "checkpoint.bin";

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
        w.shard(self);
        w.seal()
    }

    fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let mut r = Decoder::open(path, bytes, SHARD_MAGIC, "pathspace checkpoint shard")?;
        let shard = r.shard("shards")?;
        r.finish()?;
        Ok(shard)
    }
}

pub(crate) fn record_error(path: &Path, field: &str, e: impl std::fmt::Display) -> Error {
    Error::Format { path: path.to_path_buf(), field: field.to_string(), message: e.to_string() }
}

/// A module's parameters as a burnpack record (parameter ids included).
pub(crate) fn module_bytes<M: Module>(module: &M) -> Result<Vec<u8>> {
    let bytes = module.clone().into_record().into_bytes().map_err(|e| Error::Other(format!("checkpoint: cannot serialise: {e}")))?;
    Ok(bytes.to_vec())
}

/// Loads a record written by [`module_bytes`] into `template` (the same architecture).
pub(crate) fn load_module<M: Module>(path: &Path, template: M, bytes: &[u8]) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| record_error(path, "model", e))?;
    template.try_load_record(record).map_err(|e| record_error(path, "model", e))
}

/// Adam's state (moments and step counts, keyed by parameter id).
pub(crate) fn optimizer_bytes(optim: &ModuleOptimizer) -> Result<Vec<u8>> {
    Ok(optim.into_bytes().map_err(|e| Error::Other(format!("checkpoint: cannot serialise: {e}")))?.to_vec())
}

/// An Adam optimiser with the state written by [`optimizer_bytes`].
pub(crate) fn load_optimizer(path: &Path, bytes: &[u8]) -> Result<ModuleOptimizer> {
    let optim: ModuleOptimizer = AdamConfig::new().init();
    optim.from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| record_error(path, "optimizer", e))
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
        let noise: Noise = serde_json::from_str(&self.noise).map_err(|e| record_error(path, "noise", e))?;
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

    /// Serialises to the file layout described in the module comment.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Encoder::new(MAGIC);
        w.bytes(self.problem_text.as_bytes());
        w.u64(self.seed);
        w.u64(self.iteration as u64);
        w.f64(self.lr_scale);
        w.u64(self.recoveries as u64);
        w.f64(self.seconds);
        w.u64(self.rows.len() as u64);
        for r in &self.rows {
            w.u64(r.iteration as u64);
            for v in [r.loss, r.energy, r.learning_rate, r.seconds] {
                w.f64(v);
            }
        }
        w.bytes(self.noise.as_bytes());
        w.snapshot(&self.current);
        w.optional_snapshot(self.previous.as_ref());
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
                w.shard(shard);
            }
        }
        w.seal()
    }

    /// Parses a checkpoint; `path` is for messages. Any damage gives an error naming the part.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |field: &str, message: &str| record_error(path, field, message);
        let mut r = Decoder::open(path, bytes, MAGIC, "pathspace checkpoint")?;
        let problem_text = r.string("problem")?;
        let seed = r.u64("seed")?;
        let iteration = r.u64("iteration")? as usize;
        let lr_scale = r.f64("lr_scale")?;
        let recoveries = r.u64("recoveries")? as usize;
        let seconds = r.f64("seconds")?;
        let n = r.u64("rows")? as usize;
        if n > r.remaining() / 40 {
            return Err(bad("rows", "row count larger than the file"));
        }
        let mut rows = Vec::with_capacity(n);
        for _ in 0..n {
            rows.push(TrainingRow {
                iteration: r.u64("rows")? as usize,
                loss: r.f64("rows")?,
                energy: r.f64("rows")?,
                learning_rate: r.f64("rows")?,
                seconds: r.f64("rows")?,
            });
        }
        let noise = r.string("noise")?;
        let current = r.snapshot("current")?;
        let previous = r.optional_snapshot("previous")?;
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
                shards.push(r.shard("shards")?);
            }
        }
        r.finish()?;
        Ok(Checkpoint { problem_text, seed, iteration, lr_scale, recoveries, seconds, rows, noise, current, previous, monitor, shards })
    }

    /// Writes atomically to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        super::write_atomic(path, &self.to_bytes())
    }

    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|cause| Error::Read { path: path.to_path_buf(), cause })?;
        Self::from_bytes(path, &bytes)
    }

    /// The checkpoint file of a run directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }
}

/// 64-bit FNV-1a: detects truncation and bit flips (not an authentication code).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Writes the sections of a checksummed file: `magic`, length-prefixed sections, then
/// [`Encoder::seal`] appends the FNV-1a checksum. Also used by `fit` checkpoints.
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new(magic: &[u8]) -> Self {
        Encoder { buf: magic.to_vec() }
    }
    /// The finished file: everything written so far and its checksum.
    pub(crate) fn seal(mut self) -> Vec<u8> {
        let sum = fnv1a(&self.buf);
        self.u64(sum);
        self.buf
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    fn shard(&mut self, s: &Shard) {
        self.bytes(s.noise.as_bytes());
        self.snapshot(&s.current);
        self.optional_snapshot(s.previous.as_ref());
    }
    /// A presence flag (0 or 1), then the snapshot if present.
    fn optional_snapshot(&mut self, s: Option<&Snapshot>) {
        self.u64(s.is_some() as u64);
        if let Some(s) = s {
            self.snapshot(s);
        }
    }
    fn snapshot(&mut self, s: &Snapshot) {
        self.bytes(&s.model);
        self.bytes(&s.optim);
        for d in s.walker_shape {
            self.u64(d as u64);
        }
        self.u64(s.walkers.len() as u64);
        for v in &s.walkers {
            self.f64(*v);
        }
    }
}

/// Reads what an [`Encoder`] wrote; every error names the file and the section.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Decoder<'a> {
    /// Checks the magic and the checksum of `bytes` (read from `path`) before anything is decoded.
    pub(crate) fn open(path: &'a Path, bytes: &'a [u8], magic: &[u8], what: &str) -> Result<Self> {
        let bad = |field: &str, message: String| record_error(path, field, message);
        if bytes.len() < magic.len() + 8 || &bytes[..magic.len()] != magic {
            return Err(bad("header", format!("not a {what} (bad magic or too short)")));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        if fnv1a(body) != u64::from_le_bytes(tail.try_into().expect("8 bytes")) {
            return Err(bad("checksum", "truncated or corrupt (checksum mismatch)".into()));
        }
        Ok(Decoder { buf: body, at: magic.len(), path })
    }
    /// Errors unless every byte before the checksum was read.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.at != self.buf.len() {
            return Err(record_error(self.path, "trailer", "unexpected bytes after the last section"));
        }
        Ok(())
    }
    /// Bytes not read yet (a bound for counts read from the file).
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.at
    }
    pub(crate) fn string(&mut self, field: &str) -> Result<String> {
        String::from_utf8(self.bytes(field)?.to_vec()).map_err(|_| record_error(self.path, field, "not UTF-8"))
    }
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        if n > self.buf.len() - self.at {
            return Err(record_error(self.path, field, "section runs past the end of the file"));
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    pub(crate) fn u64(&mut self, field: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, field)?.try_into().expect("8 bytes")))
    }
    pub(crate) fn f64(&mut self, field: &str) -> Result<f64> {
        self.u64(field).map(f64::from_bits)
    }
    pub(crate) fn bytes(&mut self, field: &str) -> Result<&'a [u8]> {
        let n = self.u64(field)? as usize;
        self.take(n, field)
    }
    fn shard(&mut self, field: &str) -> Result<Shard> {
        let noise = self.string(field)?;
        let current = self.snapshot(field)?;
        let previous = self.optional_snapshot(field)?;
        Ok(Shard { noise, current, previous })
    }
    /// What [`Encoder::optional_snapshot`] wrote.
    fn optional_snapshot(&mut self, field: &str) -> Result<Option<Snapshot>> {
        match self.u64(field)? {
            0 => Ok(None),
            1 => Ok(Some(self.snapshot(field)?)),
            _ => Err(record_error(self.path, field, "invalid flag")),
        }
    }
    fn snapshot(&mut self, field: &str) -> Result<Snapshot> {
        let model = self.bytes(field)?.to_vec();
        let optim = self.bytes(field)?.to_vec();
        let walker_shape = [self.u64(field)? as usize, self.u64(field)? as usize, self.u64(field)? as usize];
        let n = self.u64(field)? as usize;
        let raw = self.take(n.saturating_mul(8), field)?;
        let walkers = raw.chunks_exact(8).map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8 bytes")))).collect();
        Ok(Snapshot { model, optim, walker_shape, walkers })
    }
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
        let net = crate::nn::DriftNet::Mlp(crate::nn::MlpConfig { particles: 1, dims: 2, hidden: 2, layers: 1, skip_init: 0.0 }.init(&mut Noise::new(1), &device));
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
