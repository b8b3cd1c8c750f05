//! Profile cases of the store conformance suite: display names and statuses, names for ids,
//! and the prefix search over account and display names.

use switchboard_engine::UserId;
use switchboard_engine::domain::Profile;

use crate::store::{MAX_FOUND_USERS, Store, StoreError};

/// The account names of `found`, in order.
fn names(found: &[Profile]) -> Vec<&str> {
    found.iter().map(|p| p.name.as_str()).collect()
}

pub(super) async fn profiles(store: &dyn Store) {
    let zoe = store.create_user("zed_zoe", "h").await.unwrap();
    let zack = store.create_user("zed_Zack", "h").await.unwrap();
    let blank = Profile {
        id: zoe.id,
        name: "zed_zoe".into(),
        display_name: String::new(),
        status: String::new(),
    };
    assert_eq!(
        store.profiles(&[zoe.id]).await.unwrap(),
        vec![blank.clone()],
        "empty until set"
    );

    let set = store
        .set_profile(zoe.id, Some("Zoë Quinn"), Some("at lunch"))
        .await
        .unwrap();
    assert_eq!(
        (set.display_name.as_str(), set.status.as_str()),
        ("Zoë Quinn", "at lunch")
    );
    let kept = store.set_profile(zoe.id, None, Some("back")).await.unwrap();
    assert_eq!(
        (kept.display_name.as_str(), kept.status.as_str()),
        ("Zoë Quinn", "back"),
        "an absent field stays as it is"
    );
    let cleared = store.set_profile(zoe.id, Some(""), None).await.unwrap();
    assert_eq!(
        (cleared.display_name.as_str(), cleared.status.as_str()),
        ("", "back")
    );
    store
        .set_profile(zoe.id, Some("Zoë Quinn"), None)
        .await
        .unwrap();
    assert!(matches!(
        store.set_profile(UserId(999_999), Some("x"), None).await,
        Err(StoreError::NotFound)
    ));

    let ghost = UserId(999_998);
    let found = store
        .profiles(&[zack.id, ghost, zoe.id, zack.id])
        .await
        .unwrap();
    let mut ids: Vec<UserId> = found.iter().map(|p| p.id).collect();
    ids.sort();
    let mut want = vec![zoe.id, zack.id];
    want.sort();
    assert_eq!(ids, want, "unknown ids left out, repeated ones once");
    assert_eq!(store.profiles(&[]).await.unwrap(), Vec::new());
}

pub(super) async fn find_users(store: &dyn Store) {
    // zed_zoe ("Zoë Quinn") and zed_Zack come from `profiles` above.
    let quinn = store.create_user("quill", "h").await.unwrap();
    store
        .set_profile(quinn.id, Some("Zed Quill"), None)
        .await
        .unwrap();
    store.create_user("zedd", "h").await.unwrap();
    store.create_user("zedXy", "h").await.unwrap();

    let found = store.find_users("ZED", 10).await.unwrap();
    assert_eq!(
        names(&found),
        ["quill", "zed_Zack", "zed_zoe", "zedd", "zedXy"],
        "account or display name, ignoring case, by account name"
    );
    assert_eq!(found[0].display_name, "Zed Quill");
    assert_eq!(
        names(&store.find_users("zed_", 10).await.unwrap()),
        ["zed_Zack", "zed_zoe"],
        "`_` is itself, not any character"
    );
    assert!(
        store.find_users("zed%", 10).await.unwrap().is_empty(),
        "`%` is itself"
    );
    assert!(
        store.find_users("ze\\", 10).await.unwrap().is_empty(),
        "`\\` is itself"
    );
    assert_eq!(
        names(&store.find_users("zoË", 10).await.unwrap()),
        ["zed_zoe"],
        "display names fold beyond ASCII"
    );
    assert!(
        store.find_users("quinn", 10).await.unwrap().is_empty(),
        "a prefix, not a word inside"
    );
    assert_eq!(
        names(&store.find_users("zed", 2).await.unwrap()),
        ["quill", "zed_Zack"]
    );
    for i in 0..MAX_FOUND_USERS + 2 {
        store
            .create_user(&format!("many{i:02}"), "h")
            .await
            .unwrap();
    }
    let capped = store.find_users("many", 1000).await.unwrap();
    assert_eq!(
        capped.len(),
        MAX_FOUND_USERS as usize,
        "the limit is capped"
    );
    assert_eq!(capped[0].name, "many00");
}
