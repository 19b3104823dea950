//! A real OpenLDAP server (slapd) with the test directory.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse_testkit::{temp_dir, workspace_root};

use super::{TestCa, free_port, kill_child, run_with_input, serving, spawn_quiet};

/// A real OpenLDAP server (slapd) with the test directory
/// (`tests/peers/ldap`: AD-style users through a small schema, a plain
/// OpenLDAP user, groups with memberOf), listening on plain LDAP (StartTLS
/// offered) and LDAPS with a certificate from a private CA.
pub struct Slapd {
    dir: tempfile::TempDir,
    slapd: PathBuf,
    pub ldap_port: u16,
    pub ldaps_port: u16,
    /// The CA that issued the server's certificate.
    pub ca: PathBuf,
    child: Option<Child>,
}

/// The service account and where users live, as the test directory has
/// them.
pub const LDAP_BIND_DN: &str = "cn=gatehouse,ou=services,dc=example,dc=test";
pub const LDAP_BIND_PASSWORD: &str = "service-secret";
pub const LDAP_BASE_DN: &str = "dc=example,dc=test";
pub const LDAP_VPN_GROUP: &str = "cn=vpn-users,ou=groups,dc=example,dc=test";

/// An Active Directory-style `[[directory]]` named `corp` for the test
/// directory (sAMAccountName, userPrincipalName, objectGUID,
/// userAccountControl) on `urls`, limited to the vpn-users group, with the
/// NetBIOS domain `EXAMPLE` and the UPN suffix `example.com`. `extra`: more
/// keys.
pub fn ad_directory(urls: &[String], extra: &str) -> String {
    format!(
        "\n[[directory]]\nname = \"corp\"\nkind = \"active_directory\"\nurls = {urls:?}\n\
         bind_dn = \"{LDAP_BIND_DN}\"\nbind_password = \"{LDAP_BIND_PASSWORD}\"\n\
         base_dn = \"{LDAP_BASE_DN}\"\nuser_filter = \"(objectClass=inetOrgPerson)\"\n\
         allowed_groups = [\"{LDAP_VPN_GROUP}\"]\nnested_groups = false\n\
         netbios_domains = [\"EXAMPLE\"]\nupn_suffixes = [\"example.com\"]\ntimeout_ms = 2000\n{extra}"
    )
}

impl Slapd {
    /// Starts slapd and loads the test entries (`None`: slapd, ldapadd or
    /// openssl missing; SKIP printed, or a failure when peers are
    /// required).
    pub fn start(test: &str) -> Option<Slapd> {
        let slapd = gatehouse_testkit::peer("slapd", test)?;
        let ldapadd = gatehouse_testkit::peer("ldapadd", test)?;
        let dir = temp_dir();
        let ca = TestCa::new(dir.path(), test)?;
        let peers = workspace_root().join("bin/gatehouse/tests/peers/ldap");
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             include {schema}\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload memberof\n\
             pidfile {dir}/slapd.pid\n\
             TLSCACertificateFile {ca}\n\
             TLSCertificateFile {cert}\n\
             TLSCertificateKeyFile {key}\n\
             database mdb\n\
             suffix \"{LDAP_BASE_DN}\"\n\
             rootdn \"cn=admin,{LDAP_BASE_DN}\"\n\
             rootpw admin-secret\n\
             directory {dir}/db\n\
             overlay memberof\n",
            schema = peers.join("gatehouse-test.schema").display(),
            dir = dir.path().display(),
            ca = ca.ca.display(),
            cert = ca.cert.display(),
            key = ca.key.display(),
        );
        std::fs::write(dir.path().join("slapd.conf"), config).unwrap();
        let mut server = Slapd {
            slapd,
            ldap_port: 0,
            ldaps_port: 0,
            ca: ca.ca,
            dir,
            child: None,
        };
        // The ports are the server's own once it serves on them; until
        // then another process may take one (see `serving`), and slapd
        // then starts again on others.
        let mut attempts = 0;
        loop {
            (server.ldap_port, server.ldaps_port) = (free_port(), free_port());
            if server.run() {
                break;
            }
            attempts += 1;
            assert!(attempts < 5, "slapd exited at start {attempts} times");
        }
        let output = Command::new(ldapadd)
            .args(["-x", "-H", &server.url(), "-D"])
            .arg(format!("cn=admin,{LDAP_BASE_DN}"))
            .args(["-w", "admin-secret", "-f"])
            .arg(peers.join("base.ldif"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "ldapadd: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(server)
    }

    /// Starts slapd on its ports; `false`: it exited instead.
    fn run(&mut self) -> bool {
        let mut command = Command::new(&self.slapd);
        command
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.ldap_port, self.ldaps_port
            ))
            // Debug level 0: stay in the foreground, log nothing.
            .args(["-d", "0"]);
        let mut child = spawn_quiet(&mut command);
        let started = serving(&mut child, &[self.ldap_port, self.ldaps_port], "slapd");
        self.child = Some(child);
        started
    }

    /// Stops the server (an outage); [`Slapd::resume`] starts it again.
    pub fn stop(&mut self) {
        kill_child(&mut self.child);
    }

    /// Starts the server again on the same ports.
    pub fn resume(&mut self) {
        assert!(
            self.run(),
            "slapd exited at restart (ports {} and {} taken?)",
            self.ldap_port,
            self.ldaps_port
        );
    }

    /// Applies `ldif` (changetype records) as the directory's administrator,
    /// as an administrator would with `ldapmodify`.
    pub fn modify(&self, ldif: &str) {
        let ldapmodify = gatehouse_testkit::peer("ldapmodify", "slapd modify")
            .expect("ldapmodify comes with ldapadd (ldap-utils)");
        let output = run_with_input(
            Command::new(ldapmodify)
                .args(["-x", "-H", &self.url(), "-D"])
                .arg(format!("cn=admin,{LDAP_BASE_DN}"))
                .args(["-w", "admin-secret"]),
            ldif.as_bytes(),
        );
        assert!(
            output.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Plain LDAP on 127.0.0.1 (no TLS: loopback only).
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// StartTLS needs the certificate's name.
    pub fn starttls_url(&self) -> String {
        format!("ldap://localhost:{}", self.ldap_port)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://localhost:{}", self.ldaps_port)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP forwarder in front of a server on loopback that counts the
/// connections made through it (how many a client opened, which the
/// server's own logs would say only at a debug level).
pub struct CountingProxy {
    pub port: u16,
    opened: Arc<AtomicUsize>,
}

impl CountingProxy {
    /// Forwards a free loopback port to 127.0.0.1:`target`.
    pub fn start(target: u16) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let opened = Arc::new(AtomicUsize::new(0));
        let count = opened.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        CountingProxy { port, opened }
    }

    /// Connections opened through it so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }
}
