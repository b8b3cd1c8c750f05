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

/// S3 itself enforces type and length only if they are signed: they must be among the URL's
/// signed headers, not merely sent.
#[tokio::test]
async fn upload_urls_sign_the_content_type_and_length() {
    use std::time::Duration;
    use switchboard_media::{MediaKey, MediaStore, Validity};

    let fs = S3sFs::start("signed").await;
    let media = S3Media::connect(&fs.config).await.unwrap();
    let key = MediaKey::parse("rooms/1/1").unwrap();
    let minute = Validity::from_now(Duration::from_secs(60));
    let put = media
        .presign_put(&key, "image/png", 42, minute)
        .await
        .unwrap();
    let signed = put
        .url
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("X-Amz-SignedHeaders="))
        .expect("a SigV4 presigned URL");
    assert_eq!(signed, "content-length%3Bcontent-type%3Bhost");
    assert!(put.url.starts_with(&format!(
        "{}/signed/rooms/1/1?",
        fs.config.endpoint.as_deref().unwrap()
    )));
}
