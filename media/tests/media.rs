//! Media inspection on real files, and both object stores (S3 on a real moto server).

use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};
use kefu_media::{Kind, LocalDisk, MediaError, ObjectStore, Upload, inspect, testing::Moto};
use std::io::Cursor;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn encoded(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn every_voice_format_is_measured_from_its_container() {
    for (name, kind) in [
        ("voice.mp3", Kind::Mp3),
        ("voice.noxing.mp3", Kind::Mp3),
        ("voice.m4a", Kind::M4a),
        ("voice.wav", Kind::Wav),
        ("voice.ogg", Kind::Ogg),
        ("voice.opus.ogg", Kind::Ogg),
    ] {
        let Upload::Voice(v) = inspect(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
        else {
            panic!("{name} is not voice")
        };
        assert_eq!(v.kind, kind, "{name}");
        // 1.5 s of tone; encoders add up to a frame or two of priming.
        assert!((1450..=1600).contains(&v.millis), "{name}: {} ms", v.millis);
    }
}

#[test]
fn a_cut_voice_file_is_refused_not_guessed() {
    let mut wav = fixture("voice.wav");
    wav.truncate(30);
    assert!(matches!(inspect(wav), Err(MediaError::Corrupt { .. })));
}

#[test]
fn a_large_photo_gets_a_720_version_and_a_198_thumbnail() {
    let photo = RgbImage::from_fn(1600, 1200, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let jpeg = encoded(DynamicImage::ImageRgb8(photo), ImageFormat::Jpeg);
    let size = jpeg.len();
    let Upload::Image(img) = inspect(jpeg).unwrap() else {
        panic!("not an image")
    };
    assert_eq!(img.kind, Kind::Jpeg);
    assert_eq!(
        (
            img.original.width,
            img.original.height,
            img.original.bytes.len()
        ),
        (1600, 1200, size)
    );
    let large = img.large.unwrap();
    assert_eq!((large.width, large.height), (720, 540));
    let thumb = img.thumbnail.unwrap();
    assert_eq!((thumb.width, thumb.height), (198, 149));
    assert_eq!(Kind::sniff(&thumb.bytes), Some(Kind::Jpeg));
    let decoded = image::load_from_memory(&thumb.bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (198, 149));
}

#[test]
fn a_png_stays_a_png_and_a_small_one_is_its_own_large_version() {
    let icon = RgbaImage::from_fn(300, 100, |x, _| image::Rgba([0, 0, 0, x as u8]));
    let png = encoded(DynamicImage::ImageRgba8(icon), ImageFormat::Png);
    let Upload::Image(img) = inspect(png).unwrap() else {
        panic!("not an image")
    };
    assert_eq!(img.kind, Kind::Png);
    assert!(img.large.is_none(), "300 px fits in 720");
    let thumb = img.thumbnail.unwrap();
    assert_eq!((thumb.width, thumb.height), (198, 66));
    assert_eq!(Kind::sniff(&thumb.bytes), Some(Kind::Png));
    assert!(
        image::load_from_memory(&thumb.bytes)
            .unwrap()
            .color()
            .has_alpha()
    );
}

#[test]
fn an_image_claiming_huge_dimensions_is_refused_before_decoding() {
    // A valid PNG header that says 100000 x 100000 pixels (a decompression bomb's opening).
    let small = encoded(
        DynamicImage::ImageRgb8(RgbImage::new(1, 1)),
        ImageFormat::Png,
    );
    let mut bomb = small.clone();
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    assert!(matches!(inspect(bomb), Err(MediaError::Corrupt { .. })));
}

async fn round_trip(store: &dyn ObjectStore) {
    store.ping().await.unwrap();
    assert_eq!(store.get("7/nothing.jpg").await.unwrap(), None);
    store.put("7/abc_198.jpg", b"first".to_vec()).await.unwrap();
    store
        .put("7/abc_198.jpg", b"second".to_vec())
        .await
        .unwrap();
    let got = store.get("7/abc_198.jpg").await.unwrap().unwrap();
    assert_eq!(got.bytes, b"second");
    assert_eq!(got.content_type, "image/jpeg");
    store.put("8/abc.m4a", vec![1, 2, 3]).await.unwrap();
    assert_eq!(
        store.get("8/abc.m4a").await.unwrap().unwrap().content_type,
        "audio/mp4"
    );
    assert!(store.get("7/../8/abc.m4a").await.is_err());
    assert!(store.put("../escape.jpg", vec![1]).await.is_err());
}

#[tokio::test]
async fn local_disk_stores_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let disk = LocalDisk::new(dir.path().join("media"));
    round_trip(&disk).await;
    // No temporary files are left beside the stored ones.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("media/7"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["abc_198.jpg"]);
}

#[tokio::test]
async fn s3_stores_and_reads_back_on_a_real_server() {
    let Some(moto) = Moto::start() else { return };
    let store = moto.bucket("kefu-media").await;
    round_trip(&store).await;
    // A missing bucket is an error that names the problem, not a silent empty answer.
    let missing = kefu_media::S3Store::new(moto.settings("no-such-bucket"));
    let e = missing.ping().await.unwrap_err().to_string();
    assert!(e.contains("media storage"), "{e}");
}
