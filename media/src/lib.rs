//! Attachments: where their files live, the signed URLs clients move them with, what an upload
//! may be, thumbnails, and removing uploads nobody attached.
//!
//! A crate of its own so that the AWS SDK is built only into what needs it (the node), never
//! into `engine`, `persistence`, `actors` or the client.
//!
//! # Layout
//! - [`store`]: the `MediaStore` trait (presigned `PUT` and `GET`, `head`, `put`, `get`,
//!   `delete`), `MediaError`, `SignedRequest`, `Validity`.
//! - [`key`]: `MediaKey`, object keys chosen by the node (`rooms/{room}/{attachment}`).
//! - [`local`]: `LocalMedia`, the embedded default: files under the data directory, URLs signed
//!   with the node's secret (HMAC-SHA256) and served by the node's own routes.
//! - [`s3`]: `S3Media`, an S3 bucket (or a stand-in) through `aws-sdk-s3`, SigV4 presigned URLs.
//! - [`config`]: `[media]`, `MediaConfig` and `S3Config`.
//! - [`aws`]: how AWS SDK clients are set up (region, rustls on ring).
//! - [`limits`]: `[media.limits]`: size per plan, content types, uploads per day, with codes.
//! - [`attach`]: attaching uploads to a message: each checked to be the sender's upload of
//!   the room, stored as declared (`head`), then marked attached, images given thumbnails.
//! - [`slot`]: upload slots (limits checked, upload recorded, URL signed) and membership-free
//!   download requests for attachments; the caller checks membership.
//! - [`thumbnail`]: PNG thumbnails of images, stored beside the original.
//! - [`sweep`]: deleting uploads never attached to a message.
//! - `conformance` (`testing` feature): one suite of cases run against every `MediaStore`.

pub mod attach;
pub mod aws;
pub mod config;
#[cfg(feature = "testing")]
pub mod conformance;
pub mod key;
pub mod limits;
pub mod local;
pub mod s3;
pub mod slot;
pub mod store;
pub mod sweep;
pub mod thumbnail;

pub use config::{Backend, MediaConfig, S3Config};
pub use key::MediaKey;
pub use limits::{LimitError, MediaLimits, Plan, UploadRequest};
pub use store::{MediaError, MediaStore, ObjectInfo, SignedRequest, Validity};
