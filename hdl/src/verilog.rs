//! Verilog emission for rust-hdl blocks with a chosen top-module name.
//!
//! rust-hdl's `generate_verilog` always names the top module `top` (and
//! every sub-module `top$<path>`). [`emit_verilog`] runs the same checks and
//! code generator but roots the hierarchy at the given name, so the top
//! module is e.g. `actcomp_packer` and its sub-modules
//! `actcomp_packer$lanes$0`; several units can then live in one design.
//! Output is deterministic: rust-hdl keeps modules in a `BTreeMap` and no
//! timestamps or paths are written (guarded by a test).

use rust_hdl::prelude::*;

/// Errors from [`emit_verilog`].
#[derive(Debug)]
pub enum EmitError {
    /// The module name is not a plain Verilog identifier.
    BadName(String),
    /// rust-hdl's structural checks (connectivity, latches, loops) failed.
    Check(String),
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::BadName(n) => write!(f, "`{n}` is not a valid Verilog module name ([A-Za-z_][A-Za-z0-9_]*)"),
            EmitError::Check(e) => write!(f, "rust-hdl check failed: {e}"),
        }
    }
}

impl std::error::Error for EmitError {}

/// True if `name` is a simple Verilog identifier (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_verilog_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Emits Verilog for `uut` with the top module named `top_name`.
///
/// Calls `connect_all()` and rust-hdl's `check_all()` first (so a block
/// straight from `new()` can be passed). Same block, same name: byte-identical text.
pub fn emit_verilog<B: Block>(uut: &mut B, top_name: &str) -> Result<String, EmitError> {
    if !is_verilog_identifier(top_name) {
        return Err(EmitError::BadName(top_name.to_string()));
    }
    uut.connect_all();
    check_all(uut).map_err(|e| EmitError::Check(format!("{e:?}")))?;
    let mut defines = ModuleDefines::default();
    uut.accept(top_name, &mut defines);
    let mut text = defines.defines();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Names of the modules defined in `verilog` (`module <name>(`), in order.
pub fn module_names(verilog: &str) -> Vec<String> {
    verilog
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("module "))
        .map(|rest| rest.split(|c: char| c == '(' || c.is_whitespace()).next().unwrap_or("").to_string())
        .collect()
}

/// Verilog keywords and operators-as-words that may appear in rust-hdl output.
const KEYWORDS: &[&str] = &[
    "module", "endmodule", "input", "output", "inout", "wire", "reg", "localparam", "parameter",
    "always", "initial", "begin", "end", "if", "else", "case", "casez", "endcase", "default",
    "posedge", "negedge", "assign", "integer", "for", "signed", "unsigned", "or", "and", "not",
];

/// System functions rust-hdl legitimately emits.
const SYSTEM_OK: &[&str] = &["$signed", "$unsigned", "$clog2"];

/// Scans emitted Verilog for signs of the rust-hdl 0.46 pitfalls and returns
/// one message per problem (empty = clean):
///
/// * an identifier used in a module body that is not declared in that
///   module (port, `wire`, `reg`, `localparam`, `integer`) — this is how
///   const-generic arithmetic emitted verbatim shows up (`wide[(W - 32'h4)+:(4)]`);
/// * a system name other than `$signed`/`$unsigned`/`$clog2` (e.g. `$index`
///   left over from dynamic indexing);
/// * an unsubstituted array index (`name[i]` with a loop variable) or a
///   leftover Rust path (`::`, `self.`).
pub fn check_emitted(verilog: &str) -> Vec<String> {
    let modules: Vec<String> = module_names(verilog);
    let mut problems = Vec::new();
    let mut current: Option<String> = None;
    let mut declared: std::collections::BTreeSet<String> = Default::default();
    // memories (`reg[W:0] mem[D:0];`, as rust-hdl's RAM/ROM widgets declare
    // them): indexing these by a signal is legitimate
    let mut arrays: std::collections::BTreeSet<String> = Default::default();
    let mut uses: Vec<(usize, String)> = Vec::new();
    for (lineno, raw) in verilog.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("module ") {
            let name = rest.split(['(', ' ']).next().unwrap_or("").to_string();
            current = Some(name);
            declared.clear();
            arrays.clear();
            uses.clear();
            continue;
        }
        if line.starts_with("endmodule") {
            let m = current.take().unwrap_or_default();
            for (l, id) in uses.drain(..) {
                if !declared.contains(&id) {
                    problems.push(format!("line {}: `{id}` used in module `{m}` but never declared", l + 1));
                }
            }
            continue;
        }
        if current.is_none() {
            continue;
        }
        if line.contains("::") || line.contains("self.") || line.contains("self$") {
            problems.push(format!("line {}: leftover Rust path: {line}", lineno + 1));
        }
        let first = line.split_whitespace().next().unwrap_or("");
        let kind = first.split('[').next().unwrap_or("");
        if ["input", "output", "inout", "wire", "reg", "localparam", "integer"].contains(&kind) {
            let decl = line.split(['=', ';']).next().unwrap_or("");
            if let Some(name) = decl.split_whitespace().last() {
                match name.split_once('[') {
                    Some((base, _)) if kind == "reg" && decl.split_whitespace().count() >= 2 => {
                        arrays.insert(base.to_string());
                        declared.insert(base.to_string());
                    }
                    _ => {
                        declared.insert(name.to_string());
                    }
                }
            }
            if first != "localparam" {
                continue;
            }
        }
        if modules.iter().any(|m| first == m) {
            continue; // sub-module instance header: `<module> <instance>(`
        }
        for (tok, after_dot) in tokens(line) {
            if let Some(sys) = tok.strip_prefix('$') {
                if !SYSTEM_OK.contains(&tok.as_str()) {
                    problems.push(format!("line {}: system name `${sys}` (dynamic-indexing leftover?): {line}", lineno + 1));
                }
            } else if let Some(base) = tok.strip_suffix('[').filter(|b| arrays.contains(*b)) {
                uses.push((lineno, base.to_string()));
            } else if tok.contains('[') {
                problems.push(format!("line {}: unsubstituted index `{tok}`: {line}", lineno + 1));
            } else if !after_dot && !KEYWORDS.contains(&tok.as_str()) {
                uses.push((lineno, tok));
            }
        }
    }
    problems
}

/// Identifier-like tokens of one line, with whether they follow a `.`
/// (named port connection). Sized literals like `32'h8` are skipped; an
/// identifier directly followed by `[<letter>` is returned with the bracket
/// to flag a loop variable that was not substituted.
fn tokens(line: &str) -> Vec<(String, bool)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_digit() || c == '\'' {
            // number, possibly sized/based: 32'h1f, 8'd3, 'h0
            i += 1;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'\'') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let start = i;
            i += 1;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            let mut tok = line[start..i].to_string();
            if i + 1 < b.len() && b[i] == b'[' && (b[i + 1] as char).is_ascii_alphabetic() {
                tok.push('[');
            }
            let after_dot = start > 0 && b[start - 1] == b'.';
            out.push((tok, after_dot));
        } else {
            i += 1;
        }
    }
    out
}
