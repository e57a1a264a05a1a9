//! The integration gate: the running frontend reaches the backend
//! (`integration.frontend_backend`) through a correctly configured proxy
//! (`integration.api_proxy`), with CORS (`integration.cors`), WebSocket connections
//! (`integration.websocket`), static assets (`integration.static_assets`) and the CDN
//! (`integration.cdn`) working — locally against the services the startup gate left running,
//! or remotely against `--base-url`/`--frontend-url`/`--backend-url`.

mod api_proxy;
mod cdn;
mod client;
mod cors;
mod frontend_backend;
#[doc(hidden)]
pub mod fuzz;
mod gate;
mod html;
mod nginx;
mod static_assets;
mod targets;
mod websocket;

pub(crate) use api_proxy::ApiProxyEvidence;
pub(crate) use cdn::CdnEvidence;
pub(crate) use cors::CorsEvidence;
pub(crate) use frontend_backend::FrontendBackendEvidence;
pub(crate) use gate::TargetEvidence;
pub use gate::run;
pub(crate) use static_assets::StaticAssetsEvidence;
pub(crate) use targets::read_small;
pub(crate) use websocket::WebsocketEvidence;
