//! Sweeping unattached uploads and storing thumbnails, over the embedded stores (SQLite and
//! local files).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_engine::domain::RoomKind;
use switchboard_engine::{AttachmentId, RoomId};
use switchboard_media::local::LocalMedia;
use switchboard_media::sweep::sweep_unattached;
use switchboard_media::thumbnail::{THUMBNAIL_TYPE, Thumbnailer};
use switchboard_media::{MediaError, MediaKey, MediaStore};
use switchboard_persistence::store::sqlite::SqliteStore;
use switchboard_persistence::{Store, Upload};

async fn stores(dir: &tempfile::TempDir) -> (Arc<dyn Store>, LocalMedia) {
    let store = SqliteStore::open(&dir.path().join("db.sqlite3"), false).unwrap();
    let media = LocalMedia::open(
        dir.path().join("media"),
        "http://127.0.0.1:1",
        &[3; 32],
        1024 * 1024,
    )
    .await
    .unwrap();
    (Arc::new(store), media)
}

#[tokio::test]
async fn the_sweep_removes_only_old_unattached_uploads_with_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let (store, media) = stores(&dir).await;
    let user = store.create_user("u", "h").await.unwrap().id;
    let room = store
        .create_room("r", RoomKind::Private, user)
        .await
        .unwrap()
        .id;
    let hour = 3_600_000;
    let now = 100 * hour;
    // (id, made hours ago, attached)
    let cases = [(1, 30, false), (2, 30, true), (3, 2, false)];
    for (id, hours_ago, attached) in cases {
        let key = MediaKey::attachment(room, AttachmentId(id));
        media
            .put(&key, "image/png", Bytes::from_static(b"png"))
            .await
            .unwrap();
        media
            .put(&key.thumbnail(), THUMBNAIL_TYPE, Bytes::from_static(b"t"))
            .await
            .unwrap();
        store
            .create_upload(&Upload {
                id: AttachmentId(id),
                room,
                uploader: user,
                key: key.to_string(),
                name: format!("{id}.png"),
                content_type: "image/png".into(),
                size: 3,
                created_ms: now - hours_ago * hour,
                attached: false,
            })
            .await
            .unwrap();
        if attached {
            store.attach_upload(AttachmentId(id), room).await.unwrap();
        }
    }
    let day = Duration::from_secs(24 * 3600);
    let removed = sweep_unattached(&*store, &media, day, now).await.unwrap();
    assert_eq!(removed, 1);
    let exists = |id| {
        let key = MediaKey::attachment(room, AttachmentId(id));
        let media = &media;
        async move {
            let object = media.head(&key).await;
            let thumb = media.head(&key.thumbnail()).await;
            match (object, thumb) {
                (Ok(_), Ok(_)) => true,
                (Err(MediaError::NotFound), Err(MediaError::NotFound)) => false,
                other => panic!("object and thumbnail disagree: {other:?}"),
            }
        }
    };
    assert!(!exists(1).await, "old and never attached: gone");
    assert!(store.upload(AttachmentId(1)).await.unwrap().is_none());
    assert!(exists(2).await, "attached: kept");
    assert!(exists(3).await, "too young: kept");
    assert_eq!(
        sweep_unattached(&*store, &media, day, now).await.unwrap(),
        0
    );
    // A day later the young one goes too.
    let later = now + day.as_millis() as u64;
    assert_eq!(
        sweep_unattached(&*store, &media, day, later).await.unwrap(),
        1
    );
    assert!(!exists(3).await);
    assert!(store.upload(AttachmentId(2)).await.unwrap().is_some());
}

#[tokio::test]
async fn an_image_gets_a_png_thumbnail_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, media) = stores(&dir).await;
    let image = image::RgbImage::from_fn(800, 400, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut jpeg, image::ImageOutputFormat::Jpeg(85))
        .unwrap();
    let key = MediaKey::attachment(RoomId(1), AttachmentId(9));
    media
        .put(&key, "image/jpeg", Bytes::from(jpeg.into_inner()))
        .await
        .unwrap();
    let thumbnailer = Thumbnailer::new(1, 2 * 1024 * 1024, 200);
    let (thumb, info) = thumbnailer.store(&media, &key).await.unwrap();
    assert_eq!(thumb, key.thumbnail());
    let (stored, png) = media.get(&thumb, 1024 * 1024).await.unwrap();
    assert_eq!(stored, info);
    assert_eq!(stored.content_type, "image/png");
    let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (200, 100));

    let text = MediaKey::attachment(RoomId(1), AttachmentId(10));
    media
        .put(&text, "text/plain", Bytes::from_static(b"hi"))
        .await
        .unwrap();
    assert!(thumbnailer.store(&media, &text).await.is_err());
    assert!(matches!(
        media.head(&text.thumbnail()).await,
        Err(MediaError::NotFound)
    ));
}
