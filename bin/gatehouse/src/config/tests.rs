//! The configuration's checks, case by case.

use gatehouse_core::policy::Access;
use gatehouse_mail::Security;

use super::*;

#[test]
fn front_door_settings_are_read_and_checked() {
    let dir = Path::new("/nonexistent-gatehouse-data");
    let config = from_toml(
        dir,
        "[mfa]\nrequired = false\nexempt_groups = [\"CN=Svc,DC=example,DC=com\"]\n\
         [lockout]\notp_failures = 3\nminutes = 5\n[push]\nmax_per_hour = 4\nnumber_matching = true\n\
         [http]\ntrusted_proxies = [\"10.0.0.0/8\"]\nmax_connections = 10\nmax_connections_per_address = 2\n\
         [radius]\nmax_in_flight = 100\nmax_in_flight_per_client = 10\n",
    )
    .unwrap();
    assert!(!config.mfa.required);
    assert_eq!(config.lockout.otp_failures, 3);
    assert_eq!(config.lockout.first_lock, Duration::from_secs(300));
    assert_eq!(config.push.max_per_hour, 4);
    assert!(config.push.number_matching);
    assert_eq!(config.http.limits.max_connections_per_address, 2);
    assert_eq!(config.radius.max_in_flight_per_client, 10);
    let defaults = from_toml(dir, "").unwrap();
    assert!(defaults.mfa.required);
    assert_eq!(defaults.lockout, LockoutPolicy::default());
    for (bad, key) in [
        ("[mfa]\nexempt_groups = [\"admins\"]", "mfa.exempt_groups"),
        ("[lockout]\nminutes = 0", "lockout.minutes"),
        ("[push]\nmax_per_hour = 0", "push.max_per_hour"),
        (
            "[http]\ntrusted_proxies = [\"proxy\"]",
            "http.trusted_proxies",
        ),
        (
            "[http]\nmax_connections = 4\nmax_connections_per_address = 5",
            "http.max_connections",
        ),
        ("[radius]\nmax_in_flight = 0", "radius.max_in_flight"),
        (
            "[push.webpush]\nsubject = \"mailto:a@b.c\"\nallowed_hosts = [\"10.0.0.1\"]",
            "push.webpush.allowed_hosts",
        ),
    ] {
        let error = from_toml(dir, bad).unwrap_err().to_string();
        assert!(error.contains(key), "{bad}: {error}");
    }
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("gatehouse.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults_need_no_file() {
    let temp = gatehouse_testkit::temp_dir();
    let dir = temp.path().to_path_buf();
    let config = load(&dir, None).unwrap();
    assert_eq!(config.storage, Storage::Sqlite(dir.join("gatehouse.db")));
    assert_eq!(config.key_file, dir.join("sealing.key"));
    assert!(config.time_zone.is_none());
    assert_eq!(config.password, PasswordParams::default());
    assert_eq!(config.totp_mode, TotpMode::Challenge);
    assert_eq!(config.push, PushSettings::default());
    assert_eq!(config.push.timeout, Duration::from_secs(25));
    assert_eq!(config.push.lifetime, Duration::from_secs(30));
    assert_eq!(config.push_public_url, None);
    assert_eq!(config.http.public_url, None);
    assert_eq!(config.radius.listen, Some("0.0.0.0:1812".parse().unwrap()));
    assert_eq!(config.radius.challenge_timeout, Duration::from_secs(60));
    assert!(config.radius.clients.is_empty());
}

#[test]
fn invalid_values_name_their_key() {
    let temp = gatehouse_testkit::temp_dir();
    let dir = temp.path().to_path_buf();
    let cases = [
        (
            "[license]\ntimezone = \"Mars/Olympus\"\n",
            "license.timezone",
        ),
        ("[storage]\nurl = \"mysql://x\"\n", "storage.url"),
        (
            "[storage]\nurl = \"postgres://gh@db/gatehouse?sslmode=verify-full\"\nmax_connections = 0\n",
            "storage.max_connections",
        ),
        (
            "[storage]\nmax_connections = 5\n",
            "storage.max_connections",
        ),
        ("[license]\ntimezone = 5\n", "license.timezone"),
        ("[licence]\ntimezone = \"UTC\"\n", "licence"),
        ("[passwords]\niterations = 0\n", "passwords"),
        ("[totp]\nmode = \"sms\"\n", "totp.mode"),
        ("[push]\nmode = \"poll\"\n", "push.mode"),
        (
            "[push.webpush]\nsubject = \"noc\"\n",
            "push.webpush.subject",
        ),
        (
            "[push.webpush]\nsubject = \"mailto:noc@example.com\"\nca_file = \"/nonexistent/ca.pem\"\n",
            "push.webpush.ca_file",
        ),
        ("[push]\ntimeout_seconds = 0\n", "push.timeout_seconds"),
        ("[push]\ntimeout_seconds = 121\n", "push.timeout_seconds"),
        ("[push]\nlifetime_seconds = 4\n", "push.lifetime_seconds"),
        (
            "[push]\npublic_url = \"gatehouse.example.com\"\n",
            "push.public_url",
        ),
        (
            "[push]\npublic_url = \"https://gh.example.com/push?x\"\n",
            "push.public_url",
        ),
        ("[radius]\nlisten = \"1812\"\n", "radius.listen"),
        ("[http]\nlisten = \"localhost\"\n", "http.listen"),
        (
            "[http]\npublic_url = \"https://gh.example.com/my/\"\n",
            "http.public_url",
        ),
        (
            "[http]\ntls_cert = \"/nonexistent/cert.pem\"\n",
            "http.tls_cert",
        ),
        (
            "[http]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n",
            "http.tls_cert",
        ),
        (
            "[radius]\nchallenge_timeout_seconds = 0\n",
            "radius.challenge_timeout_seconds",
        ),
        (
            "[[radius.clients]]\nname = \"vpn\"\nnetworks = [\"10.0.0.1/8\"]\nsecret = \"s\"\n",
            "radius.clients[0].networks",
        ),
        (
            "[[radius.clients]]\nname = \"vpn\"\nnetworks = [\"10.0.0.0/8\"]\n",
            "radius.clients[0]: set exactly one",
        ),
        (
            "[[radius.clients]]\nname = \"bad name\"\nnetworks = [\"10.0.0.0/8\"]\nsecret = \"s\"\n",
            "radius.clients[0]",
        ),
        (
            "[alarms]\nrecipients = [\"ops@example.com\", \"not an address\"]\n",
            "alarms.recipients",
        ),
        (
            "[alarms]\nuser_limit_percent = [75, 101]\n",
            "alarms.user_limit_percent",
        ),
        (
            "[alarms]\nuser_limit_percent = [0]\n",
            "alarms.user_limit_percent",
        ),
        (
            "[alarms]\ndays_before_end = [0]\n",
            "alarms.days_before_end",
        ),
        ("[alarms]\ndaily_at = \"25:00\"\n", "alarms.daily_at"),
        (
            // Many people share an organisation: one seat for all of them.
            "[[directory]]\nkind = \"openldap\"\nurls = [\"ldaps://dc.example.com\"]\nbind_dn = \"cn=gh\"\n\
             bind_password = \"pw\"\nbase_dn = \"dc=example,dc=com\"\n\
             identity_attribute = \"o\"\n",
            "directory[0].identity_attribute",
        ),
        ("[alarms]\nrecipient = []\n", "recipient"),
        (
            "[smtp]\nhost = \"mail.example.com\"\nsecurity = \"ssl\"\nfrom = \"gh@example.com\"\n",
            "smtp.security",
        ),
        ("[smtp]\nhost = \"mail.example.com\"\n", "smtp.from"),
        (
            "[smtp]\nhost = \"mail.example.com\"\nfrom = \"not an address\"\n",
            "smtp.from",
        ),
        (
            "[smtp]\nhost = \"mail.example.com\"\nsecurity = \"none\"\nfrom = \"gh@example.com\"\n",
            "smtp.security",
        ),
        (
            "[smtp]\nhost = \"mail.example.com\"\nfrom = \"gh@example.com\"\nusername = \"gh\"\n",
            "smtp.username",
        ),
        (
            "[smtp]\nhost = \"mail.example.com\"\nfrom = \"gh@example.com\"\nca_file = \"/nonexistent/ca.pem\"\n",
            "smtp.ca_file",
        ),
    ];
    for (text, key) in cases {
        let path = write(&dir, text);
        let error = load(&dir, Some(&path)).unwrap_err().to_string();
        assert!(error.contains(key), "{text:?}: {error}");
    }
}

#[test]
fn a_valid_file_is_read() {
    let temp = gatehouse_testkit::temp_dir();
    let dir = temp.path().to_path_buf();
    let path = write(
        &dir,
        "[license]\ntimezone = \"Europe/Istanbul\"\n[support]\ncontact = \"licenses@vendor.example\"\n",
    );
    let config = load(&dir, Some(&path)).unwrap();
    assert_eq!(
        config.time_zone.unwrap().iana_name(),
        Some("Europe/Istanbul")
    );
    assert_eq!(
        config.support_contact.as_deref(),
        Some("licenses@vendor.example")
    );
}

#[test]
fn alarm_and_smtp_settings_are_read() {
    let temp = gatehouse_testkit::temp_dir();
    let dir = temp.path().to_path_buf();
    std::fs::write(dir.join("smtp-password"), "s3cret\n").unwrap();
    let path = write(
        &dir,
        "[alarms]\ndays_before_end = [7, 60]\nrecipients = [\"ops@example.com\"]\ndaily_at = \"06:30\"\n\
         [smtp]\nhost = \"mail.example.com\"\nsecurity = \"tls\"\nusername = \"gatehouse\"\n\
         password_file = \"smtp-password\"\nfrom = \"Gatehouse <gatehouse@example.com>\"\n",
    );
    let config = load(&dir, Some(&path)).unwrap();
    let alarms = config.alarms.unwrap();
    assert_eq!(alarms.days_before_end(), [60, 7]);
    assert_eq!(
        alarms.user_limit_percent(),
        [95, 90, 85, 75],
        "the defaults"
    );
    assert_eq!(alarms.recipients(), ["ops@example.com"]);
    assert_eq!(config.alarm_daily_at, Time::constant(6, 30, 0, 0));
    let smtp = config.smtp.unwrap();
    assert_eq!((smtp.host.as_str(), smtp.port), ("mail.example.com", 465));
    assert_eq!(smtp.security, Security::Tls);
    assert_eq!(
        smtp.credentials,
        Some(("gatehouse".to_string(), "s3cret".to_string()))
    );
    assert!(!format!("{smtp:?}").contains("s3cret"), "never in logs");
    // No [alarms] thresholds: the panel's settings are in force.
    let path = write(&dir, "[alarms]\ndaily_at = \"07:00\"\n");
    let config = load(&dir, Some(&path)).unwrap();
    assert!(config.alarms.is_none() && config.smtp.is_none());
}

/// Like every file the configuration names, a secret file given by a
/// relative path is found in the data directory, wherever Gatehouse
/// was started from; one trailing line end is not part of it.
#[test]
fn secret_files_are_read_from_the_data_directory() {
    let temp = gatehouse_testkit::temp_dir();
    let dir = temp.path().to_path_buf();
    assert_ne!(std::env::current_dir().unwrap(), dir);
    std::fs::write(dir.join("vpn.secret"), "radius shared secret\n").unwrap();
    std::fs::write(dir.join("ldap.password"), "bind password\r\n").unwrap();
    let path = write(
        &dir,
        "[[radius.clients]]\nname = \"vpn\"\nnetworks = [\"10.0.0.0/8\"]\n\
         secret_file = \"vpn.secret\"\n\
         [[directory]]\nkind = \"openldap\"\nurls = [\"ldaps://ldap.example.com\"]\n\
         bind_dn = \"cn=gatehouse,dc=example,dc=com\"\nbind_password_file = \"ldap.password\"\n\
         base_dn = \"dc=example,dc=com\"\n",
    );
    let config = load(&dir, Some(&path)).unwrap();
    assert_eq!(config.radius.clients[0].secret, b"radius shared secret");
    assert_eq!(config.directories[0].bind_password, "bind password");
    // A secret file that is not there names its key and where it was
    // looked for.
    std::fs::remove_file(dir.join("vpn.secret")).unwrap();
    let error = format!("{:#}", load(&dir, Some(&path)).unwrap_err());
    assert!(error.contains("radius.clients[0].secret_file"), "{error}");
    assert!(
        error.contains(&dir.join("vpn.secret").display().to_string()),
        "{error}"
    );
}

#[test]
fn a_postgres_url_is_read_and_its_password_never_shown() {
    let temp = gatehouse_testkit::temp_dir();
    let dir = temp.path().to_path_buf();
    let path = write(
        &dir,
        "[storage]\nurl = \"postgres://gh:s3cret@db.example.com:5432/gatehouse?sslmode=verify-full\"\nmax_connections = 20\n",
    );
    let config = load(&dir, Some(&path)).unwrap();
    assert_eq!(
        config.storage,
        Storage::Postgres {
            url: "postgres://gh:s3cret@db.example.com:5432/gatehouse?sslmode=verify-full".into(),
            max_connections: 20,
        }
    );
    for shown in [format!("{:?}", config.storage), config.storage.to_string()] {
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("gh:***@db.example.com:5432/gatehouse"),
            "{shown}"
        );
    }
    // To another host without a verified certificate: refused before
    // anything connects, saying what to change.
    let path = write(
        &dir,
        "[storage]\nurl = \"postgres://gh:s3cret@db.example.com:5432/gatehouse?sslmode=require\"\n",
    );
    let error = load(&dir, Some(&path)).unwrap_err().to_string();
    assert!(
        error.starts_with("storage.url:")
            && error.contains("sslmode=verify-full")
            && !error.contains("s3cret"),
        "{error}"
    );
    let path = write(
        &dir,
        "[storage]\nurl = \"mysql://gh:s3cret@db/gatehouse\"\n",
    );
    let error = load(&dir, Some(&path)).unwrap_err().to_string();
    assert!(
        error.contains("storage.url") && !error.contains("s3cret"),
        "{error}"
    );
}

#[test]
fn a_missing_explicit_file_is_an_error() {
    let temp = gatehouse_testkit::temp_dir();
    let dir = temp.path().to_path_buf();
    let error = load(&dir, Some(&dir.join("nope.toml")))
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not exist"), "{error}");
}

#[test]
fn policies_and_dictionaries_are_read_and_checked() {
    let temp = gatehouse_testkit::temp_dir();
    let dir = temp.path();
    std::fs::write(
        dir.join("dictionary.acme"),
        "VENDOR Acme 99999\nBEGIN-VENDOR Acme\nATTRIBUTE Acme-Role 1 string\nEND-VENDOR Acme\n",
    )
    .unwrap();
    let config = from_toml(
        dir,
        r#"
[radius]
dictionaries = ["dictionary.acme"]

[[directory]]
name = "corp"
kind = "openldap"
urls = ["ldap://127.0.0.1:389"]
bind_dn = "cn=reader,dc=example,dc=com"
bind_password = "x"
base_dn = "dc=example,dc=com"
group_aliases = { VPN-Admins = "CN=VPN Admins,OU=Groups,DC=example,DC=com" }

[[policy]]
name = "contractors"
groups = ["local:contractors"]
access = "deny"

[[policy]]
name = "vpn admins"
clients = ["fw1"]
groups = ["corp:CN=VPN Admins,OU=Groups,DC=example,DC=com", "corp:vpn-admins", "local:vpn-admins"]
calling_station_networks = ["10.0.0.0/8"]
factors = ["totp", "push"]
reply = [
  { attribute = "Fortinet-Group-Name", value = "%{group}" },
  { attribute = "Session-Timeout", value = 3600 },
  { attribute = "Tunnel-Private-Group-Id", value = "42" },
  { attribute = "Acme-Role", value = "admin-%{user}" },
]
"#,
    )
    .unwrap();
    let policies = config.policies.policies();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0].access, Access::Deny);
    assert_eq!(policies[1].reply[1].value, "3600");
    assert!(config.radius.dictionary.get("acme-role").is_some());
    assert!(from_toml(dir, "").unwrap().policies.is_empty());
    assert_eq!(
        config.directories[0].group_aliases,
        [(
            "vpn-admins".to_string(),
            "CN=VPN Admins,OU=Groups,DC=example,DC=com".to_string()
        )]
    );
    // An alias the directory does not define, and an alias that is not one.
    let directory = "[[directory]]\nname = \"corp\"\nkind = \"openldap\"\nurls = [\"ldap://127.0.0.1\"]\n\
         bind_dn = \"cn=r,dc=x\"\nbind_password = \"x\"\nbase_dn = \"dc=x\"\n";
    let unknown = format!("{directory}[[policy]]\nname = \"p\"\ngroups = [\"corp:vpn\"]\n");
    let error = format!("{:#}", from_toml(dir, &unknown).unwrap_err());
    assert!(
        error.contains(
            "\"corp:vpn\" is neither a group DN nor one of the directory's group_aliases"
        ),
        "{error}"
    );
    let bad_alias = format!("{directory}group_aliases = {{ \"vpn admins\" = \"CN=x\" }}\n");
    let error = format!("{:#}", from_toml(dir, &bad_alias).unwrap_err());
    assert!(
        error.contains("group_aliases: \"vpn admins\" is not a short name"),
        "{error}"
    );

    let one = |body: &str| format!("[[policy]]\nname = \"p1\"\n{body}\n");
    for (bad, says) in [
        (one("access = \"maybe\""), "policy \"p1\": access \"maybe\""),
        (
            one("factors = [\"sms\"]"),
            "policy \"p1\": factors: unknown second factor \"sms\"",
        ),
        (one("factors = []"), "at least one of totp, push or none"),
        (
            one("calling_station_networks = [\"ten\"]"),
            "calling_station_networks",
        ),
        (one("groups = [\"ldap:CN=x\"]"), "names no group source"),
        (one("groups = [\"vpn-admins\"]"), "is not SOURCE:NAME"),
        (
            one("reply = [{ attribute = \"Fortinet-Group-Nam\", value = \"x\" }]"),
            "policy \"p1\": reply: unknown RADIUS attribute \"Fortinet-Group-Nam\"",
        ),
        (
            one("reply = [{ attribute = \"Session-Timeout\", value = \"an hour\" }]"),
            "policy \"p1\": reply: Session-Timeout: \"an hour\" is not a number",
        ),
        (
            one("reply = [{ attribute = \"Framed-IP-Address\", value = \"%{user}\" }]"),
            "Framed-IP-Address: \"alice\" is not an IPv4 address",
        ),
        (
            one("reply = [{ attribute = \"Class\", value = \"%{usr}\" }]"),
            "uses \"%{usr}\"",
        ),
        (
            format!("{}{}", one(""), one("")),
            "two policies are named \"p1\"",
        ),
        (
            "[radius]\ndictionaries = [\"missing.dictionary\"]".to_string(),
            "radius.dictionaries: cannot read",
        ),
    ] {
        let error = format!("{:#}", from_toml(dir, &bad).unwrap_err());
        assert!(error.contains(says), "{bad}\n{error}");
    }
}

/// The configuration file the Debian package installs
/// (`packaging/debian/gatehouse.toml`): as installed it runs the defaults,
/// and each example it shows, uncommented, is a key Gatehouse knows with a
/// value of the right type.
#[test]
fn the_packaged_configuration_file_is_the_defaults_and_its_examples_are_known_keys() {
    let text = include_str!("../../../../packaging/debian/gatehouse.toml");
    let dir = Path::new("/var/lib/gatehouse");
    let installed = from_toml(dir, text).unwrap();
    let defaults = from_toml(dir, "").unwrap();
    assert_eq!(installed.radius.listen, defaults.radius.listen);
    assert_eq!(installed.http.listen, defaults.http.listen);
    // Uncommented: lines like `# key = value` and `# [section]`, with
    // their trailing comments.
    let uncommented: String = text
        .lines()
        .filter_map(|line| line.strip_prefix("# "))
        .filter(|line| {
            let first = line.split_whitespace().next().unwrap_or("");
            first.starts_with('[') || line.contains(" = ")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(uncommented.contains("[radius]") && uncommented.contains("tls_cert"));
    let examples: Result<RawConfig, _> = Figment::from(Serialized::defaults(RawConfig::default()))
        .merge(Toml::string(&uncommented))
        .extract();
    if let Err(error) = examples {
        panic!("{}\n{uncommented}", describe(error));
    }
}

#[test]
fn log_format_and_syslog_are_read_and_checked() {
    let dir = Path::new("/nonexistent-gatehouse-data");
    let defaults = from_toml(dir, "").unwrap();
    assert!(!defaults.log_json && defaults.syslog.is_none());
    let config = from_toml(
        dir,
        "[log]\nformat = \"json\"\n[log.syslog]\ntarget = \"udp://192.0.2.7:514\"\nfacility = \"local4\"\n",
    )
    .unwrap();
    assert!(config.log_json);
    let syslog = config.syslog.unwrap();
    assert_eq!(
        (
            syslog.transport,
            syslog.host.as_str(),
            syslog.port,
            syslog.facility
        ),
        (syslog::Transport::Udp, "192.0.2.7", 514, 20)
    );
    assert_eq!(syslog.app_name, "gatehouse");
    assert!(syslog.tls.is_none());
    let tls = from_toml(
        dir,
        "[log.syslog]\ntarget = \"tls://siem.example.com:6514\"\n",
    )
    .unwrap();
    let tls = tls.syslog.unwrap();
    assert_eq!(tls.facility, 4, "auth by default");
    assert!(tls.tls.is_some());
    for (bad, key) in [
        ("[log]\nformat = \"xml\"", "log.format"),
        (
            "[log.syslog]\ntarget = \"syslog.example.com\"",
            "log.syslog.target",
        ),
        (
            "[log.syslog]\ntarget = \"udp://h:514\"\nfacility = \"mail2\"",
            "log.syslog.facility",
        ),
        (
            "[log.syslog]\ntarget = \"udp://h:514\"\napp_name = \"two words\"",
            "log.syslog.app_name",
        ),
        (
            "[log.syslog]\ntarget = \"udp://h:514\"\nca_file = \"/etc/hostname\"",
            "log.syslog.ca_file",
        ),
        (
            "[log.syslog]\ntarget = \"tls://h:6514\"\nca_file = \"/nonexistent/ca.pem\"",
            "log.syslog.ca_file",
        ),
        ("[log.syslog]\ntarget = \"udp://h:514\"\nport = 1", "port"),
    ] {
        let error = format!("{:#}", from_toml(dir, bad).unwrap_err());
        assert!(error.contains(key), "{bad}: {error}");
    }
}
