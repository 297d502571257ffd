//! SOSRA (Rackauckas & Nie 2018, "Stability-optimized high order methods and stiffness
//! detection for pathwise stiff stochastic differential equations", arXiv:1804.04344): an SRA
//! tableau whose free coefficients were chosen to enlarge the stability region. Strong order
//! 1.5, weak order 2. Coefficients as published (rounded to double precision).

use super::Tableau;

const A021: f64 = 0.6923962376159507;
const A031: f64 = -3.1609142252828395;
const A032: f64 = 4.1609142252828395;
const B021: f64 = 1.3371632704399763;
const B031: f64 = 1.442371048468624;
const B032: f64 = 1.8632741501139225;

pub const SOSRA: Tableau = Tableau {
    name: "sosra",
    weak_order: 2,
    strong_order: 1.5,
    a: &[&[], &[A021], &[A031, A032]],
    alpha: &[0.2889874966892885, 0.6859880440839937, 0.025024459226717772],
    stage_dw: &[0.0, 0.0, 0.0],
    stage_chi: &[0.0, B021, B031 + B032],
};
