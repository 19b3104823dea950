//! Every route of the panel and API, in process (`Router::oneshot`),
//! against a real SQLite store; a module per area, one fixture.

mod support;

mod access;
mod accounts;
mod admins;
mod alarms;
mod audit;
mod license;
mod policies;
mod portal;
mod push;
mod surface;
mod users;
