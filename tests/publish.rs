//! `grove publish`: a repository published to S3-compatible storage (moto on
//! loopback, behind tests/common's logging proxy) or a `file://` directory,
//! pulled by the real `ostree` client.

mod common;

use common::*;

/// The server enforces what publishing relies on: `If-None-Match: *`
/// refuses an existing key, `If-Match` a changed one (object_store's
/// PutMode::Create and PutMode::Update, as grove sends them).
#[test]
fn s3_server_enforces_conditional_writes() {
    use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
    let s3 = S3Server::start("cond");
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("cond")
        .with_region("us-east-1")
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .with_access_key_id("k")
        .with_secret_access_key("s")
        .build()
        .expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = object_store::path::Path::from("refs/heads/main");
    let put = |mode: PutMode, body: &'static [u8]| {
        rt.block_on(store.put_opts(
            &key,
            body.into(),
            PutOptions {
                mode,
                ..Default::default()
            },
        ))
    };
    let first = put(PutMode::Create, b"one").expect("first create");
    assert!(matches!(
        put(PutMode::Create, b"two"),
        Err(object_store::Error::AlreadyExists { .. })
    ));
    let stale = UpdateVersion {
        e_tag: Some("\"0123\"".into()),
        version: None,
    };
    assert!(matches!(
        put(PutMode::Update(stale), b"three"),
        Err(object_store::Error::Precondition { .. })
    ));
    put(PutMode::Update(first.into()), b"four").expect("update with the right ETag");
    assert_eq!(s3.get("refs/heads/main").as_deref(), Some(&b"four"[..]));
    let _ = rt.block_on(store.head(&key)).expect("head");
    let puts: Vec<_> = s3.requests().into_iter().filter(|r| r.is_put()).collect();
    assert_eq!(puts.len(), 4, "{puts:?}");
    assert!(puts[0].if_none_match && puts[2].if_match);
    assert_eq!(
        puts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 412, 412, 200]
    );
    assert_eq!(s3.keys(""), ["refs/heads/main"]);
    assert!(s3.requests().iter().any(|r| r.is_list()));
}
