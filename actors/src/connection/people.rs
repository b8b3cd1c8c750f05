//! The people commands as tasks off the connection's loop (see `tasks`): `profiles`,
//! `set_profile`, `find_users`. The rules are [`crate::people`]'s, shared with HTTP.

use switchboard_engine::protocol::{self as p, ServerFrame};

use super::tasks::{Ctx, Effect};
use crate::error::Refused;
use crate::people;

impl Ctx {
    pub(super) async fn profiles(&self, c: p::Profiles) -> Result<Effect, Refused> {
        let users = people::profiles(&self.hub, &c.users).await?;
        let reply = ServerFrame::Profiles(p::ProfilesReply { rid: c.rid, users });
        Ok(Effect::Reply(Box::new(reply)))
    }

    /// Answered `done`; the user's other connections get `profile_changed`.
    pub(super) async fn set_profile(&self, c: p::SetProfile) -> Result<Effect, Refused> {
        let (name, status) = (c.display_name.as_deref(), c.status.as_deref());
        people::set_profile(&self.hub, self.me, self.conn, name, status).await?;
        Ok(Effect::Reply(Box::new(ServerFrame::Done(p::Done {
            rid: c.rid,
        }))))
    }

    pub(super) async fn find_users(&self, c: p::FindUsers) -> Result<Effect, Refused> {
        let users = people::find_users(&self.hub, self.me, &c.prefix, c.limit).await?;
        let reply = ServerFrame::Profiles(p::ProfilesReply { rid: c.rid, users });
        Ok(Effect::Reply(Box::new(reply)))
    }
}
