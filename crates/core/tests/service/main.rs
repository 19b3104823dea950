//! The service against a real SQLite store, one module per area: logins
//! and the license rules (`login`), alarms, push approval; one fixture
//! (`support`).

mod support;

mod alarms;
mod login;
mod policies;
mod push;
