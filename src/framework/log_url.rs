//! URLs a server prints when it starts listening (`Local:   http://localhost:5173/`,
//! `Uvicorn running on http://127.0.0.1:8000`, `Listening at: http://0.0.0.0:8000`): the
//! second witness, after the listening sockets, of where an app really listens.

/// A URL found in a server's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogUrl {
    /// As printed, colour codes removed (`http://localhost:5173/`).
    pub(crate) url: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The output line it was found on, trimmed.
    pub(crate) line: String,
}

/// Hosts that mean "this machine" in a startup banner.
fn local(host: &str) -> bool {
    matches!(
        host,
        "localhost" | "127.0.0.1" | "0.0.0.0" | "[::1]" | "[::]" | "::1" | "::"
    ) || host.ends_with(".localhost")
}

/// Every `http(s)://HOST:PORT` on this machine in `output`, in order of appearance, one per
/// port. Lines carrying one of `markers` come first (Vite's `Local:` before a proxy target the
/// app logs).
pub(crate) fn urls_in_log(output: &str, markers: &[&str]) -> Vec<LogUrl> {
    let clean = crate::process::strip_ansi(output);
    let mut marked = Vec::new();
    let mut other = Vec::new();
    for line in clean.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("http") {
            let candidate = &rest[at..];
            rest = &rest[at + 4..];
            let Some(after) = candidate
                .strip_prefix("http://")
                .or_else(|| candidate.strip_prefix("https://"))
            else {
                continue;
            };
            let authority: String = after
                .chars()
                .take_while(|c| !matches!(c, '/' | ' ' | '\t' | ')' | ',' | '"' | '\'' | '>'))
                .collect();
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() => (h, p),
                _ => continue,
            };
            let Ok(port) = port.trim_end_matches('.').parse::<u16>() else {
                continue;
            };
            if !local(host) || port == 0 {
                continue;
            }
            let scheme_len = candidate.len() - after.len();
            let url_len = scheme_len
                + after
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, ')' | ',' | '"' | '\''))
                    .map(char::len_utf8)
                    .sum::<usize>();
            let found = LogUrl {
                url: candidate[..url_len].to_owned(),
                host: host.to_owned(),
                port,
                line: line.trim().to_owned(),
            };
            if markers.iter().any(|m| line.contains(m)) {
                marked.push(found);
            } else {
                other.push(found);
            }
        }
    }
    let mut out: Vec<LogUrl> = Vec::new();
    for url in marked.into_iter().chain(other) {
        if !out.iter().any(|u| u.port == url.port) {
            out.push(url);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_of_real_servers() {
        let vite = "\n  \u{1b}[32m\u{1b}[1mVITE\u{1b}[22m v7.1.0\u{1b}[39m  ready in 210 ms\n\n  \u{1b}[32m➜\u{1b}[39m  \u{1b}[1mLocal\u{1b}[22m:   \u{1b}[36mhttp://localhost:\u{1b}[1m5173\u{1b}[22m/\u{1b}[39m\n";
        let urls = urls_in_log(vite, &["Local:"]);
        assert_eq!(urls[0].port, 5173);
        assert_eq!(urls[0].url, "http://localhost:5173/");
        let uvicorn = "INFO:     Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)";
        assert_eq!(urls_in_log(uvicorn, &[])[0].port, 8000);
        let gunicorn = "[INFO] Listening at: http://0.0.0.0:8001 (42)";
        assert_eq!(urls_in_log(gunicorn, &[])[0].host, "0.0.0.0");
        let next = "   ▲ Next.js 15.0.0\n   - Local:        http://localhost:3000\n   - Network:      http://10.0.0.2:3000";
        assert_eq!(urls_in_log(next, &["Local:"]).len(), 1);
        assert!(urls_in_log("see https://example.com:8443/docs", &[]).is_empty());
        let marked = "proxying to http://localhost:9000\n  Local: http://localhost:5173/";
        assert_eq!(urls_in_log(marked, &["Local:"])[0].port, 5173);
    }
}
