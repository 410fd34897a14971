//! Email over SMTP (lettre): a plain-text message per notification.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{read_secret, EmailConfig, SmtpTls};
use super::{text, Notification, NotifyError, Result, USER_AGENT};

/// An SMTP transport and the addresses, built once per receiver.
pub(super) struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl EmailSender {
    pub(super) fn new(config: &EmailConfig) -> Result<EmailSender> {
        let name = config.name.as_str();
        let setup = |field: &str, message: String| NotifyError::Config {
            receiver: name.to_string(),
            field: field.to_string(),
            message,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
                .port(config.port())
                // lettre's own deadline per SMTP command; `deliver` puts one on the whole send.
                .timeout(Some(config.timeout));
        if config.tls != SmtpTls::None {
            let mut tls = TlsParameters::builder(config.smtp_host.clone());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    setup("ca_file", format!("cannot read {}: {e}", path.display()))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    setup(
                        "ca_file",
                        format!("{}: not a PEM certificate: {e}", path.display()),
                    )
                })?;
                tls = tls.add_root_certificate(cert);
            }
            let tls = tls
                .build_rustls()
                .map_err(|e| setup("tls", crate::etcd::error_chain(&e)))?;
            builder = builder.tls(match config.tls {
                // Required, not opportunistic: a server (or a man in the middle) that does
                // not offer STARTTLS must not get the password in clear.
                SmtpTls::Starttls => Tls::Required(tls),
                SmtpTls::Tls => Tls::Wrapper(tls),
                SmtpTls::None => Tls::None,
            });
        }
        if let Some(user) = &config.username {
            let password = read_secret(
                name,
                "password",
                config.password_env.as_deref(),
                config.password_file.as_deref(),
            )?;
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        // Validation parsed these already; parse again to keep them.
        let parse = |field: String, text: &str| {
            text.parse::<Mailbox>()
                .map_err(|e| setup(&field, format!("{text:?} is not an address: {e}")))
        };
        let from = parse("from".into(), &config.from)?;
        let to = config
            .to
            .iter()
            .enumerate()
            .map(|(i, t)| parse(format!("to[{i}]"), t))
            .collect::<Result<Vec<_>>>()?;
        Ok(EmailSender {
            transport: builder.build(),
            from,
            to,
        })
    }

    pub(super) async fn send(&self, receiver: &str, notification: &Notification) -> Result<()> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(text::subject(notification))
            .user_agent(USER_AGENT.to_string())
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message =
            message
                .body(text::plain_body(notification))
                .map_err(|e| NotifyError::Smtp {
                    receiver: receiver.to_string(),
                    message: format!("cannot build the message: {e}"),
                    transient: false,
                })?;
        self.transport
            .send(message)
            .await
            .map_err(|e| NotifyError::Smtp {
                receiver: receiver.to_string(),
                transient: is_transient(&e),
                message: crate::etcd::error_chain(&e),
            })?;
        Ok(())
    }
}

/// Whether another attempt may get through: not after a 5xx reply (a refused login
/// included), a local problem, or a failed TLS handshake (an untrusted certificate or
/// a server without STARTTLS fail the same way next time).
fn is_transient(e: &lettre::transport::smtp::Error) -> bool {
    !(e.is_permanent() || e.is_client() || e.is_tls() || super::is_tls_failure(e))
}
