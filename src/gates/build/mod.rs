//! The build gate (being written).

mod gate;

pub use gate::run;
