//! The media suite against S3, through an s3s-fs stand-in (strict SigV4) each test starts on
//! a free port with its own directory.

use switchboard_media::conformance::{self, S3sFs};
use switchboard_media::s3::S3Media;

#[tokio::test]
async fn s3_passes_the_media_suite() {
    let fs = S3sFs::start("attachments").await;
    let media = S3Media::connect(&fs.config).await.unwrap();
    conformance::run_all(&media, "s3").await;
}

#[tokio::test]
async fn a_missing_bucket_setting_is_refused_at_start() {
    let config = switchboard_media::S3Config::default();
    assert!(S3Media::connect(&config).await.is_err());
}
