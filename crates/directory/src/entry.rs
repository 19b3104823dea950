//! Search results as a directory server sends them, read without trusting
//! the server: a malformed entry is an error for the directory, never a
//! panic in the middle of someone's login.
//!
//! A subtree search can also bring back continuation references (RFC 4511
//! §4.5.3): Active Directory sends one for `DomainDnsZones`,
//! `ForestDnsZones` and `Configuration` to every search from a domain's
//! root. They name other directories and are not followed: the entries a
//! search finds are the ones the server holds itself. (ldap3's `search`
//! sets them aside in the result; any found among the entries are passed
//! over here all the same.)

use ldap3::ResultEntry;
use ldap3::asn1::StructureTag;

/// Protocol op tags (RFC 4511 §4.2): SearchResultEntry,
/// SearchResultReference and IntermediateResponse.
const SEARCH_RESULT_ENTRY: u64 = 4;
const SEARCH_RESULT_REFERENCE: u64 = 19;
const INTERMEDIATE_RESPONSE: u64 = 25;

/// One entry a search found: its DN and each attribute's raw values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    pub attributes: Vec<(String, Vec<Vec<u8>>)>,
}

impl Entry {
    /// Every value of `attribute` (attribute names are case-insensitive).
    pub fn values(&self, attribute: &str) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(attribute))
            .flat_map(|(_, values)| values.iter().map(Vec::as_slice))
    }
}

/// The entries among a search's results: references and intermediate
/// responses are passed over, and `Err` says that an entry was malformed
/// (with its DN when that much could be read).
pub fn entries(results: Vec<ResultEntry>) -> Result<Vec<Entry>, String> {
    read_entries(results.into_iter().map(|result| result.0))
}

fn read_entries(tags: impl Iterator<Item = StructureTag>) -> Result<Vec<Entry>, String> {
    tags.filter(|tag| !matches!(tag.id, SEARCH_RESULT_REFERENCE | INTERMEDIATE_RESPONSE))
        .map(read_entry)
        .collect()
}

/// Reads a SearchResultEntry: `[APPLICATION 4] SEQUENCE { objectName,
/// attributes SEQUENCE OF SEQUENCE { type, vals SET OF value } }`.
fn read_entry(tag: StructureTag) -> Result<Entry, String> {
    let malformed = |what: &str| format!("a malformed search result entry ({what})");
    let mut parts = tag
        .match_id(SEARCH_RESULT_ENTRY)
        .and_then(StructureTag::expect_constructed)
        .ok_or_else(|| malformed("not an entry"))?
        .into_iter();
    let dn = text(parts.next()).ok_or_else(|| malformed("no DN"))?;
    let in_entry = |what: &str| format!("{}: {what}", malformed(&format!("entry {dn:?}")));
    let list = parts
        .next()
        .and_then(StructureTag::expect_constructed)
        .ok_or_else(|| in_entry("no attribute list"))?;
    let mut attributes = Vec::with_capacity(list.len());
    for attribute in list {
        let mut attribute = attribute
            .expect_constructed()
            .ok_or_else(|| in_entry("an attribute is not a sequence"))?
            .into_iter();
        let name = text(attribute.next()).ok_or_else(|| in_entry("an attribute has no name"))?;
        let values = attribute
            .next()
            .and_then(StructureTag::expect_constructed)
            .and_then(|values| {
                values
                    .into_iter()
                    .map(StructureTag::expect_primitive)
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| in_entry(&format!("attribute {name} has no value set")))?;
        attributes.push((name, values));
    }
    Ok(Entry { dn, attributes })
}

/// An LDAPString: an octet string holding UTF-8.
fn text(tag: Option<StructureTag>) -> Option<String> {
    String::from_utf8(tag?.expect_primitive()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::{PL, TagClass};

    fn primitive(id: u64, bytes: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::P(bytes.to_vec()),
        }
    }

    fn constructed(class: TagClass, id: u64, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class,
            id,
            payload: PL::C(inner),
        }
    }

    fn octets(bytes: &[u8]) -> StructureTag {
        primitive(4, bytes)
    }

    fn attribute(name: &[u8], values: &[&[u8]]) -> StructureTag {
        constructed(
            TagClass::Universal,
            16,
            vec![
                octets(name),
                constructed(
                    TagClass::Universal,
                    17,
                    values.iter().map(|v| octets(v)).collect(),
                ),
            ],
        )
    }

    fn entry_tag(dn: &[u8], attributes: Vec<StructureTag>) -> StructureTag {
        constructed(
            TagClass::Application,
            SEARCH_RESULT_ENTRY,
            vec![octets(dn), constructed(TagClass::Universal, 16, attributes)],
        )
    }

    fn entries(tags: Vec<StructureTag>) -> Result<Vec<Entry>, String> {
        read_entries(tags.into_iter())
    }

    #[test]
    fn text_and_binary_values_are_read_as_sent() {
        let guid = [0x7d, 0x53, 0x66, 0xbe, 0xff, 0x00];
        let read = entries(vec![entry_tag(
            b"cn=John Smith,dc=example,dc=test",
            vec![
                attribute(b"sAMAccountName", &[b"john"]),
                attribute(b"objectGUID", &[&guid]),
                attribute(b"memberOf", &[b"cn=a", b"cn=b"]),
            ],
        )])
        .unwrap();
        assert_eq!(read.len(), 1);
        let john = &read[0];
        assert_eq!(john.dn, "cn=John Smith,dc=example,dc=test");
        assert_eq!(john.values("samaccountname").collect::<Vec<_>>(), [b"john"]);
        assert_eq!(john.values("OBJECTGUID").collect::<Vec<_>>(), [&guid[..]]);
        assert_eq!(john.values("memberOf").count(), 2);
        assert_eq!(john.values("mail").count(), 0);
    }

    #[test]
    fn references_and_intermediate_responses_are_passed_over() {
        let reference = constructed(
            TagClass::Application,
            SEARCH_RESULT_REFERENCE,
            vec![octets(
                b"ldap://DomainDnsZones.example.test/DC=DomainDnsZones",
            )],
        );
        let intermediate = constructed(TagClass::Application, INTERMEDIATE_RESPONSE, Vec::new());
        let read = entries(vec![
            reference.clone(),
            entry_tag(b"cn=x", vec![attribute(b"uid", &[b"x"])]),
            intermediate,
            reference,
        ])
        .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].dn, "cn=x");
    }

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let cases = [
            // A DN that is not UTF-8.
            entry_tag(&[0xff, 0xfe], Vec::new()),
            // No attribute list at all.
            constructed(TagClass::Application, 4, vec![octets(b"cn=x")]),
            // An attribute without its value set.
            entry_tag(
                b"cn=x",
                vec![constructed(TagClass::Universal, 16, vec![octets(b"uid")])],
            ),
            // An attribute whose name is not UTF-8.
            entry_tag(b"cn=x", vec![attribute(&[0xc3], &[b"x"])]),
            // A value that is constructed, not an octet string.
            entry_tag(
                b"cn=x",
                vec![constructed(
                    TagClass::Universal,
                    16,
                    vec![
                        octets(b"uid"),
                        constructed(
                            TagClass::Universal,
                            17,
                            vec![constructed(TagClass::Universal, 16, Vec::new())],
                        ),
                    ],
                )],
            ),
            // Some other operation where an entry belongs.
            constructed(TagClass::Application, 5, Vec::new()),
        ];
        for case in cases {
            let error = entries(vec![case.clone()]).unwrap_err();
            assert!(
                error.contains("malformed search result entry"),
                "{case:?}: {error}"
            );
        }
        let error = entries(vec![entry_tag(
            b"cn=x",
            vec![constructed(TagClass::Universal, 16, vec![octets(b"uid")])],
        )])
        .unwrap_err();
        assert!(
            error.contains("\"cn=x\"") && error.contains("uid"),
            "{error}"
        );
    }
}
