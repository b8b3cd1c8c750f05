//! What an upload may be: size per plan, content types, uploads per user per day. Checked
//! before any URL is made, each refusal with its own code.

use serde::{Deserialize, Serialize};
use switchboard_engine::ErrorCode;
/// A user's plan, defined with the domain types so that the store keeps it without depending
/// on this crate.
pub use switchboard_engine::domain::Plan;

/// `[media.limits]` in the node's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaLimits {
    /// Largest upload on the free plan, in bytes (2 MiB).
    pub free_max_bytes: u64,
    /// Largest upload on the premium plan, in bytes (25 MiB).
    pub premium_max_bytes: u64,
    /// Content types accepted, compared ignoring case and parameters: `text/plain;
    /// charset=utf-8` is taken as `text/plain`, the type the slot records and its upload URL
    /// signs ([`bare_type`]). Keep out types a browser would run (`text/html`,
    /// `image/svg+xml`): local downloads come from the node's own origin.
    pub allowed_types: Vec<String>,
    /// Uploads one user may start in the last 24 hours (sliding), counted from the uploads the
    /// store still holds; beyond it 4002.
    pub uploads_per_day: u32,
    /// Longest file name, in bytes.
    pub max_name_bytes: u32,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            free_max_bytes: 2 * 1024 * 1024,
            premium_max_bytes: 25 * 1024 * 1024,
            allowed_types: [
                "image/png",
                "image/jpeg",
                "image/webp",
                "image/gif",
                "application/pdf",
                "text/plain",
                "audio/mpeg",
                "video/mp4",
            ]
            .map(String::from)
            .to_vec(),
            uploads_per_day: 200,
            max_name_bytes: 255,
        }
    }
}

/// An upload a client asks for.
#[derive(Clone, Copy, Debug)]
pub struct UploadRequest<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub size: u64,
}

/// A content type as uploads compare and keep it: without its parameters (whatever follows the
/// first `;`), trimmed, in lower case. A parameter (a charset, say) is not kept: the upload URL
/// signs the bare type, which is what the client's `PUT` must send, and a store serves it.
pub fn bare_type(content_type: &str) -> String {
    let essence = content_type.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

/// Why an upload is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the file name must be 1 to {0} bytes, without control characters or '/'")]
    BadName(u32),
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than the {max} bytes this plan allows")]
    TooLarge { max: u64 },
    #[error("content type not allowed")]
    UnsupportedType,
    #[error("at most {0} uploads a day")]
    QuotaExceeded(u32),
}

impl LimitError {
    /// The code the client is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            LimitError::BadName(_) | LimitError::Empty => ErrorCode::InvalidArgument,
            LimitError::TooLarge { .. } => ErrorCode::TooLarge,
            LimitError::UnsupportedType => ErrorCode::UnsupportedType,
            LimitError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
        }
    }
}

impl MediaLimits {
    /// The largest upload `plan` allows.
    pub fn max_bytes(&self, plan: Plan) -> u64 {
        match plan {
            Plan::Free => self.free_max_bytes,
            Plan::Premium => self.premium_max_bytes,
        }
    }

    /// Checks an upload by a user on `plan` who started `uploads_today` uploads in the last
    /// 24 hours. Returns the content type as stored: its [`bare_type`].
    pub fn check(
        &self,
        plan: Plan,
        upload: UploadRequest<'_>,
        uploads_today: u32,
    ) -> Result<String, LimitError> {
        let name = upload.name;
        if name.is_empty()
            || name.len() > self.max_name_bytes as usize
            || name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(LimitError::BadName(self.max_name_bytes));
        }
        if upload.size == 0 {
            return Err(LimitError::Empty);
        }
        let max = self.max_bytes(plan);
        if upload.size > max {
            return Err(LimitError::TooLarge { max });
        }
        let content_type = bare_type(upload.content_type);
        if content_type.is_empty()
            || !self
                .allowed_types
                .iter()
                .any(|t| t.trim().eq_ignore_ascii_case(&content_type))
        {
            return Err(LimitError::UnsupportedType);
        }
        if uploads_today >= self.uploads_per_day {
            return Err(LimitError::QuotaExceeded(self.uploads_per_day));
        }
        Ok(content_type)
    }

    /// The largest object any plan may upload: what a store ever needs to take.
    pub fn largest(&self) -> u64 {
        self.free_max_bytes.max(self.premium_max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(name: &str, content_type: &str, size: u64) -> UploadRequest<'static> {
        UploadRequest {
            name: name.to_owned().leak(),
            content_type: content_type.to_owned().leak(),
            size,
        }
    }

    #[test]
    fn each_limit_refuses_with_its_own_code() {
        let limits = MediaLimits::default();
        let mib = 1024 * 1024;
        let ok = limits.check(Plan::Free, upload("cat.PNG", "Image/PNG", 2 * mib), 0);
        assert_eq!(ok, Ok("image/png".to_owned()));
        let code = |plan, u, today| limits.check(plan, u, today).unwrap_err().code();
        assert_eq!(
            code(Plan::Free, upload("a.png", "image/png", 2 * mib + 1), 0),
            ErrorCode::TooLarge
        );
        assert!(
            limits
                .check(Plan::Premium, upload("a.png", "image/png", 2 * mib + 1), 0)
                .is_ok(),
            "premium takes more"
        );
        assert_eq!(
            code(Plan::Premium, upload("a.png", "image/png", 25 * mib + 1), 0),
            ErrorCode::TooLarge
        );
        for refused in [
            "text/html",
            "image/svg+xml",
            "text/html; charset=utf-8",
            "; charset=utf-8",
            "",
        ] {
            assert_eq!(
                code(Plan::Free, upload("a", refused, 10), 0),
                ErrorCode::UnsupportedType,
                "{refused}"
            );
        }
        assert_eq!(
            code(Plan::Free, upload("a.png", "image/png", 10), 200),
            ErrorCode::QuotaExceeded
        );
        assert!(
            limits
                .check(Plan::Free, upload("a.png", "image/png", 10), 199)
                .is_ok()
        );
        for name in ["", "a/b", "a\nb", &"n".repeat(256)] {
            assert_eq!(
                code(Plan::Free, upload(name, "image/png", 10), 0),
                ErrorCode::InvalidArgument,
                "{name:?}"
            );
        }
        assert_eq!(
            code(Plan::Free, upload("a", "image/png", 0), 0),
            ErrorCode::InvalidArgument
        );
    }

    /// PROTOCOL §3.3: types are compared ignoring case and parameters, and the bare type is
    /// what the slot records and its URL signs (issue 19).
    #[test]
    fn parameters_are_ignored_and_the_bare_type_kept() {
        let limits = MediaLimits::default();
        for (asked, bare) in [
            ("text/plain; charset=utf-8", "text/plain"),
            ("image/png; x=y", "image/png"),
            (" Image/PNG ;x=\"a;b\"", "image/png"),
            ("text/plain;", "text/plain"),
        ] {
            assert_eq!(
                limits.check(Plan::Free, upload("a", asked, 10), 0),
                Ok(bare.to_owned()),
                "{asked}"
            );
        }
    }
}
