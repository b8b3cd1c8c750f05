//! Thumbnails of image attachments (PNG, JPEG, WebP, GIF), made with the pure-Rust `image`
//! crate and stored beside the original (`{key}.thumb`, always PNG), so clients can show a
//! preview without downloading the file.
//!
//! Decoding a hostile file is bounded: the source is at most the largest upload, images wider
//! or taller than [`MAX_SIDE`] are refused from their header, and decoders are held to
//! [`MAX_DECODE_BYTES`]. The work runs on the blocking pool, at most
//! `media.thumbnail_concurrency` at once ([`Thumbnailer`]): memory for thumbnails is at most that
//! many times (source + decoded image).

use std::io::Cursor;

use std::sync::Arc;

use bytes::Bytes;
use image::io::{Limits, Reader};
use image::{ImageFormat, ImageOutputFormat};
use tokio::sync::Semaphore;

use crate::key::MediaKey;
use crate::store::{MediaError, MediaStore, ObjectInfo};

/// Widest or tallest image decoded, in pixels.
pub const MAX_SIDE: u32 = 4096;

/// Most memory a decoder may allocate (a 4096 × 4096 RGBA image).
pub const MAX_DECODE_BYTES: u64 = 64 * 1024 * 1024;

/// The content type of every thumbnail.
pub const THUMBNAIL_TYPE: &str = "image/png";

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// Not an image type thumbnails are made for.
    #[error("no thumbnails for {0}")]
    NotAnImage(String),
    /// The bytes are not a valid image of their declared type, or too large to decode.
    #[error("cannot decode the image: {0}")]
    Decode(String),
    #[error(transparent)]
    Store(#[from] MediaError),
}

/// The image format of a content type thumbnails are made for.
pub fn image_format(content_type: &str) -> Option<ImageFormat> {
    match content_type.to_ascii_lowercase().as_str() {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/webp" => Some(ImageFormat::WebP),
        "image/gif" => Some(ImageFormat::Gif),
        _ => None,
    }
}

/// A PNG of `source` (an image of `content_type`) scaled to fit `max_px` × `max_px`, keeping
/// its aspect ratio (never enlarged). CPU-bound: call it off the runtime threads.
pub fn make(source: &[u8], content_type: &str, max_px: u32) -> Result<Vec<u8>, ThumbnailError> {
    let format = image_format(content_type)
        .ok_or_else(|| ThumbnailError::NotAnImage(content_type.to_owned()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = Reader::with_format(Cursor::new(source), format);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    let max_px = max_px.max(1);
    let small = if image.width() <= max_px && image.height() <= max_px {
        image
    } else {
        image.thumbnail(max_px, max_px)
    };
    let mut png = Cursor::new(Vec::new());
    small
        .write_to(&mut png, ImageOutputFormat::Png)
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    Ok(png.into_inner())
}

/// Makes thumbnails, a bounded number at once. Clones share the bound.
#[derive(Clone)]
pub struct Thumbnailer {
    permits: Arc<Semaphore>,
    /// The largest source read (the largest upload any plan allows).
    max_source_bytes: u64,
    /// Longest side of a thumbnail.
    max_px: u32,
}

impl Thumbnailer {
    /// At most `concurrency` (at least one) thumbnails made at once; callers beyond it wait.
    pub fn new(concurrency: usize, max_source_bytes: u64, max_px: u32) -> Thumbnailer {
        Thumbnailer {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            max_source_bytes,
            max_px,
        }
    }

    /// Makes the thumbnail of the image stored at `key` and stores it at `key.thumbnail()`.
    /// Returns its key and what was stored.
    pub async fn store(
        &self,
        media: &dyn MediaStore,
        key: &MediaKey,
    ) -> Result<(MediaKey, ObjectInfo), ThumbnailError> {
        // Taken before the source is read: waiting callers hold no image bytes. The semaphore
        // is never closed, so acquiring fails only if it were.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
        store_thumbnail(media, key, self.max_source_bytes, self.max_px).await
    }
}

/// Makes the thumbnail of the image stored at `key` (of at most `max_source_bytes`) and stores
/// it at `key.thumbnail()`, without a bound on how many run at once: use a [`Thumbnailer`].
async fn store_thumbnail(
    media: &dyn MediaStore,
    key: &MediaKey,
    max_source_bytes: u64,
    max_px: u32,
) -> Result<(MediaKey, ObjectInfo), ThumbnailError> {
    let (info, source) = media.get(key, max_source_bytes).await?;
    if image_format(&info.content_type).is_none() {
        return Err(ThumbnailError::NotAnImage(info.content_type));
    }
    let content_type = info.content_type.clone();
    let png = tokio::task::spawn_blocking(move || make(&source, &content_type, max_px))
        .await
        .map_err(|e| ThumbnailError::Decode(format!("thumbnail task: {e}")))??;
    let thumb = key.thumbnail();
    let stored = ObjectInfo {
        size: png.len() as u64,
        content_type: THUMBNAIL_TYPE.to_owned(),
    };
    media.put(&thumb, THUMBNAIL_TYPE, Bytes::from(png)).await?;
    Ok((thumb, stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, Rgba, RgbaImage};

    /// A `width` × `height` image encoded as `format`.
    fn encoded(width: u32, height: u32, format: ImageOutputFormat) -> Vec<u8> {
        let image = RgbaImage::from_fn(width, height, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
        });
        let image = match format {
            ImageOutputFormat::Jpeg(_) => {
                DynamicImage::ImageRgb8(DynamicImage::from(image).to_rgb8())
            }
            _ => DynamicImage::ImageRgba8(image),
        };
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn dimensions(png: &[u8]) -> (u32, u32) {
        let image = image::load_from_memory_with_format(png, ImageFormat::Png).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn images_shrink_to_fit_keeping_their_shape() {
        let png = encoded(640, 320, ImageOutputFormat::Png);
        assert_eq!(dimensions(&make(&png, "image/png", 64).unwrap()), (64, 32));
        let jpeg = encoded(300, 600, ImageOutputFormat::Jpeg(80));
        assert_eq!(
            dimensions(&make(&jpeg, "image/jpeg", 100).unwrap()),
            (50, 100)
        );
        let gif = encoded(40, 40, ImageOutputFormat::Gif);
        assert_eq!(dimensions(&make(&gif, "image/gif", 20).unwrap()), (20, 20));
        // Never enlarged.
        let tiny = encoded(10, 5, ImageOutputFormat::Png);
        assert_eq!(dimensions(&make(&tiny, "image/png", 64).unwrap()), (10, 5));
    }

    #[test]
    fn bad_or_oversized_images_are_refused_not_decoded() {
        assert!(matches!(
            make(b"not an image", "image/png", 64),
            Err(ThumbnailError::Decode(_))
        ));
        assert!(matches!(
            make(b"%PDF-1.4", "application/pdf", 64),
            Err(ThumbnailError::NotAnImage(_))
        ));
        let png = encoded(8, 8, ImageOutputFormat::Png);
        assert!(
            matches!(make(&png, "image/jpeg", 64), Err(ThumbnailError::Decode(_))),
            "decoded as the declared type only"
        );
        // A valid header claiming a huge image: refused before any pixel is allocated.
        let wide = encoded(MAX_SIDE + 1, 1, ImageOutputFormat::Png);
        assert!(matches!(
            make(&wide, "image/png", 64),
            Err(ThumbnailError::Decode(_))
        ));
    }
}
