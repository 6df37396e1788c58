//! This instance's lease: while it is renewed, its connections are alive.

use super::{unavailable, Shared};
use crate::CacheError;
use fred::prelude::*;
use fred::types::Expiration;
use std::sync::Weak;

/// Renews the lease until the instance is gone.
pub(super) async fn renew(shared: Weak<Shared>) {
    loop {
        let Some(period) = shared.upgrade().map(|s| s.lease / 4) else {
            return;
        };
        tokio::time::sleep(period).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(e) = shared.renew_lease().await {
            tracing::warn!(error = %e, "cannot renew this instance's Redis lease");
        }
    }
}

impl Shared {
    pub(super) async fn renew_lease(&self) -> Result<(), CacheError> {
        let ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        self.client
            .set::<(), _, _>(
                self.keys.lease(&self.instance),
                1,
                Some(Expiration::PX(ms)),
                None,
                false,
            )
            .await
            .map_err(unavailable)
    }
}
