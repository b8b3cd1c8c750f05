//! The one way this project's AWS SDK clients are set up (S3 here, Cognito in `bins`): the
//! SDK's current behaviour, `region`, and rustls on ring as the HTTPS client (the SDK's
//! default client would build aws-lc from C).

use aws_config::{BehaviorVersion, ConfigLoader, Region};
use aws_sdk_s3::config::Credentials;
use aws_smithy_http_client::tls;

/// A loader for `region`; callers add credentials and an endpoint, then `load` it.
pub fn sdk_loader(region: &str) -> ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(region.to_owned()))
}

/// `loader` with static credentials when both parts are configured; otherwise it keeps the
/// standard AWS chain (environment, profile, web identity, ECS task role, EC2 instance profile).
pub fn with_configured_credentials(
    loader: ConfigLoader,
    access_key_id: Option<&str>,
    secret_access_key: Option<&str>,
) -> ConfigLoader {
    match (access_key_id, secret_access_key) {
        (Some(id), Some(secret)) => loader.credentials_provider(Credentials::new(
            id,
            secret,
            None,
            None,
            "switchboard-config",
        )),
        _ => loader,
    }
}
