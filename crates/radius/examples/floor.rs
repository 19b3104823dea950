//! The least a RADIUS server must do for an Access-Request, as the floor
//! `bench/radius.sh` measures Gatehouse against: one thread receiving with
//! a blocking call, the packet parsed, its Message-Authenticator verified,
//! and an Access-Accept (with its own Message-Authenticator) sent back. No
//! user, password, license, policy or log line.
//!
//!   cargo run --release -p gatehouse-radius --example floor -- 127.0.0.1:18832 SECRET

use std::net::UdpSocket;

use gatehouse_radius::crypto::{MessageAuthenticator, SharedSecret, check_message_authenticator};
use gatehouse_radius::message::ReplyContext;
use gatehouse_radius::{Code, Packet, Reply};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(secret)) = (args.next(), args.next()) else {
        eprintln!("usage: floor ADDRESS:PORT SECRET");
        std::process::exit(2);
    };
    let secret = SharedSecret::new(secret.as_bytes());
    let socket = UdpSocket::bind(&listen)?;
    let accept = Reply::Accept {
        message: None,
        attributes: Vec::new(),
    };
    let mut buffer = vec![0u8; 65_536];
    loop {
        let (len, from) = socket.recv_from(&mut buffer)?;
        let datagram = &buffer[..len];
        let Ok(packet) = Packet::parse(datagram) else {
            continue;
        };
        if packet.code != Code::AccessRequest
            || check_message_authenticator(datagram, &secret) != MessageAuthenticator::Valid
        {
            continue;
        }
        if let Ok(reply) = accept.encode(&ReplyContext::of(&packet), &secret) {
            socket.send_to(&reply, from)?;
        }
    }
}
