//! Where WebSocket clients come in: the handshake paths and the ticket a browser may carry in
//! the query. A leaf module: the guard (which authenticates the handshake) and the WebSocket
//! route both read it, and neither imports the other.

use actix_web::web;

/// The handshake paths.
pub(crate) const PATHS: [&str; 2] = ["/ws", "/api/v2/ws"];

/// Whether `path` is a WebSocket handshake path.
pub(crate) fn is_ws_path(path: &str) -> bool {
    PATHS.contains(&path)
}

/// The `ticket` query parameter, if any.
pub(crate) fn ticket_of(query: &str) -> Option<String> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .ok()?
        .into_inner()
        .into_iter()
        .find(|(name, _)| name == "ticket")
        .map(|(_, value)| value)
}
