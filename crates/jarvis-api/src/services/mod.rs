//! The application under the two doors: what an HTTP handler and a WebSocket message both do is
//! done here, once. Handlers and the hub parse, call one function here, and render; nothing here
//! imports a route or the hub.

pub mod analysis;
pub(crate) mod costs;
pub mod shared;
pub(crate) mod tasks;
