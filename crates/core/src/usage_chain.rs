//! The verifiable usage statement (SPEC §16): every month's admissions
//! form a hash chain, each link `SHA-256(previous ‖ pseudonym ‖ time)`,
//! starting from a value fixed by the month. The head is kept with the
//! month, reported in the application key file and the license request.
//!
//! A seat's pseudonym is keyed with the installation's sealing key (which
//! only the customer holds) and the month, so the vendor sees how many
//! users each month counted and in which order and when, never who, and
//! cannot link one user across months.
//!
//! What it proves, to someone who kept an earlier report (a head and its
//! count): that the month's chain in a later report still passes through
//! that head at that count, so the users counted up to then were neither
//! removed nor reordered, and that the count is the number of links. What
//! it cannot prove: that the installation reports every admission at all
//! (whoever runs it controls it, and could run a second one), nor
//! anything about a month no report covered. Pure: the store computes the
//! links as it counts, `license verify-export` walks them.

use sha2::{Digest as _, Sha256};

/// Bytes of a pseudonym.
pub const PSEUDONYM_BYTES: usize = 16;

/// A link's inputs: a seat's pseudonym and when it was counted (Unix
/// microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub pseudonym: [u8; PSEUDONYM_BYTES],
    pub at_micros: i64,
}

/// Where `month`'s chain starts (`2026-12`).
pub fn genesis(month: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"gatehouse usage chain v1\0");
    hash.update(month.as_bytes());
    hash.finalize().into()
}

/// The head after `link` follows `previous`.
pub fn next(previous: &[u8; 32], link: &Link) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(previous);
    hash.update(link.pseudonym);
    hash.update(link.at_micros.to_be_bytes());
    hash.finalize().into()
}

/// The heads of `month`'s chain after each of `links`, in order.
pub fn heads<'a>(month: &str, links: impl IntoIterator<Item = &'a Link>) -> Vec<[u8; 32]> {
    let mut head = genesis(month);
    links
        .into_iter()
        .map(|link| {
            head = next(&head, link);
            head
        })
        .collect()
}

/// The head of `month`'s chain over `links` (its genesis when empty).
pub fn head<'a>(month: &str, links: impl IntoIterator<Item = &'a Link>) -> [u8; 32] {
    heads(month, links).pop().unwrap_or_else(|| genesis(month))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(n: u8) -> Link {
        Link {
            pseudonym: [n; PSEUDONYM_BYTES],
            at_micros: 1_700_000_000_000_000 + i64::from(n),
        }
    }

    #[test]
    fn a_chain_extends_and_any_change_moves_its_head() {
        let links: Vec<Link> = (1..=4).map(link).collect();
        let all = heads("2026-12", &links);
        assert_eq!(all.len(), 4);
        assert_eq!(
            head("2026-12", &links[..2]),
            all[1],
            "a prefix ends at its head"
        );
        assert_eq!(head("2026-12", &[]), genesis("2026-12"));
        assert_ne!(genesis("2026-12"), genesis("2026-11"));
        assert_ne!(head("2026-11", &links), all[3], "the month is bound in");
        let mut swapped = links.clone();
        swapped.swap(1, 2);
        assert_ne!(head("2026-12", &swapped), all[3], "order matters");
        let mut edited = links.clone();
        edited[0].at_micros += 1;
        assert_ne!(head("2026-12", &edited), all[3], "times matter");
        assert_ne!(head("2026-12", &links[1..]), all[3], "a removed link shows");
    }
}
