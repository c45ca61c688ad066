//! libphonenumber's validity test for the national numbers of the calling codes the
//! bare-number phone rule validates (+1 and +44), with the metadata's patterns compiled
//! once.
//!
//! Written here, not called from the `phonenumber` crate: `phonenumber::is_valid` keeps
//! its compiled patterns in one cache of 100 for all 250 regions, and a North American
//! number visits the patterns of the 25 regions of +1, so most calls recompile (75 µs a
//! call measured alone, about 0.6 ms a call inside the detector, where it was 7 % of the
//! rules' time on chat text). The patterns are the crate's (libphonenumber's metadata)
//! and the decision is the crate's `validator::source_for` and `number_type`, which it
//! does not export: the region is the first of the calling code whose leading digits
//! start the number or, for a region without leading digits, that has a type for it;
//! the number is valid when that region has a type for it. `same_as_phonenumber`
//! checks the two agree.

use phonenumber::metadata::{Descriptor, DATABASE};
use phonenumber::Metadata;
use regex::{Regex, RegexBuilder};

/// A pattern of the metadata, matched at the start of the number as the crate does
/// (`find`, then `start() == 0`).
fn anchored(pattern: &str) -> Regex {
    RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .build()
        .expect("libphonenumber metadata pattern compiles")
}

struct Desc {
    lengths: Vec<u16>,
    re: Regex,
}

impl Desc {
    fn new(d: &Descriptor) -> Desc {
        Desc {
            lengths: d.possible_length().to_vec(),
            re: anchored(d.national_number().as_str()),
        }
    }

    fn is_match(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.re.is_match(national)
    }
}

struct Region {
    meta: &'static Metadata,
    leading: Option<Regex>,
    /// Compiled when first needed: most numbers only ever reach the first region of
    /// their calling code or the one their leading digits name.
    types: std::sync::OnceLock<Types>,
}

struct Types {
    general: Desc,
    /// Every type `number_type` tests (premium rate … mobile).
    kinds: Vec<Desc>,
}

impl Region {
    fn new(meta: &'static Metadata) -> Region {
        Region {
            meta,
            leading: meta.leading_digits().map(|r| anchored(r.as_str())),
            types: std::sync::OnceLock::new(),
        }
    }

    /// `number_type(meta, national) != Type::Unknown`.
    fn has_type(&self, national: &str) -> bool {
        let t = self.types.get_or_init(|| Types::new(self.meta));
        t.general.is_match(national) && t.kinds.iter().any(|k| k.is_match(national))
    }
}

impl Types {
    fn new(meta: &Metadata) -> Types {
        let d = meta.descriptors();
        let kinds = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Types {
            general: Desc::new(d.general()),
            kinds: kinds.into_iter().flatten().map(Desc::new).collect(),
        }
    }
}

/// The regions of one calling code, in the metadata's order.
pub(crate) struct CallingCode {
    regions: Vec<Region>,
}

impl CallingCode {
    fn new(code: u16) -> CallingCode {
        let ids = DATABASE.region(&code).unwrap_or_default();
        let regions = if ids == ["001"] {
            DATABASE
                .by_code(&code)
                .and_then(|m| m.into_iter().next())
                .map(Region::new)
                .into_iter()
                .collect()
        } else {
            ids.iter()
                .filter_map(|id| DATABASE.by_id(*id))
                .map(Region::new)
                .collect()
        };
        CallingCode { regions }
    }

    /// Whether `national` (the national significant number, digits only) is a valid
    /// number of this calling code.
    pub(crate) fn is_valid(&self, national: &str) -> bool {
        if let [only] = &self.regions[..] {
            return only.has_type(national);
        }
        for r in &self.regions {
            match &r.leading {
                Some(l) if l.is_match(national) => return r.has_type(national),
                Some(_) => {}
                None if r.has_type(national) => return true,
                None => {}
            }
        }
        false
    }
}

/// The compiled regions of +1 and +44; `None` for other codes.
/// Loads the `phonenumber` crate's metadata and its parser's patterns and compiles the
/// patterns of the regions numbers visit first, so that the first number a detector
/// validates does not pay for them.
pub(crate) fn load() {
    let _ = DATABASE.region(&1);
    // The parser's own patterns, and the regions a +1 and a +44 number visit.
    for (region, number) in [
        (phonenumber::country::Id::US, "2015550123"),
        (phonenumber::country::Id::GB, "02079460123"),
    ] {
        if let Ok(n) = phonenumber::parse(Some(region), number) {
            if let Some(code) = calling_code(n.code().value()) {
                code.is_valid(&n.national().to_string());
            }
        }
    }
}

pub(crate) fn calling_code(code: u16) -> Option<&'static CallingCode> {
    static NANP: std::sync::LazyLock<CallingCode> =
        std::sync::LazyLock::new(|| CallingCode::new(1));
    static UK: std::sync::LazyLock<CallingCode> = std::sync::LazyLock::new(|| CallingCode::new(44));
    match code {
        1 => Some(&NANP),
        44 => Some(&UK),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compiled test agrees with `phonenumber::is_valid` on every number tried:
    /// numbers across all North American area codes and UK number ranges.
    #[test]
    fn same_as_phonenumber() {
        let mut tried = 0;
        let mut valid = 0;
        let mut check = |region: phonenumber::country::Id, text: &str| {
            let Ok(n) = phonenumber::parse(Some(region), text) else {
                return;
            };
            let code = n.code().value();
            let ours = calling_code(code)
                .expect("code compiled")
                .is_valid(&n.national().to_string());
            assert_eq!(ours, phonenumber::is_valid(&n), "{text} ({region:?})");
            tried += 1;
            valid += usize::from(ours);
        };
        // Every area code 200–999 with a few exchanges; UK numbers over every leading
        // pair of digits.
        for area in (200..1000).step_by(3) {
            for exch in ["201", "555", "734"] {
                check(phonenumber::country::Id::US, &format!("{area}{exch}0134"));
            }
        }
        for lead in 10..100 {
            check(phonenumber::country::Id::GB, &format!("0{lead}84960727"));
            check(phonenumber::country::Id::GB, &format!("0{lead}4960727"));
        }
        assert!(
            tried > 900 && valid > 300 && valid < tried,
            "{valid} of {tried}"
        );
    }
}
