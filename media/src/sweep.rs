//! Removing uploads never attached to a message: their slots were made, perhaps their files
//! uploaded, but no message references them after `media.unattached_secs`.

use std::time::Duration;

use switchboard_persistence::{Store, StoreError};

use crate::key::MediaKey;
use crate::store::MediaStore;

/// Uploads read from the store at a time.
const BATCH: u32 = 100;

/// Deletes every upload made before `now_ms - older_than` and never attached: its record first
/// (only while still unattached, so an upload attached meanwhile stays), then its file and
/// thumbnail. Returns how many were removed. A file that cannot be deleted is logged and left
/// (its record is gone, so no message can reference it). Meant to run every
/// `media.sweep_interval_secs`; memory is bounded by one batch.
pub async fn sweep_unattached(
    store: &dyn Store,
    media: &dyn MediaStore,
    older_than: Duration,
    now_ms: u64,
) -> Result<usize, StoreError> {
    let cut = now_ms.saturating_sub(u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX));
    let mut removed = 0;
    loop {
        let stale = store.unattached_before(cut, BATCH).await?;
        for upload in &stale {
            if !store.delete_unattached(upload.id).await? {
                continue;
            }
            removed += 1;
            let Ok(key) = MediaKey::parse(&upload.key) else {
                tracing::warn!(
                    key = upload.key,
                    "sweep: upload record with a malformed key"
                );
                continue;
            };
            for key in [key.thumbnail(), key] {
                if let Err(e) = media.delete(&key).await {
                    tracing::warn!(%key, error = %e, "sweep: cannot delete an unattached upload");
                }
            }
        }
        if stale.len() < BATCH as usize {
            return Ok(removed);
        }
    }
}
