//! The pest parser and the user-facing names of its rules.

use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "hacmp.pest"]
pub struct HacmpParser;

/// What a grammar rule is called in a diagnostic. No `_` arm: a new rule does
/// not build until it has a name a user can read.
pub fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of input",
        Rule::rules_file => "a rules file",
        Rule::comment => "a comment",
        Rule::field => "a field",
        Rule::instance_vector => "an instance vector",
        Rule::iv_element => "`name=value`",
        Rule::iv_name => "an element name",
        Rule::iv_value => "an element value",
        Rule::rp_file => "a recovery program",
        Rule::rp_statement => "a statement",
        Rule::rp_quoted => "a quoted command",
        Rule::rp_inner => "a command",
        Rule::rp_unclosed => "a quoted command",
        Rule::rp_word => "a word",
        Rule::predicate => "a predicate",
        Rule::expr => "an expression",
        Rule::op_not => "`!`",
        Rule::op_neg => "`-`",
        Rule::op_bnot => "`~`",
        Rule::op_or => "`||`",
        Rule::op_and => "`&&`",
        Rule::op_bor => "`|`",
        Rule::op_bxor => "`^`",
        Rule::op_band => "`&`",
        Rule::op_eq => "`==`",
        Rule::op_ne => "`!=`",
        Rule::op_le => "`<=`",
        Rule::op_ge => "`>=`",
        Rule::op_shl => "`<<`",
        Rule::op_shr => "`>>`",
        Rule::op_lt => "`<`",
        Rule::op_gt => "`>`",
        Rule::op_add => "`+`",
        Rule::op_sub => "`-`",
        Rule::op_mul => "`*`",
        Rule::op_div => "`/`",
        Rule::op_rem => "`%`",
        Rule::op_assign => "`=`",
        Rule::field_ref => "`X@n` or `X@P`",
        Rule::previous => "`P`",
        Rule::field_index => "a field number",
        Rule::value => "`X`",
        Rule::float => "a number",
        Rule::int => "a number",
        Rule::string => "a string",
        Rule::string_inner => "string characters",
        Rule::name => "a name",
        Rule::WHITESPACE => "a blank",
        Rule::rules_line => "a line",
        Rule::rp_line => "a line",
        Rule::rp_token => "a word or quoted command",
        Rule::rp_blank | Rule::iv_blank => "a blank",
        Rule::rp_word_char => "a word",
        Rule::prefix => "`!`, `-` or `~`",
        Rule::infix => "an operator",
        Rule::primary => "an operand",
        Rule::exponent => "an exponent",
        Rule::ident_char => "a letter or digit",
    }
}
