//! The built-in dictionary against FreeRADIUS's own (the files radclient
//! reads, in /usr/share/freeradius): every attribute has the same code,
//! vendor and type there, so a gateway decodes what Gatehouse sends as the
//! administrator named it.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use gatehouse_radius::dictionary::{Dictionary, Kind};

const FREERADIUS: &str = "/usr/share/freeradius";

/// (vendor id, code, type) of every ATTRIBUTE line in FreeRADIUS's files,
/// by name.
fn freeradius_attributes(dir: &Path) -> HashMap<String, (Option<u32>, u8, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("dictionary."))
        })
        .collect();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .map(|path| String::from_utf8_lossy(&std::fs::read(path).unwrap()).to_string())
        .collect();
    // Vendors first: some files use a vendor another file defines.
    let mut vendors: HashMap<String, u32> = HashMap::new();
    for line in texts.iter().flat_map(|text| text.lines()) {
        if let ["VENDOR", name, id, ..] = line.split_whitespace().collect::<Vec<_>>()[..]
            && let Ok(id) = id.parse()
        {
            vendors.insert(name.to_string(), id);
        }
    }
    let mut found = HashMap::new();
    for text in &texts {
        let mut vendor = None;
        for line in text.lines() {
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["BEGIN-VENDOR", name, ..] => vendor = vendors.get(name).copied(),
                ["END-VENDOR", ..] => vendor = None,
                ["ATTRIBUTE", name, code, kind, ..] => {
                    if let Ok(code) = code.parse::<u8>() {
                        found.insert(name.to_string(), (vendor, code, kind.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

#[test]
fn the_builtin_dictionary_agrees_with_freeradius() {
    let dir = Path::new(FREERADIUS);
    if !dir.join("dictionary.rfc2865").is_file() {
        assert!(
            !gatehouse_testkit::peers_required(),
            "GATEHOUSE_REQUIRE_PEERS=1 but FreeRADIUS's dictionaries are missing"
        );
        let _ = std::io::stderr().lock().write_all(
            b"SKIP the_builtin_dictionary_agrees_with_freeradius: no /usr/share/freeradius (install freeradius-utils, or run .ci/run)\n",
        );
        return;
    }
    let theirs = freeradius_attributes(dir);
    let mut checked = 0;
    for ours in Dictionary::builtin().definitions() {
        let (vendor, code, kind) = theirs
            .get(&ours.name)
            .unwrap_or_else(|| panic!("{} is not in FreeRADIUS's dictionaries", ours.name));
        assert_eq!((ours.vendor, ours.code), (*vendor, *code), "{}", ours.name);
        let expected = match ours.kind {
            Kind::String => "string",
            Kind::Octets => "octets",
            Kind::Integer => "integer",
            Kind::Ipv4 => "ipaddr",
            Kind::Ipv6 => "ipv6addr",
        };
        assert_eq!(kind, expected, "{}", ours.name);
        checked += 1;
    }
    assert!(checked >= 35, "only {checked} attributes checked");
}
