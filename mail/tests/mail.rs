//! Mail through the outbox folder, and through a real SMTP sink (aiosmtpd, which `.ci/run`
//! installs) when Python has it.

use kefu_mail::{FileOutbox, Mail, Mailer, SmtpMailer};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn mail() -> Mail {
    Mail {
        to: "li.lei@example.cn".into(),
        subject: "您的客服账号".into(),
        body: "初始密码: Ab3$xyz9".into(),
    }
}

#[tokio::test]
async fn the_outbox_writes_one_eml_file_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = FileOutbox::new(dir.path().join("outbox"), "Kefu <no-reply@kefu.local>").unwrap();
    outbox.send(&mail()).await.unwrap();
    outbox.send(&mail()).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 2);
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains("To: li.lei@example.cn"), "{text}");
    assert!(text.contains("From: Kefu <no-reply@kefu.local>"), "{text}");
}

#[tokio::test]
async fn a_bad_address_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(FileOutbox::new(dir.path(), "not an address").is_err());
    let outbox = FileOutbox::new(dir.path(), "no-reply@kefu.local").unwrap();
    let err = outbox
        .send(&Mail {
            to: "nobody".into(),
            ..mail()
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "`nobody` is not a mail address");
}

#[tokio::test]
async fn an_unreachable_smtp_server_fails_naming_the_setting() {
    let err = SmtpMailer::connect("smtp://127.0.0.1:1", "a@b.cn")
        .await
        .err()
        .unwrap();
    assert!(err.to_string().starts_with("KEFU_SMTP_URL"), "{err}");
}

struct Sink(Child);
impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn smtp_delivers_to_a_real_sink() {
    let has_sink = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_sink {
        eprintln!("aiosmtpd is not installed: the SMTP test is skipped (pip install aiosmtpd)");
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let _sink = Sink(
        Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("smtp://127.0.0.1:{port}");
    let mut mailer = None;
    for _ in 0..100 {
        if let Ok(m) = SmtpMailer::connect(&url, "Kefu <no-reply@kefu.local>").await {
            mailer = Some(m);
            break;
        }
        // Waiting for the sink process to listen, not for a timeout under test.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mailer = mailer.expect("the SMTP sink came up");
    mailer.send(&mail()).await.unwrap();
    let new = maildir.path().join("box/new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains("li.lei@example.cn"), "{text}");
}
