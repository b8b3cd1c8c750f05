//! Fault injection for tests, compiled only with the `testing` cargo feature: a message that
//! makes an actor panic, and the connections that tests may panic (kept only when the
//! `fault_injection` setting is on).

use std::collections::HashMap;
use std::sync::Mutex;

use kameo::actor::WeakRecipient;
use switchboard_engine::ConnId;

/// The actor panics while handling this (rooms and connections handle it).
pub struct InjectPanic;

/// Connections by id, so a test can panic one.
#[derive(Default)]
pub(crate) struct Targets {
    conns: Mutex<HashMap<ConnId, WeakRecipient<InjectPanic>>>,
}

impl Targets {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, WeakRecipient<InjectPanic>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, conn: ConnId, target: WeakRecipient<InjectPanic>) {
        self.conns().insert(conn, target);
    }

    pub(crate) fn remove(&self, conn: ConnId) {
        self.conns().remove(&conn);
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<kameo::actor::Recipient<InjectPanic>> {
        self.conns().get(&conn).and_then(WeakRecipient::upgrade)
    }
}
