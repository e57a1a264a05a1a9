//! Enough of Engine.IO (protocol 4) and Socket.IO (protocol 5) to prove a socket.io endpoint
//! works over WebSocket: the server's open packet `0{"sid":…}`, then a Socket.IO CONNECT to the
//! main namespace (`40`) answered by `40{"sid":…}` (or `44{…}` when the app's middleware
//! refuses it). A socket.io server does not echo a plain WebSocket message, so the generic echo
//! probe would call a healthy endpoint broken; this is the conversation its own client has.
//!
//! Packets are text: one digit of Engine.IO type (0 open, 1 close, 2 ping, 3 pong, 4 message,
//! 5 upgrade, 6 noop), and inside a message one digit of Socket.IO type (0 CONNECT,
//! 4 `CONNECT_ERROR`, …) followed by its JSON. socket.io 2 servers (Engine.IO 3) send `40`
//! unasked; it is read the same way.

/// The query a socket.io client adds to its path to open a WebSocket session directly.
pub(crate) const WEBSOCKET_QUERY: &str = "?EIO=4&transport=websocket";

/// Socket.IO CONNECT to the main namespace `/`, inside an Engine.IO message.
pub(crate) const CONNECT: &[u8] = b"40";

/// Engine.IO pong, the answer to the server's heartbeat ping `2`.
pub(crate) const PONG: &[u8] = b"3";

/// Whether `path` is a socket.io endpoint (its last segment is `socket.io`, the default path
/// of every socket.io server and client).
pub(crate) fn is_socket_io_path(path: &str) -> bool {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|last| last.eq_ignore_ascii_case("socket.io"))
}

/// The URL path a socket.io client opens for `path`: `/socket.io/?EIO=4&transport=websocket`.
pub(crate) fn websocket_path(path: &str) -> String {
    format!("{}/{WEBSOCKET_QUERY}", path.trim_end_matches('/'))
}

/// Why the first message of a session is not an Engine.IO open packet.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenPacketError {
    /// Something other than `0{…}`; `first` is clipped to a sentence.
    #[error(
        "the first message was {first:?}, not the Engine.IO open packet `0{{\"sid\":…}}`: not a socket.io server, or another Engine.IO version"
    )]
    NotOpen { first: String },
    /// `0` followed by something that is not JSON.
    #[error("the Engine.IO open packet is not JSON")]
    NotJson(#[source] serde_json::Error),
    /// JSON without a `sid` string.
    #[error("the Engine.IO open packet carries no session id (`sid`)")]
    NoSid,
}

/// Checks the first message of a session is the open packet with a session id.
pub(crate) fn open_packet(text: &str) -> Result<(), OpenPacketError> {
    let Some(json) = text.strip_prefix('0') else {
        return Err(OpenPacketError::NotOpen {
            first: super::http::clip(text),
        });
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(OpenPacketError::NotJson)?;
    if value
        .get("sid")
        .and_then(serde_json::Value::as_str)
        .is_none()
    {
        return Err(OpenPacketError::NoSid);
    }
    Ok(())
}

/// What an Engine.IO server's refusal of the WebSocket handshake means (its error messages,
/// sent as the body of a 400).
pub(crate) fn refusal_hint(body: &str) -> Option<&'static str> {
    Some(match body {
        "Transport unknown" => {
            "the socket.io server does not offer the websocket transport (its `transports` option leaves it out), so browsers fall back to HTTP long-polling"
        }
        "Unsupported protocol version" => {
            "the server speaks another Engine.IO version than socket.io 3/4 clients (EIO=4)"
        }
        "Forbidden" => "the server's allowRequest refused the connection (Origin or credentials)",
        "Bad request" | "Bad handshake method" => {
            "the server did not take this for a socket.io handshake"
        }
        _ => return None,
    })
}

/// What a message received after the CONNECT says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `40…`: connected to the namespace.
    Connected,
    /// `44{"message":…}`: the app refused the connection (an auth middleware): the transport
    /// works, the app said no.
    Refused(String),
    /// `2`: the server's heartbeat, to be answered with [`PONG`].
    Ping,
    /// `1`: the server closed the session.
    Closed,
    /// Anything else (an event broadcast, a noop): not the answer yet.
    Other,
}

/// Reads one message received after the CONNECT.
pub(crate) fn reply(text: &str) -> Reply {
    if text.starts_with("40") {
        return Reply::Connected;
    }
    if let Some(json) = text.strip_prefix("44") {
        let why = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| super::http::clip(json));
        return Reply::Refused(why);
    }
    match text {
        "2" => Reply::Ping,
        "1" => Reply::Closed,
        _ => Reply::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_io_paths_and_the_url_a_client_opens() {
        assert!(is_socket_io_path("/socket.io"));
        assert!(is_socket_io_path("/chat/socket.io/"));
        assert!(!is_socket_io_path("/ws"));
        assert!(!is_socket_io_path("/socket.io-client"));
        assert_eq!(
            websocket_path("/socket.io/"),
            "/socket.io/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn open_packet_and_replies_as_socket_io_4_sends_them() {
        let open = r#"0{"sid":"By_AiU3hUpu9BcwFAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        assert!(open_packet(open).is_ok());
        let e = open_packet("hello").unwrap_err();
        assert!(
            matches!(&e, OpenPacketError::NotOpen { first } if first == "hello"),
            "{e}"
        );
        assert!(
            e.to_string().contains("not the Engine.IO open packet"),
            "{e}"
        );
        assert!(matches!(open_packet("0{}"), Err(OpenPacketError::NoSid)));
        assert!(matches!(
            open_packet("0{"),
            Err(OpenPacketError::NotJson(_))
        ));
        assert_eq!(reply(r#"40{"sid":"x1"}"#), Reply::Connected);
        assert_eq!(reply("40"), Reply::Connected);
        assert_eq!(
            reply(r#"44{"message":"not authorized"}"#),
            Reply::Refused("not authorized".to_owned())
        );
        assert_eq!(reply("2"), Reply::Ping);
        assert_eq!(reply("1"), Reply::Closed);
        assert_eq!(reply(r#"42["chat message","hi"]"#), Reply::Other);
    }
}
