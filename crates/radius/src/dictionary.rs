//! RADIUS dictionaries: attribute names, their codes, vendors and types,
//! in FreeRADIUS's file format. The built-in dictionary
//! (`dictionary/builtin.dictionary`) holds the reply attributes gateways
//! read (Class, Filter-Id, Session-Timeout, the RFC 2868 tunnel attributes
//! for VLANs, and the group and role attributes of Fortinet, Palo Alto,
//! Cisco, Juniper, MikroTik, Microsoft, Aruba, Check Point, SonicWall and
//! pfSense); more load from files (`radius.dictionaries`).
//!
//! Pure: [`Dictionary::load`] reads text, [`Dictionary::encode`] turns a
//! name and a value as an administrator writes it into the attribute on the
//! wire, or an error naming the attribute.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::packet::{Attribute, MAX_ATTRIBUTE_VALUE};

/// RFC 2865's Vendor-Specific attribute.
pub const VENDOR_SPECIFIC: u8 = 26;

/// The built-in dictionary's text.
const BUILTIN: &str = include_str!("dictionary/builtin.dictionary");

/// How an attribute's value is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    String,
    /// Raw bytes: `0x` and hex digits, or text taken as its bytes.
    Octets,
    /// A 32-bit unsigned number, or one of the attribute's named values.
    Integer,
    Ipv4,
    Ipv6,
}

/// One attribute of the dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    /// `None`: a standard attribute; `Some(id)`: inside Vendor-Specific.
    pub vendor: Option<u32>,
    pub code: u8,
    pub kind: Kind,
    /// RFC 2868 tag: an integer's first octet is the tag (0).
    pub tagged: bool,
    /// Named integer values (`VLAN` = 13), keys lowercase.
    values: HashMap<String, u32>,
}

/// Why a dictionary file or a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DictionaryError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error(
        "unknown RADIUS attribute {0:?} (not in the built-in dictionary or radius.dictionaries)"
    )]
    UnknownAttribute(String),
    #[error("{attribute}: {value:?} is not {expected}")]
    BadValue {
        attribute: String,
        value: String,
        expected: &'static str,
    },
    #[error("{attribute}: the value is longer than an attribute can hold ({max} bytes)")]
    TooLong { attribute: String, max: usize },
}

/// Attribute definitions by name (compared without case).
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    attributes: HashMap<String, Definition>,
    /// Vendor ids by name (lowercase), so a later file may add attributes
    /// to a vendor an earlier one named.
    vendors: HashMap<String, u32>,
}

impl Dictionary {
    /// The built-in dictionary.
    pub fn builtin() -> Dictionary {
        let mut dictionary = Dictionary::default();
        dictionary
            .load(BUILTIN)
            .expect("the built-in dictionary is valid");
        dictionary
    }

    /// Adds the definitions of a FreeRADIUS-format dictionary: `VENDOR`,
    /// `BEGIN-VENDOR`/`END-VENDOR`, `ATTRIBUTE` (types string, octets,
    /// integer, ipaddr, ipv6addr; flag `has_tag`) and `VALUE`. A later
    /// definition of a name replaces an earlier one. Nothing is added when
    /// a line is refused.
    pub fn load(&mut self, text: &str) -> Result<(), DictionaryError> {
        let mut added = self.attributes.clone();
        let mut vendors = self.vendors.clone();
        let mut vendor: Option<u32> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let syntax = |message: String| DictionaryError::Syntax { line, message };
            let content = raw.split('#').next().unwrap_or("").trim();
            let words: Vec<&str> = content.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                ["VENDOR", name, id, rest @ ..] => {
                    if rest
                        .iter()
                        .any(|r| r.starts_with("format=") && *r != "format=1,1")
                    {
                        return Err(syntax(format!(
                            "vendor {name}: only the standard format 1,1 is supported"
                        )));
                    }
                    let id: u32 = id
                        .parse()
                        .map_err(|_| syntax(format!("vendor {name}: {id:?} is not a number")))?;
                    vendors.insert(name.to_lowercase(), id);
                }
                ["BEGIN-VENDOR", name, ..] => {
                    vendor = Some(*vendors.get(&name.to_lowercase()).ok_or_else(|| {
                        syntax(format!("BEGIN-VENDOR {name}: no VENDOR line names it"))
                    })?);
                }
                ["END-VENDOR", ..] => vendor = None,
                ["ATTRIBUTE", name, code, kind, flags @ ..] => {
                    let code: u8 = code
                        .parse()
                        .ok()
                        .filter(|&code| code > 0)
                        .ok_or_else(|| syntax(format!("{name}: {code:?} is not 1 to 255")))?;
                    let kind = match *kind {
                        "string" => Kind::String,
                        "octets" => Kind::Octets,
                        "integer" => Kind::Integer,
                        "ipaddr" => Kind::Ipv4,
                        "ipv6addr" => Kind::Ipv6,
                        other => {
                            return Err(syntax(format!(
                                "{name}: type {other:?} is not supported (string, octets, integer, ipaddr, ipv6addr)"
                            )));
                        }
                    };
                    let tagged = flags
                        .iter()
                        .flat_map(|flags| flags.split(','))
                        .any(|flag| flag == "has_tag");
                    added.insert(
                        name.to_lowercase(),
                        Definition {
                            name: name.to_string(),
                            vendor,
                            code,
                            kind,
                            tagged,
                            values: HashMap::new(),
                        },
                    );
                }
                ["VALUE", attribute, name, number] => {
                    let number: u32 = number.parse().map_err(|_| {
                        syntax(format!("{attribute} {name}: {number:?} is not a number"))
                    })?;
                    let definition = added.get_mut(&attribute.to_lowercase()).ok_or_else(|| {
                        syntax(format!(
                            "VALUE for {attribute}, which no ATTRIBUTE line defines"
                        ))
                    })?;
                    definition.values.insert(name.to_lowercase(), number);
                }
                [keyword, ..] if keyword.starts_with('$') => {
                    return Err(syntax(format!(
                        "{keyword} is not supported: list each dictionary file in radius.dictionaries"
                    )));
                }
                _ => return Err(syntax(format!("not a dictionary line: {content:?}"))),
            }
        }
        self.attributes = added;
        self.vendors = vendors;
        Ok(())
    }

    /// Every definition, in no particular order.
    pub fn definitions(&self) -> impl Iterator<Item = &Definition> {
        self.attributes.values()
    }

    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.attributes.get(&name.to_lowercase())
    }

    /// The attribute `name` with `value` as an administrator writes it
    /// (a number or a named value for integers, an address, text, or
    /// `0x…` for octets), ready for a reply.
    pub fn encode(&self, name: &str, value: &str) -> Result<Attribute, DictionaryError> {
        let definition = self
            .get(name)
            .ok_or_else(|| DictionaryError::UnknownAttribute(name.to_string()))?;
        definition.encode(value)
    }
}

impl gatehouse_core::policy::ReplyCheck for Dictionary {
    fn encode(&self, attribute: &str, value: &str) -> Result<(u8, Vec<u8>), String> {
        Dictionary::encode(self, attribute, value)
            .map(|encoded| (encoded.kind, encoded.value))
            .map_err(|error| error.to_string())
    }
}

impl Definition {
    /// `value` on the wire (see [`Dictionary::encode`]).
    pub fn encode(&self, value: &str) -> Result<Attribute, DictionaryError> {
        let bad = |expected: &'static str| DictionaryError::BadValue {
            attribute: self.name.clone(),
            value: value.to_string(),
            expected,
        };
        let data = match self.kind {
            // RFC 2868 §3.6: a tagged string whose first byte could be read
            // as a tag (0x01 to 0x1F) gets tag 0 in front of it.
            Kind::String if self.tagged && value.bytes().next().is_some_and(|b| b <= 0x1f) => {
                [&[0u8][..], value.as_bytes()].concat()
            }
            Kind::String => value.as_bytes().to_vec(),
            Kind::Octets => match value.strip_prefix("0x") {
                Some(hex) => {
                    decode_hex(hex).ok_or_else(|| bad("0x and an even number of hex digits"))?
                }
                None => value.as_bytes().to_vec(),
            },
            Kind::Integer => {
                let number = match value.trim().parse::<u32>() {
                    Ok(number) => number,
                    Err(_) => *self
                        .values
                        .get(&value.trim().to_lowercase())
                        .ok_or_else(|| bad("a number from 0 to 4294967295 or a named value"))?,
                };
                if self.tagged {
                    // RFC 2868: the tag (0) in the first octet, the value in
                    // the other three.
                    if number > 0x00ff_ffff {
                        return Err(bad("a number from 0 to 16777215"));
                    }
                    let mut bytes = number.to_be_bytes();
                    bytes[0] = 0;
                    bytes.to_vec()
                } else {
                    number.to_be_bytes().to_vec()
                }
            }
            Kind::Ipv4 => value
                .trim()
                .parse::<Ipv4Addr>()
                .map_err(|_| bad("an IPv4 address"))?
                .octets()
                .to_vec(),
            Kind::Ipv6 => value
                .trim()
                .parse::<Ipv6Addr>()
                .map_err(|_| bad("an IPv6 address"))?
                .octets()
                .to_vec(),
        };
        match self.vendor {
            None => {
                if data.len() > MAX_ATTRIBUTE_VALUE {
                    return Err(DictionaryError::TooLong {
                        attribute: self.name.clone(),
                        max: MAX_ATTRIBUTE_VALUE,
                    });
                }
                Ok(Attribute::new(self.code, data))
            }
            Some(vendor) => {
                // Vendor id, then the vendor's own type and length (format
                // 1,1), inside one Vendor-Specific attribute.
                let max = MAX_ATTRIBUTE_VALUE - 6;
                if data.len() > max {
                    return Err(DictionaryError::TooLong {
                        attribute: self.name.clone(),
                        max,
                    });
                }
                let mut wrapped = vendor.to_be_bytes().to_vec();
                wrapped.push(self.code);
                wrapped.push((data.len() + 2) as u8);
                wrapped.extend(data);
                Ok(Attribute::new(VENDOR_SPECIFIC, wrapped))
            }
        }
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
