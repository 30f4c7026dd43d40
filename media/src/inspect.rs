//! What an upload is, decided by its content.

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use std::io::Cursor;

/// Largest accepted image, as the agent console and the IM clients promise their users.
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
/// Largest accepted voice recording (a 60 s WAV at 44.1 kHz mono is about 5.3 MB).
pub const MAX_VOICE_BYTES: usize = 10 * 1024 * 1024;
/// Longest side of the large version (Tencent IM's `720` variant).
pub const LARGE_SIDE: u32 = 720;
/// Longest side of the thumbnail (Tencent IM's `198` variant).
pub const THUMB_SIDE: u32 = 198;
/// Images wider or taller than this are refused before any pixel is decoded.
const MAX_SIDE: u32 = 12_000;

/// The accepted formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Amr,
    AmrWb,
    Mp3,
    M4a,
    Wav,
    Ogg,
}

impl Kind {
    /// Recognises a format from its first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Kind> {
        let starts = |magic: &[u8]| bytes.starts_with(magic);
        if starts(&[0xFF, 0xD8, 0xFF]) {
            Some(Kind::Jpeg)
        } else if starts(b"\x89PNG\r\n\x1a\n") {
            Some(Kind::Png)
        } else if starts(b"#!AMR-WB\n") {
            Some(Kind::AmrWb)
        } else if starts(b"#!AMR\n") {
            Some(Kind::Amr)
        } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
            Some(Kind::Wav)
        } else if starts(b"OggS") {
            Some(Kind::Ogg)
        } else if bytes.get(4..8) == Some(b"ftyp") {
            Some(Kind::M4a)
        } else if starts(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
        {
            Some(Kind::Mp3)
        } else {
            None
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::Amr | Kind::AmrWb => "amr",
            Kind::Mp3 => "mp3",
            Kind::M4a => "m4a",
            Kind::Wav => "wav",
            Kind::Ogg => "ogg",
        }
    }

    pub fn content_type(self) -> &'static str {
        content_type_of(self.extension())
    }

    pub fn is_image(self) -> bool {
        matches!(self, Kind::Jpeg | Kind::Png)
    }

    /// `ImageFormat` of a `TIMImageElem`: JPG 1, PNG 3.
    pub fn image_format(self) -> i64 {
        match self {
            Kind::Png => 3,
            _ => 1,
        }
    }
}

/// The `Content-Type` to serve a stored file with, from the extension Kefu gave it.
pub fn content_type_of(extension: &str) -> &'static str {
    match extension {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "amr" => "audio/amr",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        _ => "application/octet-stream",
    }
}

/// One stored version of an image.
#[derive(Debug, Clone)]
pub struct Variant {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug)]
pub struct Image {
    pub kind: Kind,
    pub original: Variant,
    /// `None` when the original is already no larger than [`LARGE_SIDE`]: it serves as large.
    pub large: Option<Variant>,
    /// `None` when the original is already no larger than [`THUMB_SIDE`].
    pub thumbnail: Option<Variant>,
}

#[derive(Debug)]
pub struct Voice {
    pub kind: Kind,
    pub bytes: Vec<u8>,
    pub millis: u64,
}

#[derive(Debug)]
pub enum Upload {
    Image(Image),
    Voice(Voice),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MediaError {
    #[error("the file is empty")]
    Empty,
    #[error(
        "this file is not a supported format: send an image as JPEG or PNG, or voice as AMR, MP3, M4A/AAC, WAV or OGG"
    )]
    Unsupported,
    #[error("{what} may be at most {limit_mb} MB; this one is {size_mb:.1} MB")]
    TooLarge {
        what: &'static str,
        limit_mb: usize,
        size_mb: f64,
    },
    #[error("the file looks like {what} but cannot be read: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

/// Checks an upload and prepares what is stored: image variants, or the voice's duration.
/// CPU-heavy for large images; call it from a blocking thread.
pub fn inspect(bytes: Vec<u8>) -> Result<Upload, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let kind = Kind::sniff(&bytes).ok_or(MediaError::Unsupported)?;
    let (what, limit) = if kind.is_image() {
        ("an image", MAX_IMAGE_BYTES)
    } else {
        ("a voice message", MAX_VOICE_BYTES)
    };
    if bytes.len() > limit {
        return Err(MediaError::TooLarge {
            what,
            limit_mb: limit / (1024 * 1024),
            size_mb: bytes.len() as f64 / (1024.0 * 1024.0),
        });
    }
    if kind.is_image() {
        image(kind, bytes).map(Upload::Image)
    } else {
        let millis = match kind {
            Kind::Amr | Kind::AmrWb => amr_millis(kind, &bytes),
            _ => audio_millis(kind, bytes.clone()),
        }
        .map_err(|detail| MediaError::Corrupt {
            what: "audio",
            detail,
        })?;
        Ok(Upload::Voice(Voice {
            kind,
            bytes,
            millis,
        }))
    }
}

fn image(kind: Kind, bytes: Vec<u8>) -> Result<Image, MediaError> {
    let corrupt = |e: image::ImageError| MediaError::Corrupt {
        what: if kind == Kind::Png { "a PNG" } else { "a JPEG" },
        detail: e.to_string(),
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    let mut reader = ImageReader::new(Cursor::new(&bytes));
    reader.set_format(if kind == Kind::Png {
        image::ImageFormat::Png
    } else {
        image::ImageFormat::Jpeg
    });
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let orientation = decoder.orientation().map_err(corrupt)?;
    let mut decoded = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    // Phones store portraits sideways with an EXIF turn; the variants are turned upright.
    decoded.apply_orientation(orientation);
    let (width, height) = (decoded.width(), decoded.height());
    let large = shrink(kind, &decoded, LARGE_SIDE).map_err(corrupt)?;
    let thumbnail = shrink(kind, &decoded, THUMB_SIDE).map_err(corrupt)?;
    Ok(Image {
        kind,
        original: Variant {
            bytes,
            width,
            height,
        },
        large,
        thumbnail,
    })
}

/// A version whose longest side is `side`, or `None` if the image already fits.
fn shrink(kind: Kind, img: &DynamicImage, side: u32) -> Result<Option<Variant>, image::ImageError> {
    if img.width().max(img.height()) <= side {
        return Ok(None);
    }
    let small = img.thumbnail(side, side);
    let mut out = Cursor::new(Vec::new());
    if kind == Kind::Png {
        small.write_to(&mut out, image::ImageFormat::Png)?;
    } else {
        let rgb = DynamicImage::ImageRgb8(small.to_rgb8());
        rgb.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out, 85,
        ))?;
    }
    Ok(Some(Variant {
        bytes: out.into_inner(),
        width: small.width(),
        height: small.height(),
    }))
}

/// AMR storage format (RFC 4867 §5): a magic line, then frames of a fixed size per mode, each
/// 20 ms of speech.
fn amr_millis(kind: Kind, bytes: &[u8]) -> Result<u64, String> {
    const NB: [usize; 16] = [12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0];
    const WB: [usize; 16] = [17, 23, 32, 36, 40, 46, 50, 58, 60, 5, 0, 0, 0, 0, 0, 0];
    let (mut at, sizes) = if kind == Kind::AmrWb {
        (9, &WB)
    } else {
        (6, &NB)
    };
    let mut frames = 0u64;
    while at < bytes.len() {
        let mode = (bytes[at] >> 3) & 0x0F;
        at += 1 + sizes[mode as usize];
        frames += 1;
    }
    if at > bytes.len() {
        return Err("the last AMR frame is cut short".into());
    }
    if frames == 0 {
        return Err("the AMR file holds no frames".into());
    }
    Ok(frames * 20)
}

/// Duration from the container: the stream's frame count, or else the end of its last packet.
fn audio_millis(kind: Kind, bytes: Vec<u8>) -> Result<u64, String> {
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;
    use symphonia::core::units::TimeBase;

    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(kind.extension());
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| e.to_string())?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| "no audio track".to_string())?;
    let id = track.id;
    let params = track.codec_params.clone();
    let base = params
        .time_base
        .or_else(|| params.sample_rate.map(|r| TimeBase::new(1, r)))
        .ok_or_else(|| "no sample rate".to_string())?;
    let to_millis = |ts: u64| {
        let t = base.calc_time(ts);
        t.seconds * 1000 + (t.frac * 1000.0).round() as u64
    };
    if let Some(n) = params.n_frames.filter(|n| *n > 0) {
        return Ok(to_millis(n));
    }
    let mut end = 0u64;
    loop {
        match format.next_packet() {
            Ok(p) if p.track_id() == id => end = end.max(p.ts() + p.dur()),
            Ok(_) => {}
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(Error::ResetRequired) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    if end == 0 {
        return Err("the audio holds no sound".into());
    }
    Ok(to_millis(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_content_not_name() {
        assert_eq!(Kind::sniff(b"\xFF\xD8\xFF\xE0rest"), Some(Kind::Jpeg));
        assert_eq!(Kind::sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Kind::Png));
        assert_eq!(Kind::sniff(b"GIF89a....."), None);
        assert_eq!(Kind::sniff(b"<svg xmlns="), None);
        assert_eq!(Kind::sniff(b"#!AMR\n\x3c"), Some(Kind::Amr));
        assert_eq!(Kind::sniff(b"#!AMR-WB\n"), Some(Kind::AmrWb));
        assert_eq!(Kind::sniff(b"RIFF\0\0\0\0WAVEfmt "), Some(Kind::Wav));
        assert_eq!(Kind::sniff(b"RIFF\0\0\0\0AVI LIST"), None);
        assert_eq!(Kind::sniff(b"\0\0\0\x20ftypM4A "), Some(Kind::M4a));
    }

    #[test]
    fn amr_duration_counts_twenty_millisecond_frames() {
        // 50 frames of mode 7 (12.2 kbit/s: one TOC byte and 31 bytes) = 1 s.
        let mut amr = b"#!AMR\n".to_vec();
        for _ in 0..50 {
            amr.push(7 << 3 | 0x04);
            amr.extend_from_slice(&[0u8; 31]);
        }
        let Upload::Voice(v) = inspect(amr.clone()).unwrap() else {
            panic!("not voice")
        };
        assert_eq!((v.kind, v.millis), (Kind::Amr, 1000));
        amr.truncate(amr.len() - 3);
        assert!(matches!(inspect(amr), Err(MediaError::Corrupt { .. })));
        assert!(matches!(
            inspect(b"#!AMR\n".to_vec()),
            Err(MediaError::Corrupt { .. })
        ));
    }

    #[test]
    fn limits_and_nonsense_get_errors_that_say_what_to_do() {
        assert_eq!(inspect(vec![]).unwrap_err(), MediaError::Empty);
        let gif = inspect(b"GIF89a\x01\x00\x01\x00".to_vec()).unwrap_err();
        assert!(gif.to_string().contains("JPEG or PNG"), "{gif}");
        let mut big = vec![0xFF, 0xD8, 0xFF];
        big.resize(MAX_IMAGE_BYTES + 1, 0);
        let e = inspect(big).unwrap_err();
        assert!(e.to_string().contains("at most 2 MB"), "{e}");
        let e = inspect(b"\xFF\xD8\xFF\xE0 not really a jpeg".to_vec()).unwrap_err();
        assert!(matches!(e, MediaError::Corrupt { .. }), "{e}");
    }
}
