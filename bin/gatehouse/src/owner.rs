//! Who may run a command against a data directory.
//!
//! A package runs the service as its own system user, owner of the data
//! directory. A command run as root there would create files (the
//! database's `-wal` and `-shm`, a new key) that the service then cannot
//! open, so root is refused on a directory someone else owns, before
//! anything is read or written.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use anyhow::{Result, bail};

/// Refuses to go on as root on a data directory owned by another user.
pub(crate) fn check(data_dir: &Path) -> Result<()> {
    let Ok(metadata) = std::fs::metadata(data_dir) else {
        // Missing: the command creates it, owned by whoever runs it.
        return Ok(());
    };
    refuse_foreign(
        rustix::process::geteuid().as_raw(),
        metadata.uid(),
        data_dir,
    )
}

fn refuse_foreign(running_as: u32, owner: u32, data_dir: &Path) -> Result<()> {
    if running_as != 0 || owner == 0 {
        return Ok(());
    }
    let name = user_name(owner).unwrap_or_else(|| format!("#{owner}"));
    bail!(
        "the data directory {} belongs to {name}, not root: run gatehouse as {name} (sudo -u {name} gatehouse …), so the files it writes stay readable by the service",
        data_dir.display()
    )
}

/// Who runs this command, as the audit trail names the command line's
/// source: `local user NAME` (the user sudo was run by, when it was).
pub(crate) fn local_user() -> String {
    let uid = rustix::process::getuid().as_raw();
    let name = user_name(uid).unwrap_or_else(|| format!("#{uid}"));
    match std::env::var("SUDO_USER")
        .ok()
        .filter(|s| !s.is_empty() && *s != name)
    {
        Some(by) => format!("local user {name} (sudo by {by})"),
        None => format!("local user {name}"),
    }
}

/// The login name of `uid` in /etc/passwd.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    name_in_passwd(&passwd, uid)
}

fn name_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_refused_only_on_a_directory_another_user_owns() {
        let dir = Path::new("/var/lib/gatehouse");
        assert!(refuse_foreign(0, 0, dir).is_ok());
        assert!(refuse_foreign(1000, 999, dir).is_ok());
        assert!(refuse_foreign(999, 999, dir).is_ok());
        let error = refuse_foreign(0, 4_000_000_000, dir)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("/var/lib/gatehouse belongs to #4000000000"),
            "{error}"
        );
    }

    #[test]
    fn names_come_from_the_passwd_file() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      gatehouse:x:998:998::/var/lib/gatehouse:/usr/sbin/nologin\n\
                      broken\n";
        assert_eq!(name_in_passwd(passwd, 998).as_deref(), Some("gatehouse"));
        assert_eq!(name_in_passwd(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in_passwd(passwd, 5), None);
    }
}
