//! Running the integration gate: decide what to probe (starting the app when nothing runs and
//! the run is local), read the nginx configuration once, then run the six checks in catalogue
//! order, each reported as soon as it completes.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use super::client::Client;
use super::targets::{self, Targets, Unavailable};
use super::{api_proxy, cdn, cors, frontend_backend, static_assets, websocket};
use crate::check::{CheckId, CheckResult, GateId, GateResult, Status};
use crate::gates::{GateCtx, GateScope};
use crate::report::EventSink;

/// Deadline of one probe request when `[integration] request_timeout` is not set.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Run the six integration checks.
pub async fn run(ctx: &GateCtx, sink: &EventSink) -> GateResult {
    let scope = GateScope::begin(ctx, sink, GateId::Integration);
    let timeout = ctx
        .project
        .config
        .integration
        .request_timeout
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT)
        .min(ctx.timeout);
    let client = Client::new(ctx, timeout);
    let runtime_wanted = GateId::Integration
        .checks()
        .iter()
        .any(|&id| id != CheckId::IntegrationCdn && scope.wants(id));
    let resolved: Result<Targets, Unavailable> = if runtime_wanted {
        targets::resolve(ctx, sink, timeout).await
    } else {
        Err(Unavailable {
            skip: true,
            reason: "no check that needs the running app is selected".to_owned(),
        })
    };
    let nginx = api_proxy::load_nginx(&ctx.project);
    // The CDN check needs no running app: a failed start must not hide a stale CDN.
    let offline = Targets::default();

    for id in GateId::Integration.checks() {
        let needs_frontend = matches!(
            id,
            CheckId::IntegrationFrontendBackend
                | CheckId::IntegrationCors
                | CheckId::IntegrationStaticAssets
        );
        let unknown_roles = resolved.as_ref().ok().and_then(|t| {
            t.roles
                .unknown
                .clone()
                .filter(|_| !matches!(id, CheckId::IntegrationApiProxy | CheckId::IntegrationCdn))
                .or_else(|| t.roles.no_frontend.clone().filter(|_| needs_frontend))
        });
        scope
            .check(id, async {
                let mut check = if let Some(why) = unknown_roles {
                    skipped(id, &format!("roles not identified: {why}"))
                } else {
                    match (id, &resolved) {
                        (CheckId::IntegrationApiProxy, r) => {
                            api_proxy::check(&client, r.as_ref(), &nginx).await
                        }
                        (CheckId::IntegrationCdn, r) => {
                            cdn::check(&client, r.as_ref().unwrap_or(&offline)).await
                        }
                        (_, Err(u)) => unavailable(id, u),
                        (CheckId::IntegrationFrontendBackend, Ok(t)) => {
                            frontend_backend::check(&client, t).await
                        }
                        (CheckId::IntegrationCors, Ok(t)) => cors::check(&client, t).await,
                        (CheckId::IntegrationWebsocket, Ok(t)) => {
                            websocket::check(&client, t, &nginx).await
                        }
                        (CheckId::IntegrationStaticAssets, Ok(t)) => {
                            static_assets::check(&client, t, &nginx).await
                        }
                        (_, Ok(_)) => skipped(id, "not an integration check"),
                    }
                };
                if let Ok(t) = &resolved {
                    check = check.with_evidence(&TargetEvidence::of(t));
                }
                check
            })
            .await;
    }
    scope.finish()
}

/// What the gate adds to the evidence of each of its checks once it knows what it probes (also
/// to a check skipped before probing anything).
#[derive(Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(crate) struct TargetEvidence {
    /// `local` (the app this run started or found on this machine) or `remote` (configured
    /// URLs); absent when nothing to probe was resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) target_mode: Option<TargetMode>,
    /// How the frontend and backend roles were decided, one sentence per service; absent when
    /// there was nothing to decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) roles: Option<Vec<String>>,
}

/// Where the probed app runs.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TargetMode {
    Local,
    Remote,
}

impl TargetEvidence {
    fn of(targets: &Targets) -> TargetEvidence {
        TargetEvidence {
            target_mode: Some(if targets.remote {
                TargetMode::Remote
            } else {
                TargetMode::Local
            }),
            roles: (!targets.roles.evidence.is_empty()).then(|| targets.roles.evidence.clone()),
        }
    }
}

fn skipped(id: CheckId, reason: &str) -> CheckResult {
    CheckResult::new(
        id,
        Status::Skipped {
            reason: reason.to_owned(),
        },
        reason,
    )
}

/// Nothing runs to probe: skipped when there was nothing to start, an error when it failed to
/// start (the verdict is unknown, not negative).
fn unavailable(id: CheckId, why: &Unavailable) -> CheckResult {
    if why.skip {
        skipped(id, &why.reason)
    } else {
        CheckResult::new(id, Status::Error, format!("cannot probe: {}", why.reason))
    }
}
