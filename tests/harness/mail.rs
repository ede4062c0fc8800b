//! A real SMTP listener for the tests: pfid's outbound worker delivers to it over TCP
//! with lettre, exactly as it would to a relay, and tests read what arrived and follow
//! the links in it. It can be stopped and started again on the same port to play a
//! mail-server outage.
//!
//! It speaks the part of RFC 5321 a submission client uses (EHLO/HELO, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT) and advertises STARTTLS only when asked to, so a test can
//! see that `?tls=required` never falls back to clear text.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The raw message (headers and MIME body), dot-unstuffed.
    pub data: String,
}

impl Mail {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(head_of(&self.data), name)
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    /// The decoded `text/plain` part (or the whole body of a single-part message).
    pub fn text(&self) -> String {
        part_of(&self.data, "text/plain").unwrap_or_default()
    }

    /// The decoded `text/html` part, if any.
    pub fn html(&self) -> Option<String> {
        part_of(&self.data, "text/html")
    }

    /// Every http(s) URL in the text part, in order.
    pub fn links(&self) -> Vec<String> {
        let text = self.text();
        let mut out = Vec::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("http") {
            let cand = &rest[i..];
            if cand.starts_with("http://") || cand.starts_with("https://") {
                let end = cand
                    .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
                    .unwrap_or(cand.len());
                out.push(cand[..end].trim_end_matches(['.', ',', ')']).to_owned());
                rest = &cand[end..];
            } else {
                rest = &cand[4..];
            }
        }
        out
    }

    /// The first link whose path starts with `path_prefix` (e.g. "/reset-password/").
    pub fn link_to(&self, path_prefix: &str) -> String {
        self.links()
            .into_iter()
            .find(|l| {
                url::Url::parse(l)
                    .map(|u| u.path().starts_with(path_prefix))
                    .unwrap_or(false)
            })
            .unwrap_or_else(|| panic!("no link to {path_prefix} in:\n{}", self.text()))
    }
}

fn head_of(data: &str) -> &str {
    data.split("\r\n\r\n").next().unwrap_or("")
}

fn header_in(head: &str, name: &str) -> Option<String> {
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn decode(body: &str, encoding: &str) -> String {
    match encoding.to_ascii_lowercase().as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("base64 body");
            String::from_utf8(bytes).expect("utf-8 body")
        }
        "quoted-printable" => {
            let mut out = Vec::new();
            let bytes = body.replace("=\r\n", "").into_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() + 1 {
                    let hex =
                        std::str::from_utf8(&bytes[i + 1..(i + 3).min(bytes.len())]).unwrap_or("");
                    if let Ok(b) = u8::from_str_radix(hex, 16) {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8(out).expect("utf-8 body")
        }
        _ => body.to_owned(),
    }
}

/// The decoded body of the first part with `mime` type, walking multiparts.
fn part_of(entity: &str, mime: &str) -> Option<String> {
    let (head, body) = entity.split_once("\r\n\r\n").unwrap_or((entity, ""));
    let content_type = header_in(head, "Content-Type").unwrap_or_else(|| "text/plain".into());
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/") {
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned())?;
        let delimiter = format!("--{boundary}");
        for part in body.split(&delimiter).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.trim_start_matches("\r\n");
            if let Some(found) = part_of(part, mime) {
                return Some(found);
            }
        }
        return None;
    }
    if !lower.starts_with(mime) {
        return None;
    }
    let encoding = header_in(head, "Content-Transfer-Encoding").unwrap_or_default();
    Some(decode(body.trim_end_matches("\r\n"), &encoding))
}

#[derive(Default)]
struct Shared {
    mails: Vec<Mail>,
    /// Commands seen, in order (tests check STARTTLS was asked for, say).
    commands: Vec<String>,
    /// Connections that began with a TLS handshake instead of SMTP.
    tls_hellos: usize,
}

/// The SMTP listener. `url()` is what `mail.smtp_url` should be.
pub struct MailSink {
    port: u16,
    offer_starttls: bool,
    shared: Arc<Mutex<Shared>>,
    task: Option<JoinHandle<()>>,
}

impl MailSink {
    /// Starts listening on an ephemeral port of 127.0.0.1.
    pub async fn start() -> MailSink {
        MailSink::start_with(false).await
    }

    /// Starts listening and, when `offer_starttls`, advertises STARTTLS (and answers
    /// it with 220, then sees the client's TLS handshake it cannot complete).
    pub async fn start_with(offer_starttls: bool) -> MailSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let task = Some(spawn(listener, shared.clone(), offer_starttls));
        MailSink {
            port,
            offer_starttls,
            shared,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`, plain, as for a local relay.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops accepting and closes open connections: the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port (the outage is over).
    pub async fn resume(&mut self) {
        self.stop();
        let mut last = None;
        for _ in 0..50 {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => {
                    self.task = Some(spawn(l, self.shared.clone(), self.offer_starttls));
                    return;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        panic!("cannot listen on port {} again: {last:?}", self.port);
    }

    /// Everything received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.shared.lock().expect("lock").mails.clone()
    }

    /// Messages received for `to`.
    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    pub fn commands(&self) -> Vec<String> {
        self.shared.lock().expect("lock").commands.clone()
    }

    pub fn tls_hellos(&self) -> usize {
        self.shared.lock().expect("lock").tls_hellos
    }

    /// Waits (a bounded number of short polls) for the `n`-th message to `to` whose
    /// subject contains `subject`, and returns it.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Mail {
        self.wait_for_nth(to, subject, 1).await
    }

    /// Waits for at least `n` such messages and returns the `n`-th.
    pub async fn wait_for_nth(&self, to: &str, subject: &str, n: usize) -> Mail {
        for _ in 0..400 {
            let found: Vec<Mail> = self
                .mails_to(to)
                .into_iter()
                .filter(|m| m.subject().contains(subject))
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no mail #{n} to {to} with subject containing {subject:?}; got: {:?}",
            self.mails()
                .iter()
                .map(|m| (m.to.clone(), m.subject()))
                .collect::<Vec<_>>()
        );
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(listener: TcpListener, shared: Arc<Mutex<Shared>>, starttls: bool) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sessions = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((sock, _)) = accepted else { break };
                    sessions.spawn(session(sock, shared.clone(), starttls));
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        // Dropping the JoinSet aborts the sessions when this task is aborted.
    })
}

async fn session(sock: tokio::net::TcpStream, shared: Arc<Mutex<Shared>>, starttls: bool) {
    let (read, mut write) = sock.into_split();
    let mut reader = BufReader::new(read);
    if write
        .write_all(b"220 127.0.0.1 ESMTP pfid-test-sink\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    let mut first = true;
    loop {
        let mut raw = Vec::new();
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if first && raw.first() == Some(&0x16) {
            // A TLS ClientHello: the client wanted TLS from the first byte (smtps://).
            shared.lock().expect("lock").tls_hellos += 1;
            return;
        }
        first = false;
        let line = String::from_utf8_lossy(&raw).trim_end().to_owned();
        let upper = line.to_ascii_uppercase();
        shared.lock().expect("lock").commands.push(
            upper
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
        let reply: String = if upper.starts_with("EHLO") {
            if starttls {
                "250-127.0.0.1\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n".into()
            } else {
                "250-127.0.0.1\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
            }
        } else if upper.starts_with("HELO") {
            "250 127.0.0.1\r\n".into()
        } else if upper.starts_with("STARTTLS") && starttls {
            let _ = write.write_all(b"220 Ready to start TLS\r\n").await;
            // The client now sends a ClientHello this sink cannot answer; note it and
            // hang up, as a server with a certificate the client refuses would.
            let mut peek = [0u8; 1];
            use tokio::io::AsyncReadExt;
            if reader.read(&mut peek).await.is_ok_and(|n| n == 1) && peek[0] == 0x16 {
                shared.lock().expect("lock").tls_hellos += 1;
            }
            return;
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&line[10..]);
            to.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&line[8..]));
            "250 OK\r\n".into()
        } else if upper == "DATA" {
            if write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                let mut l = Vec::new();
                match reader.read_until(b'\n', &mut l).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&l).to_string();
                if text == ".\r\n" || text == ".\n" {
                    break;
                }
                data.push_str(text.strip_prefix('.').unwrap_or(&text));
            }
            shared.lock().expect("lock").mails.push(Mail {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            "250 OK: queued\r\n".into()
        } else if upper.starts_with("RSET") {
            to.clear();
            "250 OK\r\n".into()
        } else if upper.starts_with("NOOP") {
            "250 OK\r\n".into()
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 Bye\r\n").await;
            return;
        } else {
            "502 Command not implemented\r\n".into()
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The address inside `<...>` of a MAIL FROM / RCPT TO argument.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(a, _)| a)
        .unwrap_or(arg);
    inner.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_quoted_printable_and_base64_parts() {
        let data = "Subject: Hi\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nReset password: http://127.0.0.1:1/reset-password/abc=\r\ndef =3D ok\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n--b1--\r\n";
        let m = Mail {
            from: "a@b.c".into(),
            to: vec!["d@e.f".into()],
            data: data.into(),
        };
        assert_eq!(m.subject(), "Hi");
        assert!(m.text().contains("reset-password/abcdef = ok"));
        assert_eq!(m.html().as_deref(), Some("<b>hi</b>"));
        assert_eq!(
            m.link_to("/reset-password/"),
            "http://127.0.0.1:1/reset-password/abcdef"
        );
    }
}
