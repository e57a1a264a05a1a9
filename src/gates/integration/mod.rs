//! The integration gate (being written).

mod gate;

pub use gate::run;
