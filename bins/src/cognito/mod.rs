//! Amazon Cognito as the node's identity provider (`auth.provider = "cognito"`): `[cognito]`
//! and the token verifier that keeps the user pool's keys.
//!
//! # Layout
//! - [`config`]: `CognitoConfig`, the `[cognito]` section.
//! - [`keys`]: `CognitoTokens`, a `TokenVerifier` over the pool's JWKS: fetched at start-up and
//!   again on an unknown key id, at most once per `jwks_refetch_ms`.
//! - [`accounts`]: `CognitoAccounts`, the pool's sign-up, confirm, sign-in, refresh and
//!   sign-out through the SDK, each refusal a coded error (the `/api/cognito/*` routes).
//! - [`revoke`]: `RevocationChecks`, the periodic checks of the users connected to the node
//!   (global sign-out, disabled, deleted) and the reads of other nodes' revocations; `record`,
//!   which revokes a user here and in the store.

pub mod accounts;
pub mod config;
pub mod keys;
pub mod revoke;

pub use accounts::CognitoAccounts;
pub use config::CognitoConfig;
pub use keys::CognitoTokens;
pub use revoke::RevocationChecks;
