//! The deps gate (being written).

mod gate;

pub use gate::run;
