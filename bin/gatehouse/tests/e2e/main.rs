//! End to end: the real `gatehouse` binary against real peers (radclient
//! and pyrad, slapd, PostgreSQL, an SMTP server, Chromium, faketime), one
//! module per area, helpers per peer in `support/`. One test binary, so
//! the helpers are built and linked once.

mod support;

mod admins;
mod alarms;
mod api_schema;
mod backup;
mod cli;
mod directory;
mod options;
mod panel;
mod policies;
mod portal;
mod postgres;
mod push;
mod radius;
mod service;
mod syslog;
mod tampering;
