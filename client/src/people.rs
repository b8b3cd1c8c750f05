//! People commands: profiles for ids, one's own profile, users by name (PROTOCOL §6.15).

use switchboard_engine::UserId;
use switchboard_engine::domain::Profile;
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame};

use crate::{Client, ClientError};

impl Client {
    /// The profiles of the users among `ids` (1 to 100) that exist.
    pub async fn profiles(&self, ids: Vec<UserId>) -> Result<Vec<Profile>, ClientError> {
        self.profiles_reply(|rid| ClientFrame::Profiles(p::Profiles { rid, users: ids }))
            .await
    }

    /// Changes this user's display name and status; `None` keeps one as it is, `Some("")`
    /// clears it. The user's other connections get `profile_changed`.
    pub async fn set_profile(
        &self,
        display_name: Option<&str>,
        status: Option<&str>,
    ) -> Result<(), ClientError> {
        let (display_name, status) = (display_name.map(str::to_owned), status.map(str::to_owned));
        self.request(|rid| {
            ClientFrame::SetProfile(p::SetProfile {
                rid,
                display_name,
                status,
            })
        })
        .await
        .map(drop)
    }

    /// Users whose account or display name starts with `prefix`, ignoring case, by account
    /// name; at most `limit` (20 at most).
    pub async fn find_users(&self, prefix: &str, limit: u32) -> Result<Vec<Profile>, ClientError> {
        let prefix = prefix.to_owned();
        self.profiles_reply(|rid| ClientFrame::FindUsers(p::FindUsers { rid, prefix, limit }))
            .await
    }

    async fn profiles_reply(
        &self,
        build: impl FnOnce(u64) -> ClientFrame,
    ) -> Result<Vec<Profile>, ClientError> {
        match self.request(build).await? {
            ServerFrame::Profiles(reply) => Ok(reply.users),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }
}
