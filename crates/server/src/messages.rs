//! The messages pfid sends a patient: emails as text and HTML pairs
//! (`templates/email/<kind>.{txt,html}`) and security codes by text or voice
//! (`templates/sms/`). Product name and links come from configuration; every link is
//! built from `server.issuer`, never from a request's Host header.
//!
//! Rendering only builds a `NewMessage`: the caller queues it, usually inside the
//! transaction that makes it true, and the outbound worker delivers it.

use askama::Template;
use chrono::{DateTime, Utc};
use pfid_store::outbox::{Channel, NewMessage};

use crate::config::Settings;

/// The values a template may show. One struct for every kind keeps the templates
/// uniform; each kind reads the fields it needs.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub product: String,
    /// The portal's login page, shown in every email's footer.
    pub home: String,
    pub link: String,
    pub name: String,
    pub username: String,
    pub expires: String,
    pub when: String,
    pub minutes: i64,
    pub apps_ended: bool,
    pub code: String,
    pub spoken_code: String,
}

impl Vars {
    /// The values every message shares, from the settings.
    pub fn new(settings: &Settings) -> Vars {
        Vars {
            product: settings.server.product_name.clone(),
            home: settings.server.issuer.url("/login"),
            ..Vars::default()
        }
    }
    pub fn link(mut self, link: String) -> Vars {
        self.link = link;
        self
    }
}

/// A time as a patient reads it in an email (UTC, said so).
pub fn human_time(t: DateTime<Utc>) -> String {
    t.format("%B %-d, %Y at %H:%M UTC").to_string()
}

macro_rules! templates {
    ($($name:ident: $file:literal;)+) => {
        $(
            #[derive(Template)]
            #[template(path = $file)]
            struct $name<'a> {
                v: &'a Vars,
            }
        )+
    };
}

// Askama needs a literal path per template struct, so each kind has two small structs;
// `.txt` templates render as they are, `.html` ones escape what they show.
templates! {
    InvitationTxt: "email/invitation.txt";
    InvitationHtml: "email/invitation.html";
    ResetPasswordTxt: "email/reset_password.txt";
    ResetPasswordHtml: "email/reset_password.html";
    PasswordChangedTxt: "email/password_changed.txt";
    PasswordChangedHtml: "email/password_changed.html";
    UsernameReminderTxt: "email/username_reminder.txt";
    UsernameReminderHtml: "email/username_reminder.html";
    ConfirmEmailTxt: "email/confirm_email.txt";
    ConfirmEmailHtml: "email/confirm_email.html";
    EmailInUseTxt: "email/email_in_use.txt";
    EmailInUseHtml: "email/email_in_use.html";
    EmailChangedTxt: "email/email_changed.txt";
    EmailChangedHtml: "email/email_changed.html";
    SecurityCodeTxt: "sms/security_code.txt";
    SecurityCodeVoiceTxt: "sms/security_code_voice.txt";
}

/// The kinds of email pfid sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    /// An office's invitation to sign up (link to the sign-up).
    Invitation,
    /// The "Reset password" link.
    ResetPassword,
    /// "Your password was changed".
    PasswordChanged,
    /// The username, for "Forgot username?".
    UsernameReminder,
    /// A link that confirms a new email address.
    ConfirmEmail,
    /// To an address another login already uses, when someone asked to use it.
    EmailInUse,
    /// To the old address after an email change.
    EmailChanged,
}

impl EmailKind {
    fn subject(self, product: &str) -> String {
        match self {
            EmailKind::Invitation => format!("You are invited to {product}"),
            EmailKind::ResetPassword => format!("Reset your {product} password"),
            EmailKind::PasswordChanged => format!("Your {product} password was changed"),
            EmailKind::UsernameReminder => format!("Your {product} username"),
            EmailKind::ConfirmEmail => format!("Confirm your new {product} email address"),
            EmailKind::EmailInUse => format!("About your {product} login"),
            EmailKind::EmailChanged => format!("Your {product} email address was changed"),
        }
    }
}

/// Renders one email as a queued message to `to`.
pub fn email(kind: EmailKind, to: &str, v: &Vars) -> Result<NewMessage, askama::Error> {
    let (text, html) = match kind {
        EmailKind::Invitation => (
            InvitationTxt { v }.render()?,
            InvitationHtml { v }.render()?,
        ),
        EmailKind::ResetPassword => (
            ResetPasswordTxt { v }.render()?,
            ResetPasswordHtml { v }.render()?,
        ),
        EmailKind::PasswordChanged => (
            PasswordChangedTxt { v }.render()?,
            PasswordChangedHtml { v }.render()?,
        ),
        EmailKind::UsernameReminder => (
            UsernameReminderTxt { v }.render()?,
            UsernameReminderHtml { v }.render()?,
        ),
        EmailKind::ConfirmEmail => (
            ConfirmEmailTxt { v }.render()?,
            ConfirmEmailHtml { v }.render()?,
        ),
        EmailKind::EmailInUse => (
            EmailInUseTxt { v }.render()?,
            EmailInUseHtml { v }.render()?,
        ),
        EmailKind::EmailChanged => (
            EmailChangedTxt { v }.render()?,
            EmailChangedHtml { v }.render()?,
        ),
    };
    Ok(NewMessage {
        channel: Channel::Email,
        recipient: to.trim().to_owned(),
        subject: Some(kind.subject(&v.product)),
        body_text: text,
        body_html: Some(html),
    })
}

/// How a patient asked to receive a security code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneChannel {
    Text,
    Voice,
}

impl PhoneChannel {
    /// The form value ("text" or "voice").
    pub fn parse(s: &str) -> Option<PhoneChannel> {
        match s {
            "text" => Some(PhoneChannel::Text),
            "voice" => Some(PhoneChannel::Voice),
            _ => None,
        }
    }
}

/// Renders a security code as a text message or a call to `phone` (sent in E.164).
pub fn security_code(
    channel: PhoneChannel,
    phone: &str,
    code: &str,
    minutes: i64,
    settings: &Settings,
) -> Result<NewMessage, askama::Error> {
    let v = Vars {
        code: code.to_owned(),
        // Spaced digits, so a speech synthesiser reads them one by one.
        spoken_code: code
            .chars()
            .map(String::from)
            .collect::<Vec<_>>()
            .join(", "),
        minutes,
        ..Vars::new(settings)
    };
    let (channel, body) = match channel {
        PhoneChannel::Text => (Channel::Sms, SecurityCodeTxt { v: &v }.render()?),
        PhoneChannel::Voice => (Channel::Voice, SecurityCodeVoiceTxt { v: &v }.render()?),
    };
    Ok(NewMessage {
        channel,
        recipient: pfid_store::normalize::phone_e164(phone),
        subject: None,
        body_text: body.trim().to_owned(),
        body_html: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_toml(
            "[server]\nissuer = \"https://id.example.org\"\nproduct_name = \"Acme Health\"\n",
        )
        .unwrap()
    }

    #[test]
    fn emails_carry_product_and_issuer_links_in_both_parts() {
        let s = settings();
        let v = Vars::new(&s).link(s.server.issuer.url("/reset-password/abc"));
        let msg = email(EmailKind::ResetPassword, " jane@example.com ", &v).unwrap();
        assert_eq!(msg.recipient, "jane@example.com");
        assert_eq!(
            msg.subject.as_deref(),
            Some("Reset your Acme Health password")
        );
        assert!(msg
            .body_text
            .contains("Reset password: https://id.example.org/reset-password/abc"));
        let html = msg.body_html.unwrap();
        assert!(html.contains("href=\"https://id.example.org/reset-password/abc\""));
        assert!(html.contains(">Reset password</a>"));
        assert!(html.contains("Acme Health"));
    }

    #[test]
    fn html_parts_escape_what_they_show() {
        let s = settings();
        let v = Vars {
            username: "<b>jane</b>".into(),
            ..Vars::new(&s)
        };
        let msg = email(EmailKind::UsernameReminder, "jane@example.com", &v).unwrap();
        assert!(msg.body_text.contains("<b>jane</b>"));
        let html = msg.body_html.unwrap();
        assert!(!html.contains("<b>jane"), "{html}");
        assert!(html.contains("jane"));
    }

    #[test]
    fn codes_go_to_e164_and_voice_spells_digits() {
        let s = settings();
        let text = security_code(PhoneChannel::Text, "555-010-2000", "123456", 10, &s).unwrap();
        assert_eq!(text.channel, Channel::Sms);
        assert_eq!(text.recipient, "+15550102000");
        assert!(text.body_text.contains("123456") && text.body_text.contains("Acme Health"));
        let voice = security_code(PhoneChannel::Voice, "555-010-2000", "123456", 10, &s).unwrap();
        assert_eq!(voice.channel, Channel::Voice);
        assert!(voice.body_text.contains("1, 2, 3, 4, 5, 6"));
    }
}
