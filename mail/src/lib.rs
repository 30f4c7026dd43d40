//! Outgoing mail: initial and reset passwords, later notifications.
//!
//! The embedded default writes each message as an `.eml` file under `./data/outbox`, which
//! any mail client opens; production sends through SMTP. Both build the message with lettre,
//! so what lands in the outbox is byte-for-byte what SMTP would carry.

use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One plain-text message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("KEFU_MAIL_FROM: `{0}` is not a mail address")]
    BadFrom(String),
    #[error("KEFU_SMTP_URL: {0}")]
    Config(String),
    #[error("`{0}` is not a mail address")]
    BadRecipient(String),
    #[error("building the message failed: {0}")]
    Build(String),
    #[error("sending failed: {0}")]
    Send(String),
    #[error("writing to the outbox failed: {0}")]
    Io(#[from] std::io::Error),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
    fn name(&self) -> &'static str;
}

fn build(from: &Mailbox, mail: &Mail) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| MailError::BadRecipient(mail.to.clone()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| MailError::Build(e.to_string()))
}

fn parse_from(from: &str) -> Result<Mailbox, MailError> {
    from.parse()
        .map_err(|_| MailError::BadFrom(from.to_string()))
}

/// Writes each message to `dir` as `{time}-{n}.eml`.
pub struct FileOutbox {
    dir: PathBuf,
    from: Mailbox,
    counter: AtomicU64,
}

impl FileOutbox {
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, MailError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            from: parse_from(from)?,
            counter: AtomicU64::new(0),
        })
    }
}

#[async_trait]
impl Mailer for FileOutbox {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = build(&self.from, mail)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.join(format!("{stamp}-{n}.eml"));
        tokio::fs::write(&path, message.formatted()).await?;
        tracing::info!(path = %path.display(), "mail written to the outbox");
        Ok(())
    }

    fn name(&self) -> &'static str {
        "outbox"
    }
}

/// Sends through an SMTP server named by a URL: `smtp://user:pass@host:587?tls=required`,
/// `smtps://host:465`, or `smtp://host:25` for a relay without TLS.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// Builds the transport and checks the server answers, so a wrong URL fails at start.
    pub async fn connect(url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(format!("not a valid SMTP URL: {e}")))?
            .timeout(Some(std::time::Duration::from_secs(10)))
            .build();
        let ok = transport
            .test_connection()
            .await
            .map_err(|e| MailError::Config(format!("cannot reach the SMTP server: {e}")))?;
        if !ok {
            return Err(MailError::Config(
                "the SMTP server did not answer NOOP".into(),
            ));
        }
        Ok(Self {
            transport,
            from: parse_from(from)?,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = build(&self.from, mail)?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "smtp"
    }
}

/// The mailer for a configuration: SMTP when a URL is given, otherwise the outbox folder.
pub async fn connect(
    smtp_url: Option<&str>,
    outbox: PathBuf,
    from: &str,
) -> Result<Arc<dyn Mailer>, MailError> {
    match smtp_url {
        Some(url) => Ok(Arc::new(SmtpMailer::connect(url, from).await?)),
        None => Ok(Arc::new(FileOutbox::new(outbox, from)?)),
    }
}
