//! The build gate: development and production builds succeed (`build.dev_build`,
//! `build.prod_build`) without blocking warnings (`build.no_blocking_warnings`), within size
//! budgets (`build.bundle_size`), with every referenced asset generated
//! (`build.assets_generated`).

mod assets;
mod bundle;
mod detect;
#[doc(hidden)]
pub mod fuzz;
mod gate;
mod glob;
mod orchestrated;
mod warnings;

pub(crate) use detect::{apps as detect_apps, may_need_build, package_manager};
pub use gate::run;
pub(crate) use gate::{AssetsEvidence, BuildEvidence, BundleSizeEvidence, WarningsEvidence};
