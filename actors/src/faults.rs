//! Fault injection for tests, compiled only with the `testing` cargo feature: a message that
//! makes a room's actor panic, and the connections that tests may panic (kept only when the
//! `fault_injection` setting is on). A connection is told through its queue
//! (`Notice::Panic`), the one thing its loop waits on, so the loop has the same shape in test
//! builds as in release ones.

use std::collections::HashMap;
use std::sync::Mutex;

use switchboard_engine::ConnId;

use crate::outbound::Outbound;

/// The room's actor panics while handling this.
pub struct InjectPanic;

/// Connections by id, so a test can panic one.
#[derive(Default)]
pub(crate) struct Targets {
    conns: Mutex<HashMap<ConnId, Outbound>>,
}

impl Targets {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Outbound>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, conn: ConnId, target: Outbound) {
        self.conns().insert(conn, target);
    }

    pub(crate) fn remove(&self, conn: ConnId) {
        self.conns().remove(&conn);
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<Outbound> {
        self.conns().get(&conn).cloned()
    }
}
