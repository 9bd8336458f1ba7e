//! `--output-filter`: ZMap's filter language, compiled once and evaluated on each record.
//!
//! The grammar is ZMap's, with a few extensions that ZMap's own filters never need:
//!
//! ```text
//! expr    := and ( "||" and )*
//! and     := primary ( "&&" primary )*
//! primary := "(" expr ")" | FIELD OP VALUE
//! OP      := "=" | "!=" | "<" | ">" | "<=" | ">="
//! VALUE   := NUMBER | WORD | "quoted" | 'quoted'      (true/false for booleans)
//! ```
//!
//! `&&` binds tighter than `||`, as in ZMap. Field names are those of
//! [`crate::output::fields`], ZMap 2.x's dashed names included. An integer field takes a
//! number; a boolean field `1`/`0` or `true`/`false`; a string field a bare word or a quoted
//! string, with `=` and `!=` only (as in ZMap). A value that is absent from a record (the
//! TCP options of a RST, the ICMP fields of a TCP reply) is equal to nothing: `=` and the
//! orderings are false, `!=` is true. An empty filter keeps every response.
//!
//! Errors carry the 1-based column (in characters) where the problem starts, so that the
//! command line can point at it; nothing is evaluated until the whole filter is valid.

use super::fields::{self, Field, Kind, Value};
use super::Record;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Keeps everything (`--output-filter=""`).
    All,
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Int(Field, Op, u64),
    Bool(Field, Op, bool),
    Str(Field, Op, String),
}

/// Why a filter does not compile, and where (1-based column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct FilterError {
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Op(Op),
    /// A bare word or number.
    Word(String),
    Quoted(String),
    End,
}

/// Splits the filter into tokens, each with its 1-based column.
fn lex(src: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |column: usize, message: String| Err(FilterError { column, message });
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let next = chars.get(i + 1).copied();
        let two = |t: Tok| (t, 2);
        let (tok, len) = match (c, next) {
            (' ' | '\t' | '\n' | '\r', _) => {
                i += 1;
                continue;
            }
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('&', Some('&')) => two(Tok::And),
            ('|', Some('|')) => two(Tok::Or),
            ('!', Some('=')) => two(Tok::Op(Op::Ne)),
            ('<', Some('=')) => two(Tok::Op(Op::Le)),
            ('>', Some('=')) => two(Tok::Op(Op::Ge)),
            ('=', _) => (Tok::Op(Op::Eq), 1),
            ('<', _) => (Tok::Op(Op::Lt), 1),
            ('>', _) => (Tok::Op(Op::Gt), 1),
            ('"' | '\'', _) => {
                let end = match chars[i + 1..].iter().position(|&q| q == c) {
                    Some(p) => i + 1 + p,
                    None => return err(col, format!("unterminated string (no closing {c})")),
                };
                out.push((Tok::Quoted(chars[i + 1..end].iter().collect()), col));
                i = end + 1;
                continue;
            }
            _ if is_word(c) => {
                let n = chars[i..].iter().take_while(|&&w| is_word(w)).count();
                (Tok::Word(chars[i..i + n].iter().collect()), n)
            }
            _ => return err(col, format!("unexpected character {c:?}")),
        };
        out.push((tok, col));
        i += len;
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &(Tok, usize) {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> (Tok, usize) {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn expr(&mut self) -> Result<Filter, FilterError> {
        self.chain(Tok::Or, Self::and, Filter::Or)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        self.chain(Tok::And, Self::primary, Filter::And)
    }

    /// `operand (op operand)*`, grouped from the left.
    fn chain(
        &mut self,
        op: Tok,
        operand: fn(&mut Self) -> Result<Filter, FilterError>,
        join: fn(Box<Filter>, Box<Filter>) -> Filter,
    ) -> Result<Filter, FilterError> {
        let mut left = operand(self)?;
        while self.peek().0 == op {
            self.bump();
            left = join(Box::new(left), Box::new(operand(self)?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        match self.bump() {
            (Tok::LParen, _) => {
                let inner = self.expr()?;
                match self.bump() {
                    (Tok::RParen, _) => Ok(inner),
                    (t, col) => Err(expected(col, "')'", &t)),
                }
            }
            (Tok::Word(name), col) => self.comparison(&name, col),
            (t, col) => Err(expected(col, "a field name or '('", &t)),
        }
    }

    fn comparison(&mut self, name: &str, col: usize) -> Result<Filter, FilterError> {
        let def = fields::lookup(name)
            .filter(|d| d.kind != Kind::Null)
            .ok_or_else(|| FilterError {
                column: col,
                message: format!("unknown field {name:?} (see --list-output-fields)"),
            })?;
        let op = match self.bump() {
            (Tok::Op(op), _) => op,
            (t, c) => return Err(expected(c, "a comparison (= != < > <= >=)", &t)),
        };
        let (tok, vcol) = self.bump();
        let text = match &tok {
            Tok::Word(w) | Tok::Quoted(w) => w.clone(),
            t => return Err(expected(vcol, "a value", t)),
        };
        let bad = |what: &str| FilterError {
            column: vcol,
            message: format!("{} is {what}, not {text:?}", def.name),
        };
        match def.kind {
            Kind::Int => match tok {
                Tok::Word(_) => text
                    .parse::<u64>()
                    .map(|v| Filter::Int(def.field, op, v))
                    .map_err(|_| bad("an integer field: compare it with a whole number")),
                _ => Err(bad("an integer field: compare it with a whole number")),
            },
            Kind::Bool => match text.as_str() {
                "1" | "true" => Ok(Filter::Bool(def.field, op, true)),
                "0" | "false" => Ok(Filter::Bool(def.field, op, false)),
                _ => Err(bad("a boolean field: compare it with 1, 0, true or false")),
            },
            Kind::Str if matches!(op, Op::Eq | Op::Ne) => Ok(Filter::Str(def.field, op, text)),
            Kind::Str => Err(FilterError {
                column: col,
                message: format!("{} is a string field: only = and != compare it", def.name),
            }),
            Kind::Null => Err(bad("empty")),
        }
    }
}

fn expected(column: usize, what: &str, got: &Tok) -> FilterError {
    let got = match got {
        Tok::End => "the end of the filter".to_string(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::And => "'&&'".into(),
        Tok::Or => "'||'".into(),
        Tok::Op(_) => "a comparison".into(),
        Tok::Word(w) | Tok::Quoted(w) => format!("{w:?}"),
    };
    FilterError {
        column,
        message: format!("expected {what}, found {got}"),
    }
}

impl Filter {
    /// Compiles a filter. An empty or blank filter keeps every response.
    pub fn parse(src: &str) -> Result<Filter, FilterError> {
        if src.trim().is_empty() {
            return Ok(Filter::All);
        }
        let mut p = Parser {
            toks: lex(src)?,
            pos: 0,
        };
        let f = p.expr()?;
        match p.bump() {
            (Tok::End, _) => Ok(f),
            (t, col) => Err(expected(col, "'&&', '||' or the end of the filter", &t)),
        }
    }

    /// ZMap's default: first SYN-ACKs only (`success = 1 && repeat = 0`).
    pub fn zmap_default() -> Filter {
        Filter::And(
            Box::new(Filter::Bool(Field::Success, Op::Eq, true)),
            Box::new(Filter::Bool(Field::Repeat, Op::Eq, false)),
        )
    }

    /// Whether the filter keeps first answers only (a top-level `repeat = 0`), so that the
    /// receiver can drop a repeat before it builds a record.
    pub fn first_only(&self) -> bool {
        match self {
            Filter::And(a, b) => a.first_only() || b.first_only(),
            Filter::Bool(Field::Repeat, Op::Eq, false)
            | Filter::Bool(Field::Repeat, Op::Ne, true) => true,
            _ => false,
        }
    }

    /// Whether `r` passes.
    pub fn matches(&self, r: &Record) -> bool {
        match self {
            Filter::All => true,
            Filter::And(a, b) => a.matches(r) && b.matches(r),
            Filter::Or(a, b) => a.matches(r) || b.matches(r),
            Filter::Int(f, op, v) => match fields::value(r, *f) {
                Value::Int(x) => compare(x.cmp(v), *op),
                _ => *op == Op::Ne,
            },
            Filter::Bool(f, op, v) => match fields::value(r, *f) {
                Value::Bool(x) => compare(x.cmp(v), *op),
                _ => *op == Op::Ne,
            },
            Filter::Str(f, op, v) => {
                let eq = match fields::value(r, *f) {
                    Value::Str(s) => s == v,
                    Value::Addr(a) => a.to_string() == *v,
                    _ => return *op == Op::Ne,
                };
                eq == (*op == Op::Eq)
            }
        }
    }
}

fn compare(o: std::cmp::Ordering, op: Op) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => o == Equal,
        Op::Ne => o != Equal,
        Op::Lt => o == Less,
        Op::Gt => o == Greater,
        Op::Le => o != Greater,
        Op::Ge => o != Less,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn rec(class: &str, success: bool, repeat: bool) -> Record {
        Record {
            saddr: "198.18.0.7".into(),
            daddr: "198.19.0.1".into(),
            sport: 443,
            dport: 40000,
            seqnum: 5,
            acknum: 6,
            window: 65160,
            ttl: 64,
            ipid: 0,
            tcpopt_mss: success.then_some(1460),
            tcpopt_wscale: None,
            tcpopt_sack_perm: None,
            tcpopt_ts_val: None,
            tcpopt_ts_ecr: None,
            classification: class.into(),
            success,
            repeat,
            cooldown: false,
            timestamp_str: String::new(),
            timestamp_us: 1_795_305_895_979_464,
            rtt_us: None,
            icmp: None,
        }
    }

    fn keeps(f: &str, r: &Record) -> bool {
        Filter::parse(f).unwrap().matches(r)
    }

    #[test]
    fn zmap_filters() {
        let syn = rec("synack", true, false);
        let again = rec("synack", true, true);
        let rst = rec("rst", false, false);
        let lzr = "success = 1 && repeat = 0";
        assert!(keeps(lzr, &syn) && !keeps(lzr, &again) && !keeps(lzr, &rst));
        assert_eq!(Filter::parse(lzr).unwrap(), Filter::zmap_default());
        assert!(keeps("classification = rst", &rst) && !keeps("classification = rst", &syn));
        assert!(keeps("classification != \"rst\"", &syn));
        assert!(keeps("success = true || classification = 'rst'", &rst));
        assert!(keeps("(sport = 80 || sport = 443) && window > 1000", &syn));
        assert!(!keeps("sport = 80 || sport = 22 && window > 1000", &syn));
        assert!(keeps("sport >= 443 && sport <= 443 && sport < 444", &syn));
        assert!(keeps("saddr = 198.18.0.7", &syn));
        assert!(keeps("timestamp-us = 979464 && timestamp_ts > 1", &syn));
        // Absent values equal nothing.
        assert!(!keeps("tcpopt_mss = 1460", &rst) && keeps("tcpopt_mss != 1460", &rst));
        assert!(!keeps("icmp_type = 3", &syn));
        assert!(Filter::zmap_default().first_only());
        assert!(Filter::parse("(success = 1 || sport = 80) && repeat != 1")
            .unwrap()
            .first_only());
        assert!(!Filter::parse("success = 1 || repeat = 0")
            .unwrap()
            .first_only());
        assert!(!Filter::All.first_only());
        for all in ["", "   "] {
            assert_eq!(Filter::parse(all).unwrap(), Filter::All);
        }
    }

    #[test]
    fn errors_name_the_column() {
        let cases = [
            ("success = 1 &&", 15, "expected a field name"),
            ("sucess = 1", 1, "unknown field \"sucess\""),
            ("success = 1 && bogus = 2", 16, "unknown field"),
            ("success = yes", 11, "boolean"),
            ("sport = http", 9, "integer"),
            ("classification > rst", 1, "only = and !="),
            ("(success = 1", 13, "expected ')'"),
            ("success = 1)", 12, "expected '&&'"),
            ("success # 1", 9, "unexpected character"),
            ("saddr = \"1.2", 9, "unterminated"),
            ("blank = 1", 1, "unknown field"),
            ("sport 80", 7, "expected a comparison"),
        ];
        for (src, column, needle) in cases {
            let e = Filter::parse(src).unwrap_err();
            assert_eq!(e.column, column, "{src}: {e}");
            assert!(e.message.contains(needle), "{src}: {e}");
        }
    }
}
