//! A real HTTP endpoint standing in for the SMS/voice gateway (`sms.gateway_url`): it
//! records every JSON body posted to it (`{"to", "channel", "message"}`) with its
//! Authorization header, and can answer 503 to play a gateway outage.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One post the gateway received.
#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    /// "text" or "voice".
    pub channel: String,
    pub message: String,
    pub authorization: Option<String>,
}

impl Sms {
    /// The first run of six digits in the message (a security code); voice messages
    /// spell them out as "1, 2, 3, ...".
    pub fn code(&self) -> String {
        if let Some(run) = self
            .message
            .split(|c: char| !c.is_ascii_digit())
            .find(|r| r.len() == 6)
        {
            return run.to_owned();
        }
        self.message
            .chars()
            .filter(char::is_ascii_digit)
            .take(6)
            .collect()
    }
}

pub struct SmsSink {
    pub url: String,
    received: Arc<Mutex<Vec<Sms>>>,
    down: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl SmsSink {
    pub async fn start() -> SmsSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sms");
        let url = format!(
            "http://127.0.0.1:{}/send",
            listener.local_addr().expect("addr").port()
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let (rec, dn) = (received.clone(), down.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (rec, dn) = (rec.clone(), dn.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, rec, dn).await;
                });
            }
        });
        SmsSink {
            url,
            received,
            down,
            task,
        }
    }

    /// While down, every post is answered 503 and not recorded.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn messages(&self) -> Vec<Sms> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits for the `n`-th message to `to` (E.164) and returns it.
    pub async fn wait_for_nth(&self, to: &str, n: usize) -> Sms {
        for _ in 0..400 {
            let found: Vec<Sms> = self.messages().into_iter().filter(|m| m.to == to).collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no message #{n} to {to}; got {:?}", self.messages());
    }

    pub async fn wait_for(&self, to: &str) -> Sms {
        self.wait_for_nth(to, 1).await
    }
}

impl Drop for SmsSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    sock: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<Sms>>>,
    down: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let (read, mut write) = sock.into_split();
    let mut reader = BufReader::new(read);
    let mut length = 0usize;
    let mut authorization = None;
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_owned());
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    let status = if down.load(Ordering::SeqCst) {
        "503 Service Unavailable"
    } else {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        received.lock().expect("lock").push(Sms {
            to: v["to"].as_str().unwrap_or_default().to_owned(),
            channel: v["channel"].as_str().unwrap_or_default().to_owned(),
            message: v["message"].as_str().unwrap_or_default().to_owned(),
            authorization,
        });
        "200 OK"
    };
    write
        .write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            )
            .as_bytes(),
        )
        .await
}
