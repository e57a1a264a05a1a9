//! `startup.external_services` against a throwaway nginx (HTTP/2, TLS 1.2 with CBC suites only
//! or RSA key exchange only, chunked, gzip, large heads and bodies, redirects to a 404 and to an
//! expired certificate) and an HTTP/2-only TLS server (ALPN `h2` and nothing else), each case's
//! verdict compared with `curl -fsSL`'s on the same URL. No case may pass where curl fails;
//! where curl passes the probe passes too, except where it cannot speak the server's TLS
//! (CBC-only, RSA key exchange only: rustls implements neither), which must be a warning naming
//! the cause, never a failure.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;

use crate::common::{
    ChildGuard, check, devops_agent, findings, free_port, nginx_binary, project, run, skip,
    wait_for_port,
};

/// A test CA and `localhost` leaves it signs, as PEM (nginx) or DER (rustls).
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "devops-agent matrix CA");
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf for `localhost`: (certificate PEM, key PEM, certificate DER, key DER). Negative
/// `days`: expired that many days ago.
fn leaf(ca: &Ca, days: i64) -> (String, String, CertificateDer<'static>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now + time::Duration::days(days);
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (
        cert.pem(),
        key.serialize_pem(),
        cert.der().clone(),
        key.serialize_der(),
    )
}

/// A leaf for `localhost` with an RSA key (made by openssl: ring cannot generate one), so that
/// nginx can offer RSA key exchange: (certificate PEM, key PEM).
fn rsa_leaf(ca: &Ca) -> (String, String) {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("this test needs openssl (scripts/test.sh installs it): {e}"));
    assert!(out.status.success(), "openssl genpkey failed");
    let key_pem = String::from_utf8(out.stdout).unwrap();
    let key = KeyPair::from_pem(&key_pem).unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key_pem)
}

/// An HTTP/2-only TLS server: ALPN offers `h2` and nothing else (a client offering only
/// `http/1.1` is refused in the handshake), answering every request `200 ok`.
fn serve_h2_only(cert: CertificateDer<'static>, key: Vec<u8>) -> u16 {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
    )
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut connection) = h2::server::handshake(tls).await else {
                        return;
                    };
                    while let Some(Ok((_request, mut respond))) = connection.accept().await {
                        let response = http::Response::builder().status(200).body(()).unwrap();
                        if let Ok(mut body) = respond.send_response(response, false) {
                            let _ = body.send_data(bytes::Bytes::from_static(b"ok"), true);
                        }
                    }
                });
            }
        });
    });
    port
}

/// `curl -fsSL`'s verdict: follows redirects, verifies every HTTPS hop, fails on >= 400.
fn curl_ok(url: &str, ca: &Path) -> bool {
    let curl = Command::new("curl")
        .args(["-fsSL", "--max-time", "20", "-o", "/dev/null", "--cacert"])
        .arg(ca)
        .arg(url)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .stderr(Stdio::null())
        .status();
    match curl {
        Ok(status) => status.success(),
        Err(e) => panic!("this test needs curl (scripts/test.sh installs it): {e}"),
    }
}

/// The probe's verdict on one service: `pass`, `warn` (not verified, no failure) or `fail`.
fn verdict(svc: &Value, ext: &Value) -> &'static str {
    let name = svc["name"].as_str().unwrap_or_default();
    let mentioned = findings(ext).into_iter().any(|f| {
        f["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(&format!("{name} (")))
    });
    match (&svc["ok"], mentioned) {
        (Value::Bool(false), _) => "fail",
        (Value::Bool(true), false) => "pass",
        // A warning, or a service left unverified (`ok` null).
        _ => "warn",
    }
}

#[test]
fn external_services_agree_with_curl_on_nginx_and_h2() {
    let Some(nginx_bin) = nginx_binary() else {
        return skip("nginx is not installed (scripts/test.sh installs it)");
    };
    let ca = ca();
    let dir = project(&[]);
    let root = dir.path();
    let run_dir = root.join("nginx-run");
    let www = root.join("www");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(root.join("ca.pem"), &ca.pem).unwrap();
    let (good_cert, good_key, good_der, good_key_der) = leaf(&ca, 90);
    let (old_cert, old_key, _, _) = leaf(&ca, -2);
    let (rsa_cert, rsa_key) = rsa_leaf(&ca);
    for (name, text) in [
        ("rsa.crt", &rsa_cert),
        ("rsa.key", &rsa_key),
        ("good.crt", &good_cert),
        ("good.key", &good_key),
        ("old.crt", &old_cert),
        ("old.key", &old_key),
    ] {
        std::fs::write(run_dir.join(name), text).unwrap();
    }
    std::fs::write(www.join("index.html"), "<p>chunked by SSI</p>\n").unwrap();
    std::fs::write(www.join("big.bin"), vec![b'x'; 17 * 1024 * 1024]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, "compressed ".repeat(1000).as_bytes()).unwrap();
    std::fs::write(www.join("payload.txt.gz"), gz.finish().unwrap()).unwrap();

    let (plain, h2tls, cbc, expired) = (free_port(), free_port(), free_port(), free_port());
    let rsa_kx = free_port();
    let rd = run_dir.display();
    // 25 headers of 3000 bytes: a 75 KiB head (over the old client's 64 KiB cap; curl's
    // is 300 KiB), built from lines short enough for nginx's configuration parser.
    let mut big_head = String::new();
    for n in 0..25 {
        let _ = writeln!(
            big_head,
            "            add_header X-Pad-{n} \"{}\";",
            "p".repeat(3000)
        );
    }
    let conf = format!(
        r#"# Generated by tests/cli/startup_http.rs.
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    default_type text/plain;
    access_log off;
    client_body_temp_path {rd}/body;
    proxy_temp_path {rd}/proxy;
    fastcgi_temp_path {rd}/fastcgi;
    uwsgi_temp_path {rd}/uwsgi;
    scgi_temp_path {rd}/scgi;
    large_client_header_buffers 4 16k;

    server {{
        listen 127.0.0.1:{plain};
        root {www};
        location = /chunked {{ ssi on; default_type text/html; try_files /index.html =404; }}
        location = /gzip {{ default_type text/plain; add_header Content-Encoding gzip; try_files /payload.txt.gz =404; }}
        location = /big-head {{
            return 200 "ok\n";
{big_head}        }}
        location = /big-body {{ try_files /big.bin =404; }}
        location = /to-missing {{ return 302 /missing; }}
        location = /to-expired {{ return 301 https://localhost:{expired}/; }}
        location = /missing {{ return 404; }}
    }}
    server {{
        listen 127.0.0.1:{h2tls} ssl http2;
        ssl_certificate {rd}/good.crt;
        ssl_certificate_key {rd}/good.key;
        location / {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{cbc} ssl;
        ssl_certificate {rd}/good.crt;
        ssl_certificate_key {rd}/good.key;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256;
        location / {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{rsa_kx} ssl;
        ssl_certificate {rd}/rsa.crt;
        ssl_certificate_key {rd}/rsa.key;
        ssl_protocols TLSv1.2;
        ssl_ciphers AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256;
        location / {{ return 200 "ok\n"; }}
    }}
    server {{
        listen 127.0.0.1:{expired} ssl;
        ssl_certificate {rd}/old.crt;
        ssl_certificate_key {rd}/old.key;
        location / {{ return 200 "ok\n"; }}
    }}
}}
"#,
        www = www.display(),
    );
    std::fs::write(root.join("nginx.conf"), conf).unwrap();
    let globals = format!("daemon off; master_process off; pid {rd}/nginx.pid;");
    let log = run_dir.join("error.log");
    let mut nginx = ChildGuard(
        Command::new(nginx_bin)
            .arg("-p")
            .arg(&run_dir)
            .arg("-c")
            .arg(root.join("nginx.conf"))
            .arg("-e")
            .arg(&log)
            .arg("-g")
            .arg(globals)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    for port in [plain, h2tls, cbc, rsa_kx, expired] {
        wait_for_port(port, &mut nginx.0, "nginx", Some(&log));
    }
    let h2only = serve_h2_only(good_der, good_key_der);

    let cases: [(&str, String, &str); 10] = [
        ("h2only", format!("https://localhost:{h2only}/"), "pass"),
        ("h2andh1", format!("https://localhost:{h2tls}/"), "pass"),
        ("cbconly", format!("https://localhost:{cbc}/"), "warn"),
        // TLS 1.2 with RSA key exchange only: OpenSSL (curl) still offers it, rustls never has.
        ("rsakxonly", format!("https://localhost:{rsa_kx}/"), "warn"),
        (
            "chunked",
            format!("http://localhost:{plain}/chunked"),
            "pass",
        ),
        ("gzip", format!("http://localhost:{plain}/gzip"), "pass"),
        (
            "bighead",
            format!("http://localhost:{plain}/big-head"),
            "pass",
        ),
        (
            "bigbody",
            format!("http://localhost:{plain}/big-body"),
            "pass",
        ),
        (
            "to404",
            format!("http://localhost:{plain}/to-missing"),
            "fail",
        ),
        (
            "toexpired",
            format!("http://localhost:{plain}/to-expired"),
            "fail",
        ),
    ];
    let mut toml = String::new();
    for (name, url, _) in &cases {
        let _ = writeln!(
            toml,
            "[[external]]\nname = \"{name}\"\nurl = \"{url}\"\nca_file = \"ca.pem\"\ntimeout = \"20s\"\n"
        );
    }
    std::fs::write(root.join("devops-agent.toml"), toml).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut cmd = devops_agent(state.path());
    cmd.args(["startup", "--project"]).arg(root);
    // The matrix speaks to loopback only: a proxy from the environment must not matter.
    cmd.env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9");
    let out = run(cmd);
    let report = out.report();
    let ext = check(&report, "startup.external_services");
    let services = ext["evidence"]["services"].as_array().unwrap();
    let ca_file = root.join("ca.pem");
    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for ((name, url, expected), svc) in cases.iter().zip(services) {
        let ours = verdict(svc, ext);
        let curl = curl_ok(url, &ca_file);
        table.push(format!("{name:10} curl {curl:5} devops-agent {ours}"));
        if !curl && ours != "fail" {
            wrong.push(format!("{name}: passes where curl fails: {svc}"));
        }
        if ours != *expected {
            wrong.push(format!("{name}: expected {expected}, got {ours}: {svc}"));
        }
        if curl && ours == "fail" {
            wrong.push(format!("{name}: fails where curl passes: {svc}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{wrong:#?}\n{}\n{ext:#}",
        table.join("\n")
    );
    // What each case shows in its evidence.
    let by_name = |n: &str| {
        services
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {ext:#}"))
    };
    assert_eq!(by_name("h2only")["http"]["version"], "HTTP/2", "{ext:#}");
    assert_eq!(by_name("h2andh1")["http"]["version"], "HTTP/2", "{ext:#}");
    assert_eq!(by_name("h2andh1")["tls"]["alpn"], "h2", "{ext:#}");
    assert_eq!(by_name("bigbody")["http"]["status"], 200);
    let timings = &by_name("h2andh1")["http"]["timings"];
    assert!(timings["tls_ms"].is_number(), "{timings}");
    let text = findings(ext)
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("no cipher suite in common"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("rsakxonly (") && l.contains("no cipher suite in common")),
        "{text}"
    );
    assert!(text.contains("HTTP 404 at redirect target"), "{text}");
    assert!(text.contains("certificate expired"), "{text}");
    drop(nginx);
}
