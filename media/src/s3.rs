//! The production media store: an S3 bucket through `aws-sdk-s3`, addressed path-style (so a
//! local stand-in such as s3s-fs works with only an endpoint). Clients upload and download with
//! SigV4 presigned URLs; the node itself only heads, puts and gets small objects (thumbnails)
//! and deletes.
//!
//! Permissions the node's credentials need on the bucket (prefix): `s3:PutObject`,
//! `s3:GetObject` (which also allows `HeadObject`) and `s3:DeleteObject`. A presigned URL
//! carries the rights of the credentials that signed it, for that one request only.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};

use crate::config::S3Config;
use crate::key::MediaKey;
use crate::store::{MediaError, MediaStore, ObjectInfo, SignedRequest, Validity, header_safe};

pub struct S3Media {
    client: Client,
    bucket: String,
}

fn backend<E: std::error::Error + 'static>(what: &str, e: E) -> MediaError {
    MediaError::Backend(format!("{what}: {}", DisplayErrorContext(e)))
}

fn signed(method: &'static str, request: PresignedRequest, validity: Validity) -> SignedRequest {
    SignedRequest {
        method,
        url: request.uri().to_owned(),
        headers: request
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect(),
        expires: validity.expires_unix_secs(),
    }
}

fn presigning(validity: Validity) -> Result<PresigningConfig, MediaError> {
    PresigningConfig::builder()
        .start_time(validity.from)
        .expires_in(validity.lasts)
        .build()
        .map_err(|e| backend("presigning", e))
}

impl S3Media {
    /// A client for `config.bucket`. Credentials come from the configuration when both keys
    /// are set, else from the standard chain (environment, profile, web identity, ECS, EC2
    /// instance metadata). Nothing is sent until the first request.
    pub async fn connect(config: &S3Config) -> Result<S3Media, MediaError> {
        if config.bucket.is_empty() {
            return Err(MediaError::Invalid("media.s3.bucket is not set"));
        }
        let mut loader = crate::aws::with_configured_credentials(
            crate::aws::sdk_loader(&config.region),
            config.access_key_id.as_deref(),
            config.secret_access_key.as_deref(),
        );
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let s3 = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.path_style)
            // No checksum headers the client of a presigned URL would have to reproduce.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Ok(S3Media {
            client: Client::from_conf(s3),
            bucket: config.bucket.clone(),
        })
    }
}

#[async_trait]
impl MediaStore for S3Media {
    async fn presign_put(
        &self,
        key: &MediaKey,
        content_type: &str,
        length: u64,
        validity: Validity,
    ) -> Result<SignedRequest, MediaError> {
        header_safe(content_type)?;
        let length = i64::try_from(length).map_err(|_| MediaError::Invalid("length"))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .content_length(length)
            .presigned(presigning(validity)?)
            .await
            .map_err(|e| backend("presigning a put", e))?;
        Ok(signed("PUT", request, validity))
    }

    async fn presign_get(
        &self,
        key: &MediaKey,
        validity: Validity,
    ) -> Result<SignedRequest, MediaError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning(validity)?)
            .await
            .map_err(|e| backend("presigning a get", e))?;
        Ok(signed("GET", request, validity))
    }

    async fn head(&self, key: &MediaKey) -> Result<ObjectInfo, MediaError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_not_found() => MediaError::NotFound,
                _ => backend("head", e),
            })?;
        Ok(ObjectInfo {
            size: head.content_length().map_or(0, |n| n.max(0) as u64),
            content_type: head.content_type().unwrap_or_default().to_owned(),
        })
    }

    async fn put(&self, key: &MediaKey, content_type: &str, body: Bytes) -> Result<(), MediaError> {
        header_safe(content_type)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| backend("put", e))?;
        Ok(())
    }

    async fn get(&self, key: &MediaKey, max_bytes: u64) -> Result<(ObjectInfo, Bytes), MediaError> {
        let mut object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| match &e {
                SdkError::ServiceError(s) if s.err().is_no_such_key() => MediaError::NotFound,
                _ => backend("get", e),
            })?;
        let info = ObjectInfo {
            size: object.content_length().map_or(0, |n| n.max(0) as u64),
            content_type: object.content_type().unwrap_or_default().to_owned(),
        };
        if info.size > max_bytes {
            return Err(MediaError::TooLarge {
                size: info.size,
                max: max_bytes,
            });
        }
        // Read chunk by chunk, stopping past `max_bytes` whatever the length header said.
        let mut bytes = BytesMut::with_capacity(info.size as usize);
        while let Some(chunk) = object
            .body
            .try_next()
            .await
            .map_err(|e| backend("get body", e))?
        {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(MediaError::TooLarge {
                    size: (bytes.len() + chunk.len()) as u64,
                    max: max_bytes,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((info, bytes.freeze()))
    }

    async fn delete(&self, key: &MediaKey) -> Result<(), MediaError> {
        // S3 answers a delete of a missing key with success.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| backend("delete", e))?;
        Ok(())
    }
}
