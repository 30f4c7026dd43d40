//! Media end to end: upload as a buyer (UserSig) and as an agent (console token), on local disk
//! and on a real S3 server (moto), on SQLite and PostgreSQL; signed, expiring links; what is
//! stored is canonical; tenants never reach each other's files.

use image::{DynamicImage, ImageFormat, RgbImage};
use kefu_domain::{Clock, ManualClock};
use kefu_gateway::GatewayState;
use kefu_gateway::media::Media;
use kefu_media::ObjectStore;
use kefu_store::testing::{TestDb, databases};
use kefu_store::{ImApp, NewSession, Store};
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use serde_json::{Value, json};
use std::io::Cursor;
use std::sync::Arc;

struct Env {
    cli: TestClient<BoxEndpoint<'static, poem::Response>>,
    store: Arc<dyn Store>,
    clock: ManualClock,
    app: ImApp,
    other: ImApp,
    name: String,
    _db: TestDb,
}

async fn env(db: TestDb, objects: Arc<dyn ObjectStore>, backend: &str) -> Env {
    let store = db.store().await;
    let clock = ManualClock::default();
    let app =
        kefu_store::testing::tenant_with_app(&store, "acme", &"s".repeat(64), clock.now()).await;
    let other =
        kefu_store::testing::tenant_with_app(&store, "rival", &"r".repeat(64), clock.now()).await;
    let state = GatewayState {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
        bus: Arc::new(kefu_bus::InProcessBus::new()),
        rate_limit: 0,
        hub: kefu_gateway::hub::Hub::new(),
        http: kefu_gateway::callbacks::http_client(),
        media: Arc::new(Media::new(objects, "", 3600)),
        typing_interval_ms: 1000,
    };
    let ep = Route::new()
        .nest("/v4", kefu_gateway::routes(state.clone()))
        .nest("/im", kefu_gateway::socket_routes(state.clone()))
        .nest("/media", kefu_gateway::media_routes(state))
        .map_to_response()
        .boxed();
    Env {
        cli: TestClient::new(ep),
        store,
        clock,
        app,
        other,
        name: format!("{} + {backend}", db.name),
        _db: db,
    }
}

impl Env {
    fn auth(&self, app: &ImApp, identifier: &str) -> String {
        let sig = kefu_usersig::generate(
            app.sdk_app_id as u64,
            &app.secret_key,
            identifier,
            86400,
            self.clock.now() / 1000,
        );
        format!(
            "sdkappid={}&identifier={identifier}&usersig={sig}",
            app.sdk_app_id
        )
    }

    async fn upload_raw(&self, query: &str, bytes: Vec<u8>) -> (u16, Value) {
        let resp = self
            .cli
            .post(format!("/im/media?{query}"))
            .body(bytes)
            .send()
            .await;
        read(resp).await
    }

    async fn upload_form(&self, query: &str, part: &str, bytes: &[u8]) -> (u16, Value) {
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        let resp = self
            .cli
            .post(format!("/im/media?{query}"))
            .content_type("multipart/form-data; boundary=XyZ")
            .body(body)
            .send()
            .await;
        read(resp).await
    }

    async fn fetch(&self, url: &str) -> (u16, String, Vec<u8>) {
        let resp = self.cli.get(url).send().await;
        let status = resp.0.status().as_u16();
        let ct = resp
            .0
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, resp.0.into_body().into_vec().await.unwrap())
    }
}

async fn read(resp: poem::test::TestResponse) -> (u16, Value) {
    let status = resp.0.status().as_u16();
    let text = resp.0.into_body().into_string().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

fn photo() -> Vec<u8> {
    let img = RgbImage::from_fn(1000, 800, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../media/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn every_backend() -> Vec<(
    TestDb,
    Arc<dyn ObjectStore>,
    String,
    Option<kefu_media::testing::Moto>,
)> {
    let mut out = Vec::new();
    let moto = kefu_media::testing::Moto::start();
    let mut s3: Option<Arc<dyn ObjectStore>> = None;
    if let Some(m) = &moto {
        s3 = Some(Arc::new(m.bucket("kefu-test").await));
    }
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap().keep();
        out.push((
            db,
            Arc::new(kefu_media::LocalDisk::new(dir)) as Arc<dyn ObjectStore>,
            "disk".to_string(),
            None,
        ));
    }
    if let Some(s3) = s3 {
        out.push((TestDb::sqlite(), s3, "s3".to_string(), moto));
    }
    out
}

#[tokio::test]
async fn a_buyer_uploads_a_photo_sends_it_and_both_sides_can_open_it() {
    for (db, objects, backend, _moto) in every_backend().await {
        let e = env(db, objects, &backend).await;
        let original = photo();
        let (status, resp) = e
            .upload_form(&e.auth(&e.app, "buyer_1"), "file", &original)
            .await;
        assert_eq!(
            (status, &resp["ActionStatus"]),
            (200, &json!("OK")),
            "{}: {resp}",
            e.name
        );
        let element = &resp["MsgBody"][0];
        assert_eq!(element["MsgType"], "TIMImageElem");
        let content = &element["MsgContent"];
        assert_eq!(content["ImageFormat"], 1);
        let infos = content["ImageInfoArray"].as_array().unwrap();
        let dims: Vec<_> = infos
            .iter()
            .map(|i| {
                (
                    i["Type"].as_i64().unwrap(),
                    i["Width"].as_i64().unwrap(),
                    i["Height"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            dims,
            [(1, 1000, 800), (2, 720, 576), (3, 198, 158)],
            "{}",
            e.name
        );
        assert_eq!(infos[0]["Size"], original.len());
        let url = infos[0]["URL"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("/media/{}/", e.app.tenant_id)) && url.contains("&sig="),
            "{url}"
        );
        let (status, ct, bytes) = e.fetch(url).await;
        assert_eq!((status, ct.as_str()), (200, "image/jpeg"), "{}", e.name);
        assert_eq!(bytes, original);
        let (_, _, thumb) = e.fetch(infos[2]["URL"].as_str().unwrap()).await;
        assert_eq!(image::load_from_memory(&thumb).unwrap().width(), 198);

        // The buyer sends the element as the upload returned it (signed links and all).
        let admin = e.auth(&e.app, "administrator");
        let (_, sent) = read(
            e.cli
                .post(format!("/v4/openim/sendmsg?{admin}&random=1"))
                .body(
                    json!({ "From_Account": "buyer_1", "To_Account": "@customer_service_account",
                            "MsgRandom": 5, "MsgBody": resp["MsgBody"] })
                    .to_string(),
                )
                .send()
                .await,
        )
        .await;
        assert_eq!(sent["ActionStatus"], "OK", "{sent}");
        // Stored canonical: no signature or expiry lives in the database.
        let chats = e
            .store
            .chats_of(e.app.tenant_id, "buyer_1", 10)
            .await
            .unwrap();
        let chat = e
            .store
            .messages_after(e.app.tenant_id, chats[0].id, 0, 10)
            .await
            .unwrap();
        let stored = &chat.last().expect("stored").body;
        assert!(
            stored.contains(&format!("\"/media/{}/", e.app.tenant_id)),
            "{stored}"
        );
        assert!(!stored.contains("sig="), "{stored}");
        // History hands out fresh signed links that open.
        let (_, history) = read(
            e.cli
                .post(format!("/v4/openim/admin_getroammsg?{admin}&random=2"))
                .body(
                    json!({ "From_Account": "@customer_service_account", "To_Account": "buyer_1",
                            "MaxCnt": 10, "MinTime": 0, "MaxTime": 4_000_000_000i64 })
                    .to_string(),
                )
                .send()
                .await,
        )
        .await;
        let link = history["MsgList"][0]["MsgBody"][0]["MsgContent"]["ImageInfoArray"][1]["URL"]
            .as_str()
            .unwrap_or_else(|| panic!("{history}"))
            .to_string();
        assert_eq!(e.fetch(&link).await.0, 200, "{}: {link}", e.name);

        // Links expire; a fresh one is needed after the TTL.
        e.clock.advance(3_700_000 + 600_000);
        let (status, _, why) = e.fetch(&link).await;
        assert_eq!(status, 403);
        assert!(String::from_utf8(why).unwrap().contains("expired"));
    }
}

#[tokio::test]
async fn voice_and_agent_uploads_carry_what_the_console_needs() {
    for (db, objects, backend, _moto) in every_backend().await {
        let e = env(db, objects, &backend).await;
        let (status, resp) = e
            .upload_raw(&e.auth(&e.app, "buyer_1"), fixture("voice.m4a"))
            .await;
        assert_eq!(status, 200, "{}: {resp}", e.name);
        let sound = &resp["MsgBody"][0];
        assert_eq!(sound["MsgType"], "TIMSoundElem");
        assert_eq!(sound["MsgContent"]["Second"], 2, "1.5 s rounds up");
        assert_eq!(sound["MsgContent"]["Download_Flag"], 2);
        let (status, ct, _) = e.fetch(sound["MsgContent"]["Url"].as_str().unwrap()).await;
        assert_eq!((status, ct.as_str()), (200, "audio/mp4"));

        // An agent uploads with the console token.
        let owner = e
            .store
            .find_login(Some(e.app.tenant_id), "boss")
            .await
            .unwrap()
            .unwrap();
        let (token, hash) = kefu_auth::token::issue();
        e.store
            .open_session(
                NewSession {
                    tenant_id: Some(e.app.tenant_id),
                    account_id: owner.id,
                    token_hash: hash,
                    ip: "127.0.0.1".into(),
                    user_agent: "t".into(),
                    now: e.clock.now(),
                },
                e.clock.now(),
            )
            .await
            .unwrap();
        let resp = e
            .cli
            .post("/im/media")
            .header("Authorization", format!("Bearer {token}"))
            .body(photo())
            .send()
            .await;
        let (status, resp) = read(resp).await;
        assert_eq!(status, 200, "{}: {resp}", e.name);
        assert_eq!(resp["MsgBody"][0]["MsgType"], "TIMImageElem");
    }
}

#[tokio::test]
async fn bad_uploads_get_a_status_a_code_and_a_reason() {
    let e = env(
        TestDb::sqlite(),
        Arc::new(kefu_media::LocalDisk::new(
            tempfile::tempdir().unwrap().keep(),
        )),
        "disk",
    )
    .await;
    let buyer = e.auth(&e.app, "buyer_1");
    let (status, resp) = e
        .upload_raw(&buyer, b"GIF89a\x01\x00\x01\x00\x00".to_vec())
        .await;
    assert_eq!(
        (status, resp["ErrorCode"].as_i64()),
        (415, Some(91001)),
        "{resp}"
    );
    assert!(resp["ErrorInfo"].as_str().unwrap().contains("JPEG or PNG"));
    // A renamed file is judged by its bytes: text called .jpg is still not an image.
    let (status, resp) = e.upload_form(&buyer, "file", b"hello, I am text").await;
    assert_eq!(status, 415, "{resp}");
    let mut big = photo();
    big.resize(2 * 1024 * 1024 + 1, 0);
    let (status, resp) = e.upload_raw(&buyer, big).await;
    assert_eq!(
        (status, resp["ErrorCode"].as_i64()),
        (413, Some(91002)),
        "{resp}"
    );
    assert!(
        resp["ErrorInfo"].as_str().unwrap().contains("at most 2 MB"),
        "{resp}"
    );
    let (status, resp) = e.upload_raw(&buyer, vec![]).await;
    assert_eq!(
        (status, resp["ErrorCode"].as_i64()),
        (400, Some(91003)),
        "{resp}"
    );
    let (status, resp) = e.upload_form(&buyer, "picture", &photo()).await;
    assert_eq!(status, 400);
    assert!(
        resp["ErrorInfo"].as_str().unwrap().contains("`file`"),
        "{resp}"
    );
    let (status, resp) = e.upload_raw("", photo()).await;
    assert_eq!(
        (status, resp["ErrorCode"].as_i64()),
        (401, Some(60012)),
        "{resp}"
    );
    let (status, _) = e
        .upload_raw(
            &format!(
                "sdkappid={}&identifier=buyer_1&usersig=nonsense",
                e.app.sdk_app_id
            ),
            photo(),
        )
        .await;
    assert_eq!(status, 401);
    let resp = e
        .cli
        .post("/im/media")
        .header("Authorization", "Bearer kf_not_a_token")
        .body(photo())
        .send()
        .await;
    assert_eq!(read(resp).await.1["ErrorCode"], 70001);
}

#[tokio::test]
async fn links_cannot_be_forged_moved_to_another_tenant_or_outlive_a_rotation() {
    let e = env(
        TestDb::sqlite(),
        Arc::new(kefu_media::LocalDisk::new(
            tempfile::tempdir().unwrap().keep(),
        )),
        "disk",
    )
    .await;
    let (_, mine) = e.upload_raw(&e.auth(&e.app, "buyer_1"), photo()).await;
    let (_, theirs) = e.upload_raw(&e.auth(&e.other, "buyer_9"), photo()).await;
    let (_, their_voice) = e
        .upload_raw(&e.auth(&e.other, "buyer_9"), fixture("voice.wav"))
        .await;
    let mine = mine["MsgBody"][0]["MsgContent"]["ImageInfoArray"][0]["URL"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs = theirs["MsgBody"][0]["MsgContent"]["ImageInfoArray"][0]["URL"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(e.fetch(&mine).await.0, 200);
    assert_eq!(e.fetch(&theirs).await.0, 200);
    // Same bytes, different tenants: different paths.
    let path = |u: &str| u.split('?').next().unwrap().to_string();
    assert_ne!(path(&mine), path(&theirs));
    // My signature on their path, their file name under my tenant: refused.
    let query = mine.split('?').nth(1).unwrap();
    assert_eq!(e.fetch(&format!("{}?{query}", path(&theirs))).await.0, 403);
    let their_voice = their_voice["MsgBody"][0]["MsgContent"]["Url"]
        .as_str()
        .unwrap();
    let their_file = path(their_voice).rsplit('/').next().unwrap().to_string();
    let moved = format!("/media/{}/{their_file}?{query}", e.app.tenant_id);
    assert_eq!(e.fetch(&moved).await.0, 403);
    // Unsigned, tampered, or traversal: refused.
    assert_eq!(e.fetch(&path(&mine)).await.0, 403);
    let tampered = format!(
        "{}0",
        mine.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    assert_eq!(e.fetch(&tampered).await.0, 403);
    assert_ne!(
        e.fetch(&format!(
            "/media/{}/..%2F..%2Fkefu.db?{query}",
            e.app.tenant_id
        ))
        .await
        .0,
        200
    );
    // Rotating the app secret revokes every link handed out.
    e.store
        .rotate_im_secret(e.app.tenant_id, &"n".repeat(64), e.clock.now())
        .await
        .unwrap();
    // As the tenant API does after a rotation (other nodes re-read the app within 5 s).
    kefu_engine::cache::forget_im_app(&e.store, e.app.tenant_id);
    assert_eq!(e.fetch(&mine).await.0, 403);
}
