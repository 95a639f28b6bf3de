//! The compact notation of observation series in rule tests:
//! `0 0 3 3 0`, `95x4` (repeat), `0..5` and `100..0/10` (ramps),
//! `"READY"x3` (strings), `0;1;` (all fields of a structured value).
//!
//! For process-count variables a single number is the current count: the
//! previous count is the one observed before (the first time, the same), and
//! the pid list is empty, as the monitor reports them.

use hacmp_compiler::predicate::Scalar;
use hacmp_stdlib::{ScalarType, ValueType};

fn scalar(t: ScalarType, s: &str) -> Result<Scalar, String> {
    let s = s.trim();
    match t {
        ScalarType::Int => s
            .parse::<i64>()
            .map(Scalar::Int)
            .map_err(|_| format!("`{s}` is not an integer")),
        ScalarType::Float => s
            .parse::<f64>()
            .map(Scalar::Float)
            .map_err(|_| format!("`{s}` is not a number")),
        ScalarType::String => Ok(Scalar::Str(s.trim_matches('"').to_string())),
    }
}

/// Splits on blanks, keeping double-quoted strings whole.
fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("a double quote is not closed".into());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// The most steps one series holds, whatever its notation.
pub const MAX_STEPS: usize = 100_000;

fn too_many(tok: &str) -> String {
    format!("`{tok}`: a series holds at most {MAX_STEPS} steps")
}

/// Expands a token into one or more raw steps; `left` is how many steps the
/// series may still take.
fn expand(tok: &str, left: usize) -> Result<Vec<String>, String> {
    // `VxN`, where V is a number or a quoted string (`box1` is a string,
    // not `bo` once).
    if let Some((v, n)) = tok.rsplit_once('x') {
        let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
        if !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (quoted || v.parse::<f64>().is_ok_and(f64::is_finite))
        {
            let n: usize = n.parse().map_err(|_| too_many(tok))?;
            if n > left {
                return Err(too_many(tok));
            }
            return Ok(vec![v.to_string(); n]);
        }
    }
    // `A..B` or `A..B/S`.
    if let Some((a, rest)) = tok.split_once("..") {
        if !a.starts_with('"') {
            let (b, step) = match rest.split_once('/') {
                Some((b, s)) => (b, Some(s)),
                None => (rest, None),
            };
            let (a, b): (f64, f64) = (
                a.parse().map_err(|_| format!("`{tok}`: bad ramp start"))?,
                b.parse().map_err(|_| format!("`{tok}`: bad ramp end"))?,
            );
            let step: f64 = match step {
                Some(s) => s.parse().map_err(|_| format!("`{tok}`: bad ramp step"))?,
                None => 1.0,
            };
            if !a.is_finite() || !b.is_finite() {
                return Err(format!("`{tok}`: a ramp goes between finite numbers"));
            }
            if step <= 0.0 || !step.is_finite() {
                return Err(format!("`{tok}`: the step must be positive"));
            }
            // Counted in floating point first: a tiny step or a huge span
            // must not wrap around.
            let span = ((b - a).abs() / step).floor();
            if !span.is_finite() || span >= left as f64 {
                return Err(too_many(tok));
            }
            let n = span as usize + 1;
            let dir = if b >= a { 1.0 } else { -1.0 };
            return Ok((0..n)
                .map(|k| format_num(a + dir * step * k as f64))
                .collect());
        }
    }
    Ok(vec![tok.to_string()])
}

fn format_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Whether a structured type is laid out like a process count.
fn is_process_count(t: &ValueType) -> bool {
    matches!(t, ValueType::Sbs(f) if f.as_slice() == [ScalarType::Int, ScalarType::Int, ScalarType::String])
}

/// Parses a series for a variable of type `t` into observation records.
pub fn parse(series: &str, t: &ValueType) -> Result<Vec<Vec<Scalar>>, String> {
    let mut steps = Vec::new();
    for tok in tokens(series)? {
        let more = expand(&tok, MAX_STEPS - steps.len())?;
        steps.extend(more);
    }
    let mut out: Vec<Vec<Scalar>> = Vec::with_capacity(steps.len());
    for (i, raw) in steps.iter().enumerate() {
        let at = |e: String| format!("step {}: {e}", i + 1);
        let rec = match t {
            ValueType::Scalar(s) => vec![scalar(*s, raw).map_err(at)?],
            ValueType::Sbs(fields) if raw.contains(';') || fields.len() == 1 => {
                let parts: Vec<&str> = if fields.len() == 1 {
                    vec![raw.as_str()]
                } else {
                    raw.split(';').collect()
                };
                if parts.len() != fields.len() {
                    return Err(at(format!(
                        "`{raw}` has {} fields, the variable has {}",
                        parts.len(),
                        fields.len()
                    )));
                }
                fields
                    .iter()
                    .zip(parts)
                    .map(|(f, p)| scalar(*f, p))
                    .collect::<Result<_, _>>()
                    .map_err(at)?
            }
            ValueType::Sbs(_) if is_process_count(t) => {
                let cur = match scalar(ScalarType::Int, raw).map_err(at)? {
                    Scalar::Int(v) => v,
                    _ => 0,
                };
                let prev = match out.last().map(|r| &r[0]) {
                    Some(Scalar::Int(p)) => *p,
                    _ => cur,
                };
                vec![
                    Scalar::Int(cur),
                    Scalar::Int(prev),
                    Scalar::Str(String::new()),
                ]
            }
            ValueType::Sbs(fields) => {
                return Err(at(format!(
                    "give all {} fields separated by `;` (e.g. `a;b`)",
                    fields.len()
                )));
            }
        };
        out.push(rec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cap_is_on_the_whole_series_and_ramps_never_wrap() {
        let t = ValueType::Scalar(ScalarType::Int);
        let twice = "95x60000 95x60000";
        assert!(parse(twice, &t)
            .unwrap_err()
            .contains("at most 100000 steps"));
        assert_eq!(parse("95x50000 95x50000", &t).unwrap().len(), 100_000);
        for bad in [
            "0..1/1e-300",
            "0..1e300",
            "inf..1",
            "0..inf",
            "NaN..1",
            "95x99999999999999999999",
        ] {
            assert!(parse(bad, &t).is_err(), "{bad}");
        }
    }

    use super::*;

    fn ints(s: &str) -> Vec<i64> {
        parse(s, &ValueType::Scalar(ScalarType::Int))
            .unwrap()
            .into_iter()
            .map(|r| match r[0] {
                Scalar::Int(v) => v,
                _ => panic!(),
            })
            .collect()
    }

    #[test]
    fn repeats_and_ramps() {
        assert_eq!(ints("0 0 3 3 0"), [0, 0, 3, 3, 0]);
        assert_eq!(ints("95x4 1"), [95, 95, 95, 95, 1]);
        assert_eq!(ints("0..3 10..0/5"), [0, 1, 2, 3, 10, 5, 0]);
        assert!(parse("95x", &ValueType::Scalar(ScalarType::Int)).is_err());
        assert!(parse("1..5/0", &ValueType::Scalar(ScalarType::Int)).is_err());
        assert!(parse("abc", &ValueType::Scalar(ScalarType::Int))
            .unwrap_err()
            .contains("step 1"));
    }

    #[test]
    fn process_counts_carry_their_previous_count() {
        let t = ValueType::Sbs(vec![ScalarType::Int, ScalarType::Int, ScalarType::String]);
        let r = parse("1 0 0 2", &t).unwrap();
        let prev: Vec<Scalar> = r.iter().map(|x| x[1].clone()).collect();
        assert_eq!(
            prev,
            [
                Scalar::Int(1),
                Scalar::Int(1),
                Scalar::Int(0),
                Scalar::Int(0)
            ]
        );
        let r = parse("0;5;12,13", &t).unwrap();
        assert_eq!(
            r[0],
            [Scalar::Int(0), Scalar::Int(5), Scalar::Str("12,13".into())]
        );
    }

    #[test]
    fn only_numbers_and_quoted_strings_repeat() {
        let t = ValueType::Sbs(vec![ScalarType::String]);
        let r = parse("box1 ax2 0x3", &ValueType::Scalar(ScalarType::String)).unwrap();
        let v: Vec<Scalar> = r.into_iter().map(|x| x[0].clone()).collect();
        assert_eq!(
            v,
            [
                Scalar::Str("box1".into()),
                Scalar::Str("ax2".into()),
                Scalar::Str("0".into()),
                Scalar::Str("0".into()),
                Scalar::Str("0".into())
            ]
        );
        assert_eq!(parse("\"box\"x2", &t).unwrap().len(), 2);
        assert_eq!(
            parse("95x4", &ValueType::Scalar(ScalarType::Int))
                .unwrap()
                .len(),
            4
        );
    }

    #[test]
    fn strings_and_quoted_repeats() {
        let t = ValueType::Sbs(vec![ScalarType::String]);
        let r = parse("\"READY\"x2 \"NOT READY\" DOWN", &t).unwrap();
        let v: Vec<Scalar> = r.into_iter().map(|x| x[0].clone()).collect();
        assert_eq!(
            v,
            [
                Scalar::Str("READY".into()),
                Scalar::Str("READY".into()),
                Scalar::Str("NOT READY".into()),
                Scalar::Str("DOWN".into())
            ]
        );
    }
}
