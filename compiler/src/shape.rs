//! The shape each of the nine fields of a rule must have. Shapes are loose on
//! purpose: they tell "this line belongs to another field" (a misalignment,
//! R002) from "this field is wrong" (its own code).

pub const FIELD_COUNT: usize = 9;

/// Field names for messages, by 0-based index.
pub const FIELD_NAMES: [&str; FIELD_COUNT] = [
    "event name",
    "state qualifier",
    "recovery program path",
    "recovery type",
    "recovery level",
    "resource variable",
    "instance vector",
    "predicate",
    "rearm predicate",
];

/// What a field at each position should look like, for messages.
pub const FIELD_SHAPES: [&str; FIELD_COUNT] = [
    "an event name (letters, digits and `_`)",
    "an integer state qualifier",
    "the path of a `.rp` file",
    "an integer (the documentation writes `2`)",
    "an integer (the documentation writes `0`)",
    "a resource variable name (dotted, e.g. `IBM.PSSP.Prog.xpcount`) or an empty line",
    "an instance vector (`name=value;...`) or an empty line",
    "a predicate or an empty line",
    "a rearm predicate or an empty line",
];

/// The value of a field as the linter reads it: without trailing blanks,
/// tabs and carriage returns (R015 warns about them).
pub fn value(text: &str) -> &str {
    text.trim_end_matches([' ', '\t', '\r'])
}

pub fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

pub fn is_int(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit())
}

pub fn is_dotted_name(s: &str) -> bool {
    let mut parts = s.split('.');
    let first_ok = parts.next().is_some_and(|p| {
        p.bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'%')
            && p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'%')
    });
    let mut rest = 0;
    let rest_ok = parts.all(|p| {
        rest += 1;
        !p.is_empty()
            && p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'%')
    });
    first_ok && rest_ok && rest > 0
}

fn looks_like_path(s: &str) -> bool {
    !s.is_empty() && !s.contains([' ', '\t']) && (s.contains('/') || s.ends_with(".rp"))
}

/// `Name=` at the start (but not `X==`): an instance-vector element.
fn starts_like_element(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let (name, rest) = s.split_at(end);
    let rest = rest.trim_start();
    (is_name(name) && rest.starts_with('=') && !rest.starts_with("==")).then_some(name)
}

fn looks_like_predicate(s: &str) -> bool {
    if s.starts_with('/') || s.contains(';') || is_dotted_name(s) {
        return false;
    }
    if is_name(s) && s != "X" {
        return false;
    }
    !matches!(starts_like_element(s), Some(name) if name != "X")
}

/// Whether `text` (already trimmed with [`value`]) fits field `index`.
pub fn fits(index: usize, s: &str) -> bool {
    match index {
        0 => is_name(s),
        1 | 3 | 4 => is_int(s),
        2 => looks_like_path(s),
        5 => s.is_empty() || is_dotted_name(s),
        6 => s.is_empty() || starts_like_element(s).is_some(),
        7 | 8 => s.is_empty() || looks_like_predicate(s),
        _ => false,
    }
}

/// Names fields by 1-based number: "field 4 (recovery type)", or a range
/// "fields 6–9 (resource variable … rearm predicate)".
pub fn describe_fields(indices: &[usize]) -> String {
    match indices {
        [] => "no field".to_string(),
        [i] => format!("field {} ({})", i + 1, FIELD_NAMES[*i]),
        [a, .., b] if indices.windows(2).all(|w| w[1] == w[0] + 1) && indices.len() > 2 => {
            format!(
                "one of fields {}–{} ({} … {})",
                a + 1,
                b + 1,
                FIELD_NAMES[*a],
                FIELD_NAMES[*b]
            )
        }
        _ => {
            let nums: Vec<String> = indices.iter().map(|i| (i + 1).to_string()).collect();
            let names: Vec<&str> = indices.iter().map(|i| FIELD_NAMES[*i]).collect();
            format!("field {} ({})", nums.join(" or "), names.join(" or "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_the_documented_fields() {
        assert!(fits(0, "TE_JOIN_NODE") && !fits(0, "0") && !fits(0, ""));
        assert!(fits(1, "0") && fits(1, "-3") && !fits(1, "/a.rp"));
        assert!(fits(2, "/usr/sbin/cluster/events/node_up.rp") && fits(2, "node_up.rp"));
        assert!(!fits(2, "TE_FAIL_NODE") && !fits(2, "2"));
        assert!(fits(5, "IBM.PSSP.aixos.FS.%totused") && fits(5, "") && !fits(5, "NodeNum=6"));
        assert!(fits(6, "NodeNum=*;ProgName=rwhod;UserName=root") && !fits(6, "X@0==0"));
        assert!(fits(7, "X@0==0&&X@1!=0") && fits(7, "X=0") && fits(7, "0"));
        assert!(
            !fits(7, "NodeNum=6") && !fits(7, "TE_FAIL_NODE") && !fits(8, "IBM.PSSP.Prog.xpcount")
        );
    }

    #[test]
    fn field_ranges_read_well() {
        assert_eq!(describe_fields(&[1]), "field 2 (state qualifier)");
        assert_eq!(
            describe_fields(&[3, 4]),
            "field 4 or 5 (recovery type or recovery level)"
        );
        assert_eq!(
            describe_fields(&[5, 6, 7, 8]),
            "one of fields 6–9 (resource variable … rearm predicate)"
        );
    }
}
