//! Instance vectors: `NodeNum=*;ProgName=rwhod;UserName=root`.

use pest::Parser;

use crate::ast::{Element, InstanceVector, Pattern};
use crate::error::{InstanceVectorError, InstanceVectorErrorKind};
use crate::parser::{rule_name, HacmpParser, Rule};
use crate::span::{Span, Spanned};

/// Parses the text of an instance-vector field whose span is `base`.
pub fn parse_instance_vector(
    text: &str,
    base: Span,
) -> Result<InstanceVector, InstanceVectorError> {
    let at = |s: usize, e: usize| base.sub(text, s, e);
    let pairs = HacmpParser::parse(Rule::instance_vector, text).map_err(|e| {
        let pos = match e.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((s, _)) => s,
        };
        let mut expected: Vec<&'static str> = match &e.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => {
                positives.iter().map(|r| rule_name(*r)).collect()
            }
            pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
        };
        expected.sort_unstable();
        expected.dedup();
        let end = text[pos..]
            .chars()
            .next()
            .map_or(pos, |c| pos + c.len_utf8());
        InstanceVectorError {
            span: at(pos, end),
            kind: InstanceVectorErrorKind::Malformed { expected },
        }
    })?;
    let mut elements: Vec<Element> = Vec::new();
    for pair in pairs.flatten().filter(|p| p.as_rule() == Rule::iv_element) {
        let mut inner = pair.into_inner();
        let (Some(name), Some(value)) = (inner.next(), inner.next()) else {
            continue;
        };
        let ns = name.as_span();
        let name = Spanned::new(name.as_str().to_string(), at(ns.start(), ns.end()));
        let vs = value.as_span();
        // Blanks before the next `;` are not part of the value.
        let raw = value.as_str().trim_end_matches([' ', '\t']);
        if raw.trim().is_empty() {
            return Err(InstanceVectorError {
                span: at(ns.start(), vs.end()),
                kind: InstanceVectorErrorKind::EmptyValue { name: name.node },
            });
        }
        if let Some(first) = elements.iter().find(|e| e.name.node == name.node) {
            return Err(InstanceVectorError {
                span: name.span,
                kind: InstanceVectorErrorKind::Duplicate {
                    name: name.node.clone(),
                    first: first.name.span,
                },
            });
        }
        let pattern = if raw == "*" {
            Pattern::Any
        } else {
            Pattern::Exact(raw.to_string())
        };
        elements.push(Element {
            name,
            value: Spanned::new(pattern, at(vs.start(), vs.start() + raw.len())),
        });
    }
    Ok(InstanceVector { elements })
}

impl InstanceVector {
    /// Whether a concrete instance (element name → value) is matched: every
    /// element given must match; elements left out match everything.
    pub fn matches<'a>(&self, mut lookup: impl FnMut(&str) -> Option<&'a str>) -> bool {
        self.elements.iter().all(|e| match &e.value.node {
            Pattern::Any => true,
            Pattern::Exact(v) => lookup(&e.name.node) == Some(v.as_str()),
        })
    }
}

#[cfg(test)]
mod blank_tests {
    use super::*;

    #[test]
    fn blanks_after_semicolons_are_allowed_and_not_part_of_values() {
        let iv = parse_instance_vector(
            "NodeNum=*; ProgName=rwhod ;  UserName=root",
            Span::default(),
        )
        .unwrap();
        let got: Vec<(String, Pattern)> = iv
            .elements
            .iter()
            .map(|e| (e.name.node.clone(), e.value.node.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("NodeNum".to_string(), Pattern::Any),
                ("ProgName".to_string(), Pattern::Exact("rwhod".into())),
                ("UserName".to_string(), Pattern::Exact("root".into()))
            ]
        );
        assert!(parse_instance_vector("NodeNum=1;;ProgName=x", Span::default()).is_err());
    }
}
