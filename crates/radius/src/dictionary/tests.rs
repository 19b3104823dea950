//! Dictionaries and values, case by case.

use super::*;

fn wire(name: &str, value: &str) -> (u8, Vec<u8>) {
    let attribute = Dictionary::builtin().encode(name, value).unwrap();
    (attribute.kind, attribute.value)
}

#[test]
fn standard_attributes_by_name_and_type() {
    assert_eq!(wire("Class", "gatehouse"), (25, b"gatehouse".to_vec()));
    assert_eq!(wire("class", "0x0102ff"), (25, vec![1, 2, 0xff]));
    assert_eq!(
        wire("Filter-Id", "vpn-admins"),
        (11, b"vpn-admins".to_vec())
    );
    assert_eq!(
        wire("Session-Timeout", "3600"),
        (27, vec![0, 0, 0x0e, 0x10])
    );
    assert_eq!(wire("Service-Type", "Framed-User"), (6, vec![0, 0, 0, 2]));
    assert_eq!(
        wire("Framed-IP-Address", "10.0.0.7"),
        (8, vec![10, 0, 0, 7])
    );
}

#[test]
fn tunnel_attributes_assign_a_vlan() {
    // RFC 2868 with RFC 3580's values: tag 0 in the integer's first octet.
    assert_eq!(wire("Tunnel-Type", "VLAN"), (64, vec![0, 0, 0, 13]));
    assert_eq!(
        wire("Tunnel-Medium-Type", "IEEE-802"),
        (65, vec![0, 0, 0, 6])
    );
    assert_eq!(
        wire("Tunnel-Private-Group-Id", "100"),
        (81, b"100".to_vec())
    );
    // A first byte that would read as a tag is kept as data behind tag 0.
    assert_eq!(
        wire("Tunnel-Private-Group-Id", "\u{1}x"),
        (81, vec![0, 1, b'x'])
    );
}

#[test]
fn vendor_attributes_go_inside_vendor_specific() {
    let mut fortinet = 12356u32.to_be_bytes().to_vec();
    fortinet.extend([1, 12]);
    fortinet.extend(b"vpn-admins");
    assert_eq!(wire("Fortinet-Group-Name", "vpn-admins"), (26, fortinet));
    let mut palo_alto = 25461u32.to_be_bytes().to_vec();
    palo_alto.extend([5, 7]);
    palo_alto.extend(b"staff");
    assert_eq!(wire("PaloAlto-User-Group", "staff"), (26, palo_alto));
    let mut aruba = 14823u32.to_be_bytes().to_vec();
    aruba.extend([2, 6, 0, 0, 0, 42]);
    assert_eq!(wire("Aruba-User-Vlan", "42"), (26, aruba));
    for name in [
        "Cisco-AVPair",
        "MS-Primary-DNS-Server",
        "CP-Gaia-User-Role",
        "Juniper-Local-User-Name",
        "SonicWall-User-Group",
        "pfSense-Bandwidth-Max-Up",
        "Mikrotik-Group",
    ] {
        assert!(Dictionary::builtin().get(name).is_some(), "{name}");
    }
}

#[test]
fn a_value_that_does_not_fit_names_the_attribute() {
    let dictionary = Dictionary::builtin();
    let cases = [
        (
            "Session-Timeout",
            "an hour",
            "a number from 0 to 4294967295 or a named value",
        ),
        ("Tunnel-Type", "16777216", "a number from 0 to 16777215"),
        ("Framed-IP-Address", "10.0.0.300", "an IPv4 address"),
        ("MS-Primary-DNS-Server", "::1", "an IPv4 address"),
        ("Class", "0x123", "0x and an even number of hex digits"),
    ];
    for (name, value, expected) in cases {
        let error = dictionary.encode(name, value).unwrap_err();
        assert_eq!(
            error,
            DictionaryError::BadValue {
                attribute: dictionary.get(name).unwrap().name.clone(),
                value: value.to_string(),
                expected,
            },
            "{name}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: ", dictionary.get(name).unwrap().name))
        );
    }
    assert_eq!(
        dictionary
            .encode("Filter-Id", &"x".repeat(254))
            .unwrap_err(),
        DictionaryError::TooLong {
            attribute: "Filter-Id".into(),
            max: 253
        }
    );
    assert_eq!(
        dictionary
            .encode("Fortinet-Group-Name", &"x".repeat(248))
            .unwrap_err(),
        DictionaryError::TooLong {
            attribute: "Fortinet-Group-Name".into(),
            max: 247
        }
    );
    assert!(
        dictionary
            .encode("Fortinet-Group-Name", &"x".repeat(247))
            .is_ok()
    );
    assert_eq!(
        dictionary.encode("No-Such-Attribute", "1").unwrap_err(),
        DictionaryError::UnknownAttribute("No-Such-Attribute".into())
    );
}

#[test]
fn files_add_vendors_and_attributes_or_nothing() {
    let mut dictionary = Dictionary::builtin();
    dictionary
        .load(
            "# a vendor of our own\n\
             VENDOR\tExample\t32473\n\
             BEGIN-VENDOR\tExample\n\
             ATTRIBUTE\tExample-Role\t1\tstring\n\
             ATTRIBUTE\tExample-Level\t2\tinteger\n\
             VALUE\tExample-Level\tHigh\t3\n\
             END-VENDOR\tExample\n\
             BEGIN-VENDOR\tFortinet\n\
             ATTRIBUTE\tFortinet-SSID\t7\tstring\n\
             END-VENDOR\tFortinet\n",
        )
        .unwrap();
    let level = dictionary.encode("Example-Level", "high").unwrap();
    let mut expected = 32473u32.to_be_bytes().to_vec();
    expected.extend([2, 6, 0, 0, 0, 3]);
    assert_eq!((level.kind, level.value), (26, expected));
    assert_eq!(dictionary.get("Fortinet-SSID").unwrap().vendor, Some(12356));
    // A bad line: an error naming it, and nothing of the file is added.
    let refused = [
        ("ATTRIBUTE\tA\t1\tstring\nATTRIBUTE\tB\t300\tstring\n", 2),
        ("ATTRIBUTE\tC\t1\tdate\n", 1),
        ("BEGIN-VENDOR\tNobody\n", 1),
        ("VALUE\tD\tX\t1\n", 1),
        ("$INCLUDE\tdictionary.other\n", 1),
        ("VENDOR\tUSR\t429\tformat=4,0\n", 1),
        ("ATTRIBUTE\tE\n", 1),
    ];
    for (text, line) in refused {
        let mut copy = dictionary.clone();
        match copy.load(text) {
            Err(DictionaryError::Syntax { line: at, .. }) => assert_eq!(at, line, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
        assert!(copy.get("A").is_none());
    }
}
