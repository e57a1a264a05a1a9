//! `integration.websocket` against a real WebSocket server (the Python `websockets` package that
//! scripts/test.sh installs under target/fixture-cache/tools/ws): one endpoint that requires the
//! subprotocol `chat.v1`, one behind TLS with a certificate from a test CA. Each case's verdict
//! is compared with the reference client's, `websockets.sync.client.connect` offering the same
//! subprotocols and trusting the same CA (`[integration] websocket_protocols`/`websocket_ca`).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use crate::common::{check, devops_agent, project, run};

/// The interpreter with `websockets` installed; the test fails naming it when it is missing.
fn python() -> PathBuf {
    let python =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixture-cache/tools/ws/bin/python");
    assert!(
        python.is_file(),
        "this test needs the PyPI websockets package in {} (scripts/test.sh installs it)",
        python.display()
    );
    python
}

/// The server process, killed and reaped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SERVER: &str = "\
import asyncio, ssl, sys
from websockets.asyncio.server import serve
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async with serve(echo, '127.0.0.1', 0, subprotocols=['chat.v1']) as plain, \\
            serve(echo, '127.0.0.1', 0, ssl=ctx) as tls:
        print(plain.sockets[0].getsockname()[1], tls.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().create_future()
asyncio.run(main())
";

/// What an app's client does: connect offering `protocols`, trusting `ca` for `wss://`, and
/// read its message back.
const CLIENT: &str = "\
import json, ssl, sys
from websockets.sync.client import connect
url, protocols, ca = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
kw = {'subprotocols': protocols} if protocols else {}
if url.startswith('wss:'):
    kw['ssl'] = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
with connect(url, open_timeout=5, **kw) as ws:
    ws.send('hi')
    assert ws.recv(timeout=5) == 'hi'
";

fn reference(url: &str, protocols: &[&str], ca: Option<&Path>) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("20")
        .arg(python())
        .args(["-c", CLIENT, url])
        .arg(serde_json::to_string(protocols).unwrap())
        .arg(ca.map(Path::as_os_str).unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    let why = String::from_utf8_lossy(&out.stderr);
    (
        out.status.success(),
        why.lines().last().unwrap_or_default().to_owned(),
    )
}

#[test]
fn websocket_subprotocols_and_ca_agree_with_the_websockets_client() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "devops-agent ws CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.path().join("leaf.key"), key.serialize_pem()).unwrap();

    let mut child = Command::new(python())
        .args(["-c", SERVER])
        .arg(dir.path().join("leaf.pem"))
        .arg(dir.path().join("leaf.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("python: {e}"));
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    // The server prints its two ports once it listens (or exits, closing the pipe).
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let ports: Vec<u16> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let [plain, tls] = ports[..] else {
        panic!("the websockets server did not start: {line:?}");
    };

    // (case, backend URL, subprotocols offered, CA configured, designed verdict)
    let cases: [(&str, String, &[&str], bool, bool); 6] = [
        (
            "subprotocol required, none offered",
            format!("http://127.0.0.1:{plain}"),
            &[],
            false,
            false,
        ),
        (
            "subprotocol required, offered among others",
            format!("http://127.0.0.1:{plain}"),
            &["other", "chat.v1"],
            false,
            true,
        ),
        (
            "subprotocol required, only another offered",
            format!("http://127.0.0.1:{plain}"),
            &["chat.v2"],
            false,
            false,
        ),
        (
            "wss with the CA",
            format!("https://localhost:{tls}"),
            &[],
            true,
            true,
        ),
        (
            "wss without the CA",
            format!("https://localhost:{tls}"),
            &[],
            false,
            false,
        ),
        (
            "wss with the CA, a subprotocol the server does not choose",
            format!("https://localhost:{tls}"),
            &["chat.v1"],
            true,
            true,
        ),
    ];
    let mut table = Vec::new();
    let mut bad = 0;
    for (name, backend, protocols, with_ca, expected) in &cases {
        let ws_url = backend.replacen("http", "ws", 1) + "/ws";
        let (theirs, why) = reference(&ws_url, protocols, with_ca.then_some(ca_file.as_path()));
        let mut toml = format!(
            "[integration]\nwebsocket = [\"/ws\"]\nwebsocket_protocols = {}\n",
            serde_json::to_string(protocols).unwrap()
        );
        if *with_ca {
            toml.push_str("websocket_ca = \"ca.pem\"\n");
        }
        let project_dir = project(&[("devops-agent.toml", &toml)]);
        std::fs::copy(&ca_file, project_dir.path().join("ca.pem")).unwrap();
        let state = tempfile::tempdir().unwrap();
        let mut cmd = devops_agent(state.path());
        cmd.args(["integration", "--project"])
            .arg(project_dir.path())
            .arg("--backend-url")
            .arg(backend);
        let report = run(cmd).report();
        let ws = check(&report, "integration.websocket");
        let ours = ws["status"] == "passed";
        let agree = ours == theirs && theirs == *expected && (ours || ws["status"] == "failed");
        if !agree {
            bad += 1;
        }
        table.push(format!(
            "{} {name}: websockets client {theirs} ({why}), devops-agent {} ({})",
            if agree { "ok " } else { "BAD" },
            ws["status"],
            ws["message"]
        ));
    }
    drop(server);
    assert_eq!(bad, 0, "\n{}", table.join("\n"));
}
