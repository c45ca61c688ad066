//! Check-digit and structure validators for the recognizers of `crate::detect`.
//!
//! Every function here is pure, allocation-free and total: it never panics, whatever the
//! input, and answers `false` for anything that is not well-formed (wrong length, a
//! character outside the alphabet). They take the *compact* form of a value (separators
//! already removed) so that a caller with its own pattern (a user-defined recognizer)
//! can reuse them unchanged.

/// Luhn (ISO/IEC 7812-1) check over ASCII digits: true when the last digit is the check
/// digit of the others. Fewer than 2 digits, or any non-digit, is false.
pub fn luhn(digits: &str) -> bool {
    let b = digits.as_bytes();
    if b.len() < 2 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in b.iter().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// GB 11643-1999 (ISO 7064 MOD 11-2) check character of an 18-character resident ID:
/// true when character 18 (`0-9`, `X` or `x`) matches the first 17 digits. Only the check
/// character is verified here; region and birth date are `cn_region_code` and
/// `valid_ymd`.
pub fn gb11643(id: &str) -> bool {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(&c, w)| u32::from(c - b'0') * w)
        .sum();
    b[17].to_ascii_uppercase() == CHECK[(sum % 11) as usize]
}

/// The GB 32100-2015 alphabet: digits and upper-case letters without I, O, S, V, Z.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn uscc_value(c: u8) -> Option<u32> {
    USCC_ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// GB 32100-2015 check character of an 18-character unified social credit code: true
/// when every character is in the code's alphabet (upper case only) and character 18 is
/// the MOD 31 check character of the first 17.
pub fn gb32100(code: &str) -> bool {
    const W: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let b = code.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let mut sum = 0u32;
    for (&c, w) in b[..17].iter().zip(W) {
        match uscc_value(c) {
            Some(v) => sum += v * w,
            None => return false,
        }
    }
    let check = (31 - sum % 31) % 31;
    uscc_value(b[17]) == Some(check)
}

/// GB 11714-1997 check character of a 9-character organization code (8 characters of
/// `0-9A-Z` and a check digit `0-9` or `X`). A USCC carries one in characters 9–17, which
/// makes an accidental match of an 18-digit number far less likely.
pub fn gb11714(code: &str) -> bool {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let b = code.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let mut sum = 0u32;
    for (&c, w) in b[..8].iter().zip(W) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        sum += v * w;
    }
    let expected = match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        d => b'0' + d as u8,
    };
    b[8] == expected
}

/// ISO 13616 check: true when `iban` (upper-case letters and digits, no separators,
/// at least 5 characters, starting with 2 letters and 2 digits) is ≡ 1 mod 97 after
/// moving its first four characters to the end. Country length and BBAN format are
/// `iban_structure`.
pub fn iban_mod97(iban: &str) -> bool {
    let b = iban.as_bytes();
    if b.len() < 5
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// BBAN formats of the IBAN registry (SWIFT, release 2024+), as `(country, spec)`;
/// the spec lists runs like `8n16c`: `n` digits, `a` upper-case letters, `c` either.
/// The total IBAN length is 4 + the sum of the runs. A country missing here is not an
/// IBAN country (e.g. `AB`, `AM`), which Presidio's negatives rely on.
const IBAN_FORMATS: &[(&str, &str)] = &[
    ("AD", "4n4n12c"),
    ("AE", "3n16n"),
    ("AL", "8n16c"),
    ("AT", "5n11n"),
    ("AZ", "4a20c"),
    ("BA", "3n3n8n2n"),
    ("BE", "3n7n2n"),
    ("BG", "4a4n2n8c"),
    ("BH", "4a14c"),
    ("BI", "5n5n11n2n"),
    ("BR", "8n5n10n1a1c"),
    ("BY", "4c4n16c"),
    ("CH", "5n12c"),
    ("CR", "4n14n"),
    ("CY", "3n5n16c"),
    ("CZ", "4n6n10n"),
    ("DE", "8n10n"),
    ("DJ", "5n5n11n2n"),
    ("DK", "4n9n1n"),
    ("DO", "4c20n"),
    ("EE", "2n2n11n1n"),
    ("EG", "4n4n17n"),
    ("ES", "4n4n1n1n10n"),
    ("FI", "3n11n"),
    ("FK", "2a12n"),
    ("FO", "4n9n1n"),
    ("FR", "5n5n11c2n"),
    ("GB", "4a6n8n"),
    ("GE", "2a16n"),
    ("GI", "4a15c"),
    ("GL", "4n9n1n"),
    ("GR", "3n4n16c"),
    ("GT", "4c20c"),
    ("HN", "4a20n"),
    ("HR", "7n10n"),
    ("HU", "3n4n1n15n1n"),
    ("IE", "4a6n8n"),
    ("IL", "3n3n13n"),
    ("IQ", "4a3n12n"),
    ("IS", "4n2n6n10n"),
    ("IT", "1a5n5n12c"),
    ("JO", "4a4n18c"),
    ("KW", "4a22c"),
    ("KZ", "3n13c"),
    ("LB", "4n20c"),
    ("LC", "4a24c"),
    ("LI", "5n12c"),
    ("LT", "5n11n"),
    ("LU", "3n13c"),
    ("LV", "4a13c"),
    ("LY", "3n3n15n"),
    ("MC", "5n5n11c2n"),
    ("MD", "2c18c"),
    ("ME", "3n13n2n"),
    ("MK", "3n10c2n"),
    ("MN", "4n12n"),
    ("MR", "5n5n11n2n"),
    ("MT", "4a5n18c"),
    ("MU", "4a2n2n12n3n3a"),
    ("NI", "4a20n"),
    ("NL", "4a10n"),
    ("NO", "4n6n1n"),
    ("OM", "3n16c"),
    ("PK", "4a16c"),
    ("PL", "8n16n"),
    ("PS", "4a21c"),
    ("PT", "4n4n11n2n"),
    ("QA", "4a21c"),
    ("RO", "4a16c"),
    ("RS", "3n13n2n"),
    ("RU", "9n5n15c"),
    ("SA", "2n18c"),
    ("SC", "4a2n2n16n3a"),
    ("SD", "2n12n"),
    ("SE", "3n16n1n"),
    ("SI", "5n8n2n"),
    ("SK", "4n6n10n"),
    ("SM", "1a5n5n12c"),
    ("SO", "4n3n12n"),
    ("ST", "4n4n11n2n"),
    ("SV", "4a20n"),
    ("TL", "3n14n2n"),
    ("TN", "2n3n13n2n"),
    ("TR", "5n1n16c"),
    ("UA", "6n19c"),
    ("VA", "3n15n"),
    ("VG", "4a16n"),
    ("XK", "4n10n2n"),
    ("YE", "4a4n18c"),
];

/// Length of a full IBAN of `country` (e.g. 22 for `DE`), or None when the country does
/// not issue IBANs.
pub fn iban_length(country: &str) -> Option<usize> {
    let spec = IBAN_FORMATS.iter().find(|(c, _)| *c == country)?.1;
    let mut total = 4;
    let mut n = 0usize;
    for c in spec.bytes() {
        if c.is_ascii_digit() {
            n = n * 10 + usize::from(c - b'0');
        } else {
            total += n;
            n = 0;
        }
    }
    Some(total)
}

/// True when the compact `iban` has its country's exact length and BBAN character
/// classes (so `AT61 1904 A002…` is refused although letters are IBAN characters).
/// Does not check mod 97.
pub fn iban_structure(iban: &str) -> bool {
    let b = iban.as_bytes();
    if b.len() < 5 || !b[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let Some(&(_, spec)) = IBAN_FORMATS.iter().find(|(c, _)| c.as_bytes() == &b[..2]) else {
        return false;
    };
    let mut pos = 4;
    let mut n = 0usize;
    for c in spec.bytes() {
        if c.is_ascii_digit() {
            n = n * 10 + usize::from(c - b'0');
            continue;
        }
        let Some(run) = b.get(pos..pos + n) else {
            return false;
        };
        let ok = match c {
            b'n' => run.iter().all(u8::is_ascii_digit),
            b'a' => run.iter().all(u8::is_ascii_uppercase),
            _ => run
                .iter()
                .all(|x| x.is_ascii_digit() || x.is_ascii_uppercase()),
        };
        if !ok {
            return false;
        }
        pos += n;
        n = 0;
    }
    pos == b.len()
}

/// True when `y`-`m`-`d` is a real calendar date with 1900 ≤ y ≤ 2100.
pub fn valid_ymd(y: u32, m: u32, d: u32) -> bool {
    if !(1900..=2100).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

/// True when the two digits are a province-level code of GB/T 2260 as used in the first
/// two characters of a resident ID (and of a USCC's administrative-division code), plus
/// 71/81/82/83/91 (Taiwan, Hong Kong, Macao, the 2018 residence permits, and 91 for
/// foreigners' permanent residence IDs).
pub fn cn_region_code(two: &[u8]) -> bool {
    if two.len() != 2 || !two.iter().all(u8::is_ascii_digit) {
        return false;
    }
    matches!(
        (two[0] - b'0') * 10 + (two[1] - b'0'),
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82 | 83 | 91
    )
}

/// Full check of an 18-character resident ID: region, birth date, check character.
pub fn cn_id18(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 18 && cn_region_code(&b[..2]) && gb11643(id) && {
        let n = |r: std::ops::Range<usize>| id[r].parse::<u32>().unwrap_or(0);
        valid_ymd(n(6..10), n(10..12), n(12..14))
    }
}

/// Check of a legacy 15-digit resident ID (issued before 1999): region and a `YYMMDD`
/// birth date in the 1900s. There is no check digit.
pub fn cn_id15(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 15 && b.iter().all(u8::is_ascii_digit) && cn_region_code(&b[..2]) && {
        let n = |r: std::ops::Range<usize>| id[r].parse::<u32>().unwrap_or(0);
        valid_ymd(1900 + n(6..8), n(8..10), n(10..12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn("4012888888881881"));
        assert!(luhn("122000000000003"));
        assert!(luhn("371449635398431"));
        assert!(luhn("6212345678901232"));
        assert!(!luhn("4012888888881882"));
        // Luhn-valid, but an epoch-millisecond timestamp: refused by the recognizer,
        // not here.
        assert!(luhn("1748503543012"));
        assert!(!luhn("36168002586008"));
        assert!(
            !luhn("4012 8888 8888 1881"),
            "separators are the caller's job"
        );
        assert!(!luhn(""));
        assert!(!luhn("0"));
    }

    #[test]
    fn gb11643_known_values() {
        // The standard's own example, and one with an X check character.
        assert!(gb11643("11010519491231002X"));
        assert!(gb11643("11010519491231002x"));
        assert!(gb11643("440524188001010014"));
        assert!(!gb11643("110105194912310021"));
        assert!(!gb11643("11010519491231002"));
        assert!(!gb11643("1101051949123100X2"));
        assert!(cn_id18("11010519491231002X"));
        // Right check digit, impossible date (Feb 30).
        let mut body = String::from("11010519490230001");
        let check = (0..=10)
            .map(|d| if d == 10 { 'X' } else { char::from(b'0' + d) })
            .find(|&c| gb11643(&format!("{body}{c}")))
            .unwrap();
        body.push(check);
        assert!(gb11643(&body) && !cn_id18(&body));
        // Right check digit, region 99 does not exist.
        assert!(!cn_region_code(b"99") && !cn_region_code(b"10") && cn_region_code(b"44"));
    }

    #[test]
    fn gb32100_known_values() {
        assert!(gb32100("91350100M000100Y43"));
        assert!(!gb32100("91350100M000100Y44"));
        assert!(!gb32100("91350100M000100Y4"));
        assert!(
            !gb32100("91350100m000100Y43"),
            "lower case is not in the alphabet"
        );
        assert!(!gb32100("91350100O000100Y43"), "O is not in the alphabet");
        assert!(gb11714("M000100Y4"));
        assert!(!gb11714("M000100Y5"));
    }

    #[test]
    fn iban_known_values() {
        assert!(iban_mod97("DE89370400440532013000"));
        assert!(!iban_mod97("DE89370400440532013001"));
        assert!(iban_mod97("GB29NWBK60161331926819"));
        assert!(
            !iban_mod97("GB29 NWBK 6016 1331 9268 19"),
            "compact form only"
        );
        assert!(iban_structure("GB29NWBK60161331926819"));
        assert!(!iban_structure("GB291WBK60161331926819"));
        assert!(!iban_structure("AT611904A00234573201"));
        assert!(!iban_structure("AT6119043002345732011"));
        assert!(!iban_structure("AM47212110090000000235698740"));
        assert_eq!(iban_length("DE"), Some(22));
        assert_eq!(iban_length("LC"), Some(32));
        assert_eq!(iban_length("NO"), Some(15));
        assert_eq!(iban_length("US"), None);
    }

    #[test]
    fn dates() {
        assert!(valid_ymd(2000, 2, 29));
        assert!(!valid_ymd(1900, 2, 29));
        assert!(!valid_ymd(2023, 4, 31));
        assert!(!valid_ymd(1899, 1, 1));
        assert!(!valid_ymd(2024, 13, 1));
    }
}
