//! Docker Compose style variable interpolation, with one meaning everywhere.
//!
//! This module owns the parsing and rendering of compose interpolation
//! templates as defined by the compose specification
//! (<https://github.com/compose-spec/compose-spec/blob/main/spec.md#interpolation>):
//! `$VAR`, `${VAR}`, the `:-`, `-`, `:?`, `?`, `:+` and `+` modifiers, `$$`
//! as an escaped `$`, and nesting inside modifier arguments. Every part of the
//! crate that needs to understand `${...}` (compose files, `.env` files,
//! port discovery) goes through [`Template`] so that they all agree.
//!
//! Behaviour where the specification is loose:
//! - A `$` that is not followed by a name start, `{` or `$` is kept literally
//!   (`cost: 5$`, `$1`, `a $ b`), as compose does.
//! - A modifier argument ends at the first `}` that does not close a nested
//!   `${`; there is no escape for a literal `}` inside an argument.
//! - Modifier arguments are evaluated lazily: `${A:-${B:?missing}}` only fails
//!   when `A` is unset or empty.
//! - Nesting is limited to [`MAX_NESTING`] levels so that hostile input cannot
//!   exhaust the stack.

use std::fmt;

/// Deepest allowed nesting of `${` inside modifier arguments.
///
/// Real compose files nest two or three levels; the limit exists because
/// parsing, rendering and dropping a template are recursive.
pub const MAX_NESTING: usize = 32;

/// A parsed interpolation template: a sequence of literal text and variable
/// references.
///
/// Adjacent literal text is always merged into one [`Segment::Literal`] and
/// empty literals are never stored, so two templates that mean the same thing
/// compare equal (`$A` and `${A}` parse to the same value).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    segments: Vec<Segment>,
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text copied to the output as is (`$$` already unescaped to `$`).
    Literal(String),
    /// A `$NAME` or `${NAME...}` reference.
    Var(VarRef),
}

/// A reference to a variable, with its optional modifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// The variable name, `[A-Za-z_][A-Za-z0-9_]*`.
    pub name: String,
    /// What to do when the variable is unset or empty.
    pub modifier: Modifier,
}

/// The operator of a braced reference and its (nested) argument template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    /// `$VAR` or `${VAR}`: the value, or an empty string when unset.
    None,
    /// `${VAR:-default}`: `default` when unset or empty.
    DefaultIfUnsetOrEmpty(Template),
    /// `${VAR-default}`: `default` only when unset.
    DefaultIfUnset(Template),
    /// `${VAR:?message}`: error when unset or empty.
    ErrorIfUnsetOrEmpty(Template),
    /// `${VAR?message}`: error only when unset.
    ErrorIfUnset(Template),
    /// `${VAR:+replacement}`: `replacement` when set and non-empty, else empty.
    AltIfSetNonEmpty(Template),
    /// `${VAR+replacement}`: `replacement` when set (even empty), else empty.
    AltIfSet(Template),
}

/// Errors from parsing or rendering a template.
///
/// Offsets are byte offsets into the string given to [`Template::parse`],
/// including for errors inside nested arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpError {
    /// A `${` without its closing `}`; `offset` points at the `$`.
    #[error("unterminated `${{` starting at byte {offset}")]
    Unterminated {
        /// Byte offset of the `$` that opened the expression.
        offset: usize,
    },
    /// Something inside `${...}` that is neither a valid name nor a supported
    /// operator (`${}`, `${1A}`, `${A/x/y}`, `${A:x}`); `offset` points at
    /// the first offending byte.
    #[error("invalid variable name at byte {offset}")]
    InvalidName {
        /// Byte offset of the first byte that cannot be parsed.
        offset: usize,
    },
    /// A `:?` or `?` reference whose variable is missing.
    ///
    /// `message` is the rendered message of the template; when the template
    /// has no message (or it renders empty) it is `not set` for an unset
    /// variable and `set to an empty string` for an empty one.
    #[error("required variable {name} is missing a value: {message}")]
    Required {
        /// The variable that is missing.
        name: String,
        /// The text to show after the colon.
        message: String,
    },
    /// `${` nested deeper than [`MAX_NESTING`] levels; `offset` points at the
    /// `$` of the expression that is one level too deep.
    #[error("`${{` nested more than {max} levels deep at byte {offset}", max = MAX_NESTING)]
    TooDeep {
        /// Byte offset of the `$` that exceeded the limit.
        offset: usize,
    },
}

impl Template {
    /// Parses a string in compose interpolation syntax.
    pub fn parse(input: &str) -> Result<Template, InterpError> {
        let mut parser = Parser { src: input, pos: 0 };
        parser.sequence(None, 0)
    }

    /// The parsed segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Render with a lookup (returns None when the variable is unset).
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, InterpError> {
        let mut out = String::new();
        self.render_into(lookup, &mut out)?;
        Ok(out)
    }

    /// True when the template contains no variable at all (after `$$`
    /// unescaping it is a fixed string).
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|segment| matches!(segment, Segment::Literal(_)))
    }

    /// The fixed string this template stands for, when it is literal.
    pub fn literal_value(&self) -> Option<String> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Var(_) => return None,
            }
        }
        Some(out)
    }

    /// The top-level variable references, in order (not the nested ones).
    pub fn vars(&self) -> Vec<&VarRef> {
        self.segments
            .iter()
            .filter_map(|segment| match segment {
                Segment::Var(var) => Some(var),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// Every variable reference including those nested in modifier
    /// arguments, depth first in source order.
    pub fn all_vars(&self) -> Vec<&VarRef> {
        let mut out = Vec::new();
        self.collect_vars(&mut out);
        out
    }

    /// The template written back in canonical compose syntax (round-trips
    /// `parse`).
    ///
    /// References are always written braced (`${A}`) so that following text
    /// cannot extend the name, and every literal `$` is written as `$$`.
    pub fn to_source(&self) -> String {
        let mut out = String::new();
        self.write_source(&mut out);
        out
    }

    fn render_into(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        out: &mut String,
    ) -> Result<(), InterpError> {
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Var(var) => var.render_into(lookup, out)?,
            }
        }
        Ok(())
    }

    fn collect_vars<'a>(&'a self, out: &mut Vec<&'a VarRef>) {
        for segment in &self.segments {
            if let Segment::Var(var) = segment {
                out.push(var);
                if let Some(argument) = var.modifier.argument() {
                    argument.collect_vars(out);
                }
            }
        }
    }

    fn write_source(&self, out: &mut String) {
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => {
                    for ch in text.chars() {
                        if ch == '$' {
                            out.push_str("$$");
                        } else {
                            out.push(ch);
                        }
                    }
                }
                Segment::Var(var) => var.write_source(out),
            }
        }
    }
}

impl fmt::Display for Template {
    /// Writes [`Template::to_source`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_source())
    }
}

impl Modifier {
    /// The operator as written in compose syntax (`""`, `":-"`, `"-"`, ...).
    pub fn operator(&self) -> &'static str {
        match self {
            Modifier::None => "",
            Modifier::DefaultIfUnsetOrEmpty(_) => ":-",
            Modifier::DefaultIfUnset(_) => "-",
            Modifier::ErrorIfUnsetOrEmpty(_) => ":?",
            Modifier::ErrorIfUnset(_) => "?",
            Modifier::AltIfSetNonEmpty(_) => ":+",
            Modifier::AltIfSet(_) => "+",
        }
    }

    /// The argument template (default, message or replacement), if any.
    pub fn argument(&self) -> Option<&Template> {
        match self {
            Modifier::None => None,
            Modifier::DefaultIfUnsetOrEmpty(t)
            | Modifier::DefaultIfUnset(t)
            | Modifier::ErrorIfUnsetOrEmpty(t)
            | Modifier::ErrorIfUnset(t)
            | Modifier::AltIfSetNonEmpty(t)
            | Modifier::AltIfSet(t) => Some(t),
        }
    }
}

impl VarRef {
    /// The default value if this reference has a `:-` or `-` default whose
    /// template is literal; None otherwise.
    pub fn literal_default(&self) -> Option<String> {
        match &self.modifier {
            Modifier::DefaultIfUnsetOrEmpty(t) | Modifier::DefaultIfUnset(t) => t.literal_value(),
            _ => None,
        }
    }

    /// This reference in canonical compose syntax (always braced).
    pub fn to_source(&self) -> String {
        let mut out = String::new();
        self.write_source(&mut out);
        out
    }

    fn write_source(&self, out: &mut String) {
        out.push_str("${");
        out.push_str(&self.name);
        out.push_str(self.modifier.operator());
        if let Some(argument) = self.modifier.argument() {
            argument.write_source(out);
        }
        out.push('}');
    }

    fn render_into(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        out: &mut String,
    ) -> Result<(), InterpError> {
        let value = lookup(&self.name);
        let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
        match &self.modifier {
            Modifier::None => out.push_str(value.as_deref().unwrap_or("")),
            Modifier::DefaultIfUnsetOrEmpty(default) => match value {
                Some(v) if non_empty => out.push_str(&v),
                _ => default.render_into(lookup, out)?,
            },
            Modifier::DefaultIfUnset(default) => match value {
                Some(v) => out.push_str(&v),
                None => default.render_into(lookup, out)?,
            },
            Modifier::ErrorIfUnsetOrEmpty(message) => match value {
                Some(v) if non_empty => out.push_str(&v),
                other => return Err(self.required(message, other.is_none(), lookup)),
            },
            Modifier::ErrorIfUnset(message) => match value {
                Some(v) => out.push_str(&v),
                None => return Err(self.required(message, true, lookup)),
            },
            Modifier::AltIfSetNonEmpty(replacement) => {
                if non_empty {
                    replacement.render_into(lookup, out)?;
                }
            }
            Modifier::AltIfSet(replacement) => {
                if value.is_some() {
                    replacement.render_into(lookup, out)?;
                }
            }
        }
        Ok(())
    }

    /// Builds the `Required` error; a failure while rendering the message
    /// itself wins because it is the more specific problem.
    fn required(
        &self,
        message: &Template,
        unset: bool,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> InterpError {
        let text = match message.render(lookup) {
            Ok(text) if text.is_empty() && unset => "not set".to_owned(),
            Ok(text) if text.is_empty() => "set to an empty string".to_owned(),
            Ok(text) => text,
            Err(err) => return err,
        };
        InterpError::Required {
            name: self.name.clone(),
            message: text,
        }
    }
}

/// Convenience: parse + render.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpError> {
    Template::parse(input)?.render(lookup)
}

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

fn is_name_continue(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Accumulates segments while merging adjacent literal text.
#[derive(Default)]
struct Builder {
    segments: Vec<Segment>,
    pending: String,
}

impl Builder {
    fn push_str(&mut self, text: &str) {
        self.pending.push_str(text);
    }

    fn push_var(&mut self, var: VarRef) {
        self.flush();
        self.segments.push(Segment::Var(var));
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.segments
                .push(Segment::Literal(std::mem::take(&mut self.pending)));
        }
    }

    fn finish(mut self) -> Template {
        self.flush();
        Template {
            segments: self.segments,
        }
    }
}

/// Recursive-descent parser over the whole input so that error offsets are
/// absolute even inside nested arguments.
struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn byte_at(&self, pos: usize) -> Option<u8> {
        self.src.as_bytes().get(pos).copied()
    }

    /// Parses segments until the end of input, or — when `enclosing` holds
    /// the offset of the `${` whose argument this is — until the unmatched
    /// `}` that closes it (which is consumed).
    fn sequence(
        &mut self,
        enclosing: Option<usize>,
        depth: usize,
    ) -> Result<Template, InterpError> {
        let mut builder = Builder::default();
        loop {
            let Some(byte) = self.byte_at(self.pos) else {
                return match enclosing {
                    Some(offset) => Err(InterpError::Unterminated { offset }),
                    None => Ok(builder.finish()),
                };
            };
            match byte {
                b'}' if enclosing.is_some() => {
                    self.pos += 1;
                    return Ok(builder.finish());
                }
                b'$' => self.dollar(&mut builder, depth)?,
                _ => {
                    // Copy the run up to the next byte that means something;
                    // both stop bytes are ASCII so the split is on a char
                    // boundary.
                    let rest = self.src.get(self.pos..).unwrap_or("");
                    let len = rest
                        .find(|c| c == '$' || (c == '}' && enclosing.is_some()))
                        .unwrap_or(rest.len());
                    builder.push_str(rest.get(..len).unwrap_or(rest));
                    self.pos += len.max(1);
                }
            }
        }
    }

    /// Handles the `$` at `self.pos`.
    fn dollar(&mut self, builder: &mut Builder, depth: usize) -> Result<(), InterpError> {
        let start = self.pos;
        match self.byte_at(start + 1) {
            Some(b'$') => {
                builder.push_str("$");
                self.pos = start + 2;
            }
            Some(b'{') => {
                let var = self.braced(start, depth)?;
                builder.push_var(var);
            }
            Some(byte) if is_name_start(byte) => {
                self.pos = start + 1;
                let name = self.name();
                builder.push_var(VarRef {
                    name,
                    modifier: Modifier::None,
                });
            }
            // Compose keeps a `$` that cannot start a reference as text.
            _ => {
                builder.push_str("$");
                self.pos = start + 1;
            }
        }
        Ok(())
    }

    /// Reads `[A-Za-z0-9_]*` at the cursor; the caller checked the first byte.
    fn name(&mut self) -> String {
        let start = self.pos;
        while self.byte_at(self.pos).is_some_and(is_name_continue) {
            self.pos += 1;
        }
        self.src.get(start..self.pos).unwrap_or("").to_owned()
    }

    /// Parses `${...}` whose `$` is at `start`.
    fn braced(&mut self, start: usize, depth: usize) -> Result<VarRef, InterpError> {
        if depth >= MAX_NESTING {
            return Err(InterpError::TooDeep { offset: start });
        }
        self.pos = start + 2;
        match self.byte_at(self.pos) {
            None => return Err(InterpError::Unterminated { offset: start }),
            Some(byte) if is_name_start(byte) => {}
            Some(_) => return Err(InterpError::InvalidName { offset: self.pos }),
        }
        let name = self.name();
        let colon = self.byte_at(self.pos) == Some(b':');
        if colon {
            self.pos += 1;
        }
        let Some(op) = self.byte_at(self.pos) else {
            return Err(InterpError::Unterminated { offset: start });
        };
        if op == b'}' && !colon {
            self.pos += 1;
            return Ok(VarRef {
                name,
                modifier: Modifier::None,
            });
        }
        let make: fn(Template) -> Modifier = match (colon, op) {
            (true, b'-') => Modifier::DefaultIfUnsetOrEmpty,
            (false, b'-') => Modifier::DefaultIfUnset,
            (true, b'?') => Modifier::ErrorIfUnsetOrEmpty,
            (false, b'?') => Modifier::ErrorIfUnset,
            (true, b'+') => Modifier::AltIfSetNonEmpty,
            (false, b'+') => Modifier::AltIfSet,
            _ => return Err(InterpError::InvalidName { offset: self.pos }),
        };
        self.pos += 1;
        let argument = self.sequence(Some(start), depth + 1)?;
        Ok(VarRef {
            name,
            modifier: make(argument),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn render(input: &str, pairs: &[(&str, &str)]) -> Result<String, InterpError> {
        let vars = env(pairs);
        interpolate(input, &|name| vars.get(name).cloned())
    }

    fn ok(input: &str, pairs: &[(&str, &str)]) -> String {
        match render(input, pairs) {
            Ok(out) => out,
            Err(err) => panic!("{input:?} failed: {err}"),
        }
    }

    fn lit(text: &str) -> Template {
        Template {
            segments: vec![Segment::Literal(text.to_owned())],
        }
    }

    // --- plain substitution -------------------------------------------------

    #[test]
    fn braced_and_unbraced_substitution() {
        assert_eq!(ok("webapp:${TAG}", &[("TAG", "v1.5")]), "webapp:v1.5");
        assert_eq!(ok("webapp:$TAG", &[("TAG", "v1.5")]), "webapp:v1.5");
        assert_eq!(
            ok(
                "postgres:${POSTGRES_VERSION}",
                &[("POSTGRES_VERSION", "9.3")]
            ),
            "postgres:9.3"
        );
    }

    #[test]
    fn unset_variable_becomes_empty_string() {
        assert_eq!(ok("postgres:${POSTGRES_VERSION}", &[]), "postgres:");
        assert_eq!(ok("postgres:$POSTGRES_VERSION", &[]), "postgres:");
    }

    #[test]
    fn unbraced_name_is_greedy_and_stops_at_non_name_bytes() {
        let vars = [("FOO", "x"), ("FOObar", "long")];
        assert_eq!(ok("$FOO.bar", &vars), "x.bar");
        assert_eq!(ok("$FOO-bar", &vars), "x-bar");
        assert_eq!(ok("$FOO/bar", &vars), "x/bar");
        assert_eq!(ok("$FOObar", &vars), "long");
        assert_eq!(ok("${FOO}bar", &vars), "xbar");
        assert_eq!(ok("$FOO_1", &[("FOO_1", "y")]), "y");
    }

    #[test]
    fn lowercase_and_underscore_names() {
        assert_eq!(ok("${_x1}", &[("_x1", "a")]), "a");
        assert_eq!(ok("$lower", &[("lower", "b")]), "b");
    }

    // --- `$$` and lone `$` --------------------------------------------------

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        assert_eq!(
            ok(
                "$$VAR_NOT_INTERPOLATED_BY_COMPOSE",
                &[("VAR_NOT_INTERPOLATED_BY_COMPOSE", "oops")]
            ),
            "$VAR_NOT_INTERPOLATED_BY_COMPOSE"
        );
        assert_eq!(ok("$${A}", &[("A", "x")]), "${A}");
        assert_eq!(ok("a$$$$b", &[]), "a$$b");
        assert_eq!(ok("$$$A", &[("A", "x")]), "$x");
    }

    #[test]
    fn lone_dollar_is_kept() {
        assert_eq!(ok("cost: 5$", &[]), "cost: 5$");
        assert_eq!(ok("a $ b", &[]), "a $ b");
        assert_eq!(ok("$1", &[]), "$1");
        assert_eq!(ok("$-x", &[]), "$-x");
        assert_eq!(ok("$}", &[]), "$}");
        assert_eq!(ok("$é", &[]), "$é");
        assert_eq!(ok("${A:-$}", &[]), "$");
        assert!(Template::parse("5$").is_ok_and(|t| t.is_literal()));
    }

    #[test]
    fn top_level_braces_are_text() {
        assert_eq!(ok("{a}}", &[]), "{a}}");
        assert_eq!(ok("${A:-{x}}", &[]), "{x}");
    }

    // --- each operator, unset vs empty vs set --------------------------------

    #[test]
    fn default_if_unset_or_empty() {
        assert_eq!(ok("${V:-default}", &[]), "default");
        assert_eq!(ok("${V:-default}", &[("V", "")]), "default");
        assert_eq!(ok("${V:-default}", &[("V", "set")]), "set");
        assert_eq!(ok("${V:-}", &[]), "");
    }

    #[test]
    fn default_if_unset() {
        assert_eq!(ok("${V-default}", &[]), "default");
        assert_eq!(ok("${V-default}", &[("V", "")]), "");
        assert_eq!(ok("${V-default}", &[("V", "set")]), "set");
    }

    #[test]
    fn error_if_unset_or_empty() {
        assert_eq!(
            render("${V:?err}", &[]),
            Err(InterpError::Required {
                name: "V".into(),
                message: "err".into()
            })
        );
        assert_eq!(
            render("${V:?err}", &[("V", "")]),
            Err(InterpError::Required {
                name: "V".into(),
                message: "err".into()
            })
        );
        assert_eq!(ok("${V:?err}", &[("V", "set")]), "set");
    }

    #[test]
    fn error_if_unset() {
        assert_eq!(
            render("${V?err}", &[]),
            Err(InterpError::Required {
                name: "V".into(),
                message: "err".into()
            })
        );
        assert_eq!(ok("${V?err}", &[("V", "")]), "");
        assert_eq!(ok("${V?err}", &[("V", "set")]), "set");
    }

    #[test]
    fn required_error_text_matches_compose() {
        let err = render("${DB_PASSWORD:?set it in .env}", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "required variable DB_PASSWORD is missing a value: set it in .env"
        );
    }

    #[test]
    fn required_without_message_explains_why() {
        assert_eq!(
            render("${V?}", &[]).unwrap_err().to_string(),
            "required variable V is missing a value: not set"
        );
        assert_eq!(
            render("${V:?}", &[]).unwrap_err().to_string(),
            "required variable V is missing a value: not set"
        );
        assert_eq!(
            render("${V:?}", &[("V", "")]).unwrap_err().to_string(),
            "required variable V is missing a value: set to an empty string"
        );
    }

    #[test]
    fn alternative_if_set_non_empty() {
        assert_eq!(ok("${V:+replacement}", &[]), "");
        assert_eq!(ok("${V:+replacement}", &[("V", "")]), "");
        assert_eq!(ok("${V:+replacement}", &[("V", "set")]), "replacement");
    }

    #[test]
    fn alternative_if_set() {
        assert_eq!(ok("${V+replacement}", &[]), "");
        assert_eq!(ok("${V+replacement}", &[("V", "")]), "replacement");
        assert_eq!(ok("${V+replacement}", &[("V", "set")]), "replacement");
    }

    #[test]
    fn arguments_may_contain_operator_characters() {
        assert_eq!(ok("${V:-a:-b?c+d}", &[]), "a:-b?c+d");
        assert_eq!(ok("${V:-http://x:80/}", &[]), "http://x:80/");
    }

    // --- nesting ---------------------------------------------------------------

    #[test]
    fn nested_default_reference() {
        assert_eq!(ok("${VARIABLE:-${FOO}}", &[("FOO", "foo")]), "foo");
        assert_eq!(
            ok("${VARIABLE:-${FOO}}", &[("VARIABLE", "v"), ("FOO", "foo")]),
            "v"
        );
        assert_eq!(ok("${VARIABLE:-${FOO}}", &[]), "");
    }

    #[test]
    fn nested_required_message() {
        assert_eq!(
            render("${VARIABLE?$FOO}", &[("FOO", "please set VARIABLE")]),
            Err(InterpError::Required {
                name: "VARIABLE".into(),
                message: "please set VARIABLE".into()
            })
        );
        assert_eq!(ok("${VARIABLE?$FOO}", &[("VARIABLE", "v")]), "v");
    }

    #[test]
    fn nested_default_with_default() {
        assert_eq!(ok("${VARIABLE:-${FOO:-default}}", &[]), "default");
        assert_eq!(ok("${VARIABLE:-${FOO:-default}}", &[("FOO", "foo")]), "foo");
        assert_eq!(
            ok("${VARIABLE:-${FOO:-default}}", &[("VARIABLE", "v")]),
            "v"
        );
        assert_eq!(ok("${A:-${B:-${C:-deep}}}-tail", &[]), "deep-tail");
    }

    #[test]
    fn nested_arguments_are_evaluated_lazily() {
        assert_eq!(ok("${A:-${B:?boom}}", &[("A", "a")]), "a");
        assert!(matches!(
            render("${A:-${B:?boom}}", &[]),
            Err(InterpError::Required { name, .. }) if name == "B"
        ));
        assert_eq!(ok("${A:+${B:?boom}}", &[]), "");
    }

    // --- parse errors ------------------------------------------------------------

    #[test]
    fn unterminated_reports_the_opening_offset() {
        for (input, offset) in [
            ("${", 0),
            ("${A", 0),
            ("${A:", 0),
            ("${A:-x", 0),
            ("ab${A:-${B}", 2),
            ("${A:-${B", 5),
            ("é${A", 2),
        ] {
            assert_eq!(
                Template::parse(input),
                Err(InterpError::Unterminated { offset }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn invalid_name_reports_the_offending_byte() {
        for (input, offset) in [
            ("${}", 2),
            ("${1A}", 2),
            ("${-A}", 2),
            ("${A B}", 3),
            ("${A/x/y}", 3),
            ("${A:x}", 4),
            ("${A:}", 4),
            ("${A:-${}}", 7),
            ("${é}", 2),
        ] {
            assert_eq!(
                Template::parse(input),
                Err(InterpError::InvalidName { offset }),
                "{input:?}"
            );
        }
        assert_eq!(
            Template::parse("${1A}").unwrap_err().to_string(),
            "invalid variable name at byte 2"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let ok_depth = "${A:-".repeat(MAX_NESTING) + &"}".repeat(MAX_NESTING);
        assert!(Template::parse(&ok_depth).is_ok());
        let too_deep = "${A:-".repeat(MAX_NESTING + 1) + &"}".repeat(MAX_NESTING + 1);
        assert_eq!(
            Template::parse(&too_deep),
            Err(InterpError::TooDeep {
                offset: 5 * MAX_NESTING
            })
        );
        // Hostile input far beyond the limit must not overflow the stack.
        assert!(Template::parse(&"${A:-".repeat(200_000)).is_err());
    }

    // --- structure, vars(), literal_default() -----------------------------------

    #[test]
    fn dollar_forms_parse_to_the_same_template() {
        assert_eq!(Template::parse("$A"), Template::parse("${A}"));
        assert_eq!(
            Template::parse("a$$b").map(|t| t.segments().to_vec()),
            Ok(vec![Segment::Literal("a$b".into())])
        );
        assert_eq!(Template::parse("").map(|t| t.segments().len()), Ok(0));
    }

    #[test]
    fn vars_and_literal_default_on_port_examples() {
        let t = Template::parse("${FRONTEND_PORT:-5173}").unwrap();
        assert!(!t.is_literal());
        let vars = t.vars();
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].name, "FRONTEND_PORT");
        assert_eq!(
            vars[0].modifier,
            Modifier::DefaultIfUnsetOrEmpty(lit("5173"))
        );
        assert_eq!(vars[0].literal_default().as_deref(), Some("5173"));

        let t = Template::parse("127.0.0.1:${P:-80}").unwrap();
        assert!(!t.is_literal());
        assert_eq!(t.segments().len(), 2);
        assert_eq!(t.segments()[0], Segment::Literal("127.0.0.1:".into()));
        let vars = t.vars();
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].name, "P");
        assert_eq!(vars[0].literal_default().as_deref(), Some("80"));

        let t = Template::parse("8080").unwrap();
        assert!(t.is_literal());
        assert!(t.vars().is_empty());
        assert_eq!(t.literal_value().as_deref(), Some("8080"));
    }

    #[test]
    fn literal_default_only_for_literal_defaults() {
        let first = |s: &str| Template::parse(s).unwrap().vars()[0].clone();
        assert_eq!(first("${P-80}").literal_default().as_deref(), Some("80"));
        assert_eq!(first("${P:-}").literal_default().as_deref(), Some(""));
        assert_eq!(first("${P:-$$5}").literal_default().as_deref(), Some("$5"));
        assert_eq!(first("${P:-${Q}}").literal_default(), None);
        assert_eq!(first("${P:?80}").literal_default(), None);
        assert_eq!(first("${P:+80}").literal_default(), None);
        assert_eq!(first("${P}").literal_default(), None);
    }

    #[test]
    fn vars_is_top_level_only_and_all_vars_is_deep() {
        let t = Template::parse("$A-${B:-${C}}-${D?$E}").unwrap();
        let top: Vec<&str> = t.vars().iter().map(|v| v.name.as_str()).collect();
        assert_eq!(top, ["A", "B", "D"]);
        let all: Vec<&str> = t.all_vars().iter().map(|v| v.name.as_str()).collect();
        assert_eq!(all, ["A", "B", "C", "D", "E"]);
    }

    // --- to_source ------------------------------------------------------------------

    #[test]
    fn to_source_is_canonical() {
        for (input, canonical) in [
            ("$A", "${A}"),
            ("${A}", "${A}"),
            ("$A.b", "${A}.b"),
            ("a$$b", "a$$b"),
            ("a $ b", "a $$ b"),
            ("${A:-${B:-x}}", "${A:-${B:-x}}"),
            ("${A?$B}", "${A?${B}}"),
            (
                "${A:+on}${A+on}${A-d}${A:?m}",
                "${A:+on}${A+on}${A-d}${A:?m}",
            ),
            ("${A:-}", "${A:-}"),
            ("plain }{", "plain }{"),
        ] {
            let t = Template::parse(input).unwrap();
            assert_eq!(t.to_source(), canonical, "{input:?}");
            assert_eq!(t.to_string(), canonical);
        }
    }

    #[test]
    fn to_source_round_trips_parse() {
        for input in [
            "",
            "8080",
            "${FRONTEND_PORT:-5173}",
            "127.0.0.1:${P:-80}:80",
            "$$VAR_NOT_INTERPOLATED_BY_COMPOSE",
            "${VARIABLE:-${FOO:-default}}",
            "${VARIABLE?$FOO}",
            "x$ $1 $$ $}{ ${A:-$}",
            "${A:-{b}",
            "é${U:-ü}",
        ] {
            let t = Template::parse(input).unwrap();
            assert_eq!(Template::parse(&t.to_source()), Ok(t.clone()), "{input:?}");
            // Rendering the canonical form means the same thing too.
            let lookup = |name: &str| (name == "FOO").then(|| "f".to_owned());
            assert_eq!(
                interpolate(&t.to_source(), &lookup),
                t.render(&lookup),
                "{input:?}"
            );
        }
    }

    /// Exhaustive small inputs: parsing never panics, and every accepted
    /// template round-trips through `to_source`.
    #[test]
    fn exhaustive_short_inputs_never_panic_and_round_trip() {
        const ALPHABET: [&str; 10] = ["$", "{", "}", ":", "-", "?", "+", "A", "1", "é"];
        let mut inputs = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for piece in ALPHABET {
                    next.push(format!("{prefix}{piece}"));
                }
            }
            inputs.extend(next.iter().cloned());
            frontier = next;
        }
        let lookup = |name: &str| (name == "A").then(String::new);
        for input in &inputs {
            if let Ok(t) = Template::parse(input) {
                assert_eq!(
                    Template::parse(&t.to_source()).as_ref(),
                    Ok(&t),
                    "{input:?}"
                );
                let _ = t.render(&lookup);
            }
        }
    }
}
