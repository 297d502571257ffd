//! The training curve both applications write: one row per iteration, to training.csv, to
//! run.h5 `/training` and to checkpoints ([`crate::io::codec::Row`]).

/// One row of training.csv (`fit` stores −ELBO as the loss and the validation ELBO as the
/// energy column).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainingRow {
    pub iteration: usize,
    pub loss: f64,
    pub energy: f64,
    pub learning_rate: f64,
    pub seconds: f64,
}

impl TrainingRow {
    /// The row as the checkpoint codec stores it.
    pub fn to_row(&self) -> crate::io::codec::Row<4> {
        (self.iteration, [self.loss, self.energy, self.learning_rate, self.seconds])
    }
    /// What [`TrainingRow::to_row`] gave.
    pub fn from_row((iteration, [loss, energy, learning_rate, seconds]): crate::io::codec::Row<4>) -> Self {
        TrainingRow { iteration, loss, energy, learning_rate, seconds }
    }
}

/// training.csv: `iteration,loss,energy,learning_rate,seconds`, one row per iteration.
pub fn training_csv(rows: &[TrainingRow]) -> String {
    let mut s = String::from("iteration,loss,energy,learning_rate,seconds\n");
    for r in rows {
        s.push_str(&format!("{},{:.10e},{:.10e},{:.6e},{:.3}\n", r.iteration, r.loss, r.energy, r.learning_rate, r.seconds));
    }
    s
}
