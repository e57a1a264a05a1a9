//! A tiny Chrome `DevTools` Protocol client for the HTML report tests: it starts Debian's real
//! headless `chromium`, opens one page, and records what the page did — every network request
//! it made, every console message and uncaught exception — then evaluates expressions in it.
//!
//! The browser's own background traffic (component updates, time sync) is not the page's: the
//! `Network` domain of a page session reports only the page's requests, which is why this drives
//! the protocol instead of watching a proxy. The WebSocket framing is the minimum RFC 6455 asks
//! of a client (masked text frames, ping answered) over a loopback `TcpStream`; the project has
//! no WebSocket crate with a blocking client, and this is test support, not product code.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The flags every run uses (the set, plus a private profile).
pub(crate) const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--hide-scrollbars",
];

/// The `chromium` binary, if installed.
pub(crate) fn chromium() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    })
}

/// What a page did while it loaded.
pub(crate) struct PageLoad {
    /// URLs of every request the page made (its own document included).
    pub(crate) requests: Vec<String>,
    /// Console messages at level error, uncaught exceptions, and browser log errors (a blocked
    /// load, a Content-Security-Policy violation).
    pub(crate) errors: Vec<String>,
}

/// A running browser with one page session.
pub(crate) struct Browser {
    child: Child,
    ws: TcpStream,
    next_id: u64,
    session: String,
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Start `chromium` and open a blank page with the Page, Network, Runtime and Log domains on.
    pub(crate) fn start(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(binary)
            .args(FLAGS)
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--window-size=1280,2000")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes its port and browser path here once it listens.
        let active = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.to_owned(), path.to_owned());
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let ws = handshake(&format!("127.0.0.1:{port}"), &path);
        let mut browser = Browser {
            child,
            ws,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", &json!({"url": "about:blank"}), false);
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let attached = browser.call(
            "Target.attachToTarget",
            &json!({"targetId": target_id, "flatten": true}),
            false,
        );
        attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .clone_into(&mut browser.session);
        for domain in ["Page", "Network", "Runtime", "Log"] {
            browser.call(&format!("{domain}.enable"), &json!({}), true);
        }
        browser
    }

    /// Load `url`, wait for its load event and a moment more, and say what it did.
    pub(crate) fn load(&mut self, url: &str) -> PageLoad {
        self.events.clear();
        self.call("Page.navigate", &json!({"url": url}), true);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .events
            .iter()
            .any(|e| e["method"] == "Page.loadEventFired")
        {
            assert!(
                Instant::now() < deadline,
                "the page did not load within 30 s"
            );
            let message = self.read_message();
            self.events.push(message);
        }
        // Late work (a timer, a lazy image) has a moment to show itself: an evaluation
        // round trip after a short pause, collecting what arrives in between.
        std::thread::sleep(Duration::from_millis(300));
        self.evaluate("1");
        let mut load = PageLoad {
            requests: Vec::new(),
            errors: Vec::new(),
        };
        for e in &self.events {
            let p = &e["params"];
            match e["method"].as_str() {
                Some("Network.requestWillBeSent") => {
                    load.requests
                        .push(p["request"]["url"].as_str().unwrap_or("").to_owned());
                }
                Some("Runtime.consoleAPICalled")
                    if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                {
                    load.errors
                        .push(format!("console.{}: {}", p["type"], p["args"]));
                }
                Some("Runtime.exceptionThrown") => {
                    load.errors
                        .push(format!("exception: {}", p["exceptionDetails"]));
                }
                Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                    load.errors.push(format!("log: {}", p["entry"]["text"]));
                }
                _ => {}
            }
        }
        load
    }

    /// Emulate the reader's `prefers-color-scheme` (`light` or `dark`) in the open page.
    pub(crate) fn color_scheme(&mut self, scheme: &str) {
        self.call(
            "Emulation.setEmulatedMedia",
            &json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
            true,
        );
    }

    /// Lay the page out as for printing (`true`) or for the screen.
    pub(crate) fn print_media(&mut self, print: bool) {
        self.call(
            "Emulation.setEmulatedMedia",
            &json!({"media": if print { "print" } else { "" }}),
            true,
        );
    }

    /// Evaluate `expression` in the page and return its value (JSON-serialisable results).
    pub(crate) fn evaluate(&mut self, expression: &str) -> Value {
        self.evaluate_with(expression, false)
    }

    /// Evaluate an expression that gives a promise, and return what it resolves to.
    pub(crate) fn evaluate_async(&mut self, expression: &str) -> Value {
        self.evaluate_with(expression, true)
    }

    fn evaluate_with(&mut self, expression: &str, wait: bool) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            &json!({"expression": expression, "returnByValue": true, "awaitPromise": wait}),
            true,
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Send one command (to the page session when `in_page`) and wait for its answer, keeping
    /// the events that arrive meanwhile.
    fn call(&mut self, method: &str, params: &Value, in_page: bool) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if in_page {
            message["sessionId"] = json!(self.session);
        }
        send_text(&mut self.ws, &message.to_string());
        loop {
            let answer = self.read_message();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
            self.events.push(answer);
        }
    }

    fn read_message(&mut self) -> Value {
        let text = read_text(&mut self.ws);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("DevTools sent non-JSON ({e}): {text}"))
    }
}

/// Open the WebSocket at `path` on `addr` (RFC 6455 opening handshake).
fn handshake(addr: &str, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect to DevTools");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("send handshake");
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut status = String::new();
    reader.read_line(&mut status).expect("handshake status");
    assert!(
        status.contains(" 101 "),
        "DevTools refused the WebSocket: {status}"
    );
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("handshake header");
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    // The reader's buffer holds nothing past the headers: the server sends no frame unasked.
    stream
}

/// Send a text frame. A client must mask its frames; the all-zero key leaves the payload as is.
fn send_text(stream: &mut TcpStream, text: &str) {
    send_frame(stream, 0x1, text.as_bytes());
}

fn send_frame(stream: &mut TcpStream, opcode: u8, payload: &[u8]) {
    let mut frame = vec![0x80 | opcode];
    let len = payload.len();
    if len < 126 {
        frame.push(0x80 | u8::try_from(len).expect("short length"));
    } else if let Ok(len) = u16::try_from(len) {
        frame.push(0x80 | 0x7e);
        frame.extend_from_slice(&len.to_be_bytes());
    } else {
        frame.push(0x80 | 0x7f);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    stream.write_all(&frame).expect("send frame");
}

/// Read one whole text message (joining continuation frames, answering pings).
fn read_text(stream: &mut TcpStream) -> String {
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        stream
            .read_exact(&mut head)
            .expect("DevTools frame (chromium exited or hung?)");
        let fin = head[0] & 0x80 != 0;
        let opcode = head[0] & 0x0f;
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).expect("length");
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).expect("length");
            len = u64::from_be_bytes(b);
        }
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            stream.read_exact(&mut mask).expect("mask");
        }
        let mut payload = vec![0u8; usize::try_from(len).expect("frame size")];
        stream.read_exact(&mut payload).expect("payload");
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        match opcode {
            0x0 | 0x1 => {
                message.extend_from_slice(&payload);
                if fin {
                    return String::from_utf8(message).expect("UTF-8 message");
                }
            }
            0x9 => send_frame(stream, 0xA, &payload),
            0x8 => panic!("DevTools closed the connection"),
            _ => {}
        }
    }
}
