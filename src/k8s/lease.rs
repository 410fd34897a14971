//! Leader election over a `coordination.k8s.io` Lease, as Kubernetes' own
//! controllers do it (client-go's leaderelection): the holder renews the Lease
//! every retry period; another replica takes it once its record has not
//! changed for the lease duration, timed by that replica's own clock (so clock
//! skew between nodes does not matter). Every write is conditional on the
//! Lease's resourceVersion, so two replicas can never both take it.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::Api;
use tokio::sync::watch;

/// One replica's side of the election.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// The Lease's resourceVersion when last read, and when (our clock) it was
    /// first seen: the holder is gone when it stays for `duration`.
    observed: Option<(String, Instant)>,
}

impl Elector {
    pub fn new(api: Api<Lease>, name: &str, identity: &str, duration: Duration) -> Elector {
        Elector {
            api,
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
            observed: None,
        }
    }

    /// How often the holder renews and the others look: a fifth of the duration.
    pub fn retry_period(&self) -> Duration {
        self.duration / 5
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// Takes the Lease if it is free or expired, renews it if it is ours.
    /// True when this replica holds it now.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let Some(lease) = super::deadline_kube(self.api.get_opt(&self.name)).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(self.duration_seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match super::deadline_kube(self.api.create(&PostParams::default(), &lease)).await
            {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        let seen_at = match &self.observed {
            Some((old, at)) if *old == rv => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((rv, at));
                at
            }
        };
        let ours = holder.as_deref() == Some(self.identity.as_str());
        let their_duration = Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(1).max(1)).unwrap_or(1),
        );
        let expired = holder.is_none() || seen_at.elapsed() >= their_duration;
        if !ours && !expired {
            return Ok(false);
        }
        let mut taken = lease;
        taken.spec = Some(LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration_seconds()),
            acquire_time: if ours {
                spec.acquire_time
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours {
                spec.lease_transitions.unwrap_or(0)
            } else {
                spec.lease_transitions.unwrap_or(0).saturating_add(1)
            }),
            ..spec
        });
        match super::deadline_kube(self.api.replace(&self.name, &PostParams::default(), &taken))
            .await
        {
            Ok(written) => {
                if let Some(rv) = written.metadata.resource_version {
                    self.observed = Some((rv, Instant::now()));
                }
                Ok(true)
            }
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up if this replica holds it, so that another takes it
    /// at its next look instead of after the duration.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = super::deadline_kube(self.api.get_opt(&self.name)).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        if let Err(e) =
            super::deadline_kube(self.api.replace(&self.name, &PostParams::default(), &lease)).await
        {
            tracing::warn!(lease = %self.name, "could not release the Lease: {e}");
        }
    }

    /// Campaigns until `stop`: `leading` says whether this replica holds the
    /// Lease. A holder that cannot renew for two thirds of the duration stops
    /// leading before another replica may take over.
    pub async fn run(mut self, leading: watch::Sender<bool>, mut stop: watch::Receiver<bool>) {
        let mut last_renewed: Option<Instant> = None;
        let renew_deadline = self.duration * 2 / 3;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewed = Some(Instant::now());
                    if !leading.send_replace(true) {
                        tracing::info!(lease = %self.name, identity = %self.identity, "leading: this replica writes status");
                    }
                }
                Ok(false) => {
                    last_renewed = None;
                    if leading.send_replace(false) {
                        tracing::warn!(lease = %self.name, "lost the Lease to another replica");
                    }
                }
                Err(e) => {
                    tracing::warn!(lease = %self.name, "Lease not renewed: {e}");
                    if last_renewed.is_none_or(|at| at.elapsed() >= renew_deadline)
                        && leading.send_replace(false)
                    {
                        tracing::warn!(lease = %self.name, "stopped leading: the Lease could not be renewed for {renew_deadline:?}");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.retry_period()) => {}
                _ = stop.changed() => break,
            }
        }
        if *leading.borrow() {
            leading.send_replace(false);
            self.release().await;
        }
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
