//! The one way this project's AWS SDK clients are set up (S3 here, Cognito in `bins`): the
//! SDK's current behaviour, `region`, and rustls on ring as the HTTPS client (the SDK's
//! default client would build aws-lc from C).

use aws_config::{BehaviorVersion, ConfigLoader, Region};
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
