//! The native fast path: simple expressions evaluated straight on the row, without the CEL
//! interpreter.
//!
//! When an expression is compiled, its CEL syntax tree is walked; if it only uses the subset
//! below, a small tree of [`Node`]s is built and evaluated per row on the row's [`Value`]s in
//! place. The subset:
//!
//! - names: columns (`total_price`), qualified names into object columns (`customer.id`),
//!   `row.x`, `row["x"]` (a string literal key), `has(row.x)`, `has(customer.id)`;
//! - literals: `int`, `double`, `string`, `bool`, `null`;
//! - `==` `!=` `<` `<=` `>` `>=`, `&&` `||` `!`, `+` `-` `*` `/` `%`, unary `-`, `c ? a : b`,
//!   parentheses.
//!
//! Everything else (function and method calls, `in`, lists, maps, `uint` and bytes literals,
//! `run.*`, names that are also CEL type names) keeps the whole expression on the interpreter.
//!
//! The evaluator follows the `cel` crate's semantics exactly, and says so only where it is sure:
//! it returns a value, [`Fail::Error`] (CEL fails too), or [`Fail::Unsupported`] (a value it
//! does not model, such as a timestamp, a date, a list, or an object used as a whole). On
//! either failure the caller evaluates the row with the interpreter, so a row's result, and its
//! error message, are always CEL's: the fast path only skips the interpreter when it knows the
//! answer. The rules it follows:
//!
//! - `int` and `double` compare by value (`1 == 1.0`, `2 > 1.5`); NaN does not compare (an error
//!   for `<`, false for `==`);
//! - `==` and `!=` between different types are false/true, never an error (`null == 0` is false);
//! - `<` and friends on mismatched types are errors (`"a" < 1`, `null < 1`);
//! - arithmetic needs both sides of one type (`int * double` is an error); integer overflow and
//!   division or remainder by zero are errors; `string + string` concatenates;
//! - `&&` and `||` short-circuit from the left and absorb errors: `false && error` and
//!   `error && false` are false, `true || error` and `error || true` are true;
//! - a missing column, or a missing key in `row.x`, is an error (`has(row.x)` tests for it).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use cel::IdedExpr;
use cel::common::ast::{Expr, LiteralValue, operators};
use compact_str::CompactString;
use dataforge_core::{Record, Value};
use rust_decimal::prelude::ToPrimitive;

/// Why the fast path gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    /// CEL fails on this row too.
    Error,
    /// A value or operation the fast path does not model: only the interpreter knows.
    Unsupported,
}

/// A value during native evaluation: strings and objects borrow from the row or the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Nv<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(Cow<'a, str>),
    /// The row (`row`) or an object column: only fields can be read from it.
    Map(&'a Record),
}

type Res<'a> = Result<Nv<'a>, Fail>;

impl Nv<'_> {
    /// The result as a column value; `None` for a map (the interpreter builds those).
    pub(crate) fn into_value(self) -> Option<Value> {
        Some(match self {
            Nv::Null => Value::Null,
            Nv::Bool(b) => Value::Bool(b),
            Nv::Int(i) => Value::Int(i),
            Nv::Double(f) => Value::Float(f),
            Nv::Str(s) => Value::String(CompactString::from(s)),
            Nv::Map(_) => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// True when `o`, the ordering of the left side against the right, satisfies this.
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// A comparison, as [`Node::ColumnTest`] holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Test {
    Eq,
    Ne,
    Cmp(CmpOp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// Where a (possibly qualified) name is looked up.
#[derive(Debug)]
pub(crate) enum Root {
    /// The whole row (`row`).
    Row,
    /// A column of this exact name (`customer.id` may be a column when flattened with `.`), and
    /// where it was in the last row that had it: rows of a batch usually share their layout.
    Column(CompactString, AtomicUsize),
}

/// The value of column `name`, looked for first at `hint` (for callers that do not know the
/// row's shape: kept out of line, away from the positional path).
#[inline(never)]
fn column<'a>(row: &'a Record, name: &str, hint: &AtomicUsize) -> Option<&'a Value> {
    let at = hint.load(AtomicOrdering::Relaxed);
    if row.columns().as_slice().get(at).is_some_and(|k| k == name) {
        return row.values().get(at);
    }
    let i = row.columns().position(name)?;
    hint.store(i, AtomicOrdering::Relaxed);
    row.values().get(i)
}

/// A compiled expression of the fast-path subset.
#[derive(Debug)]
pub(crate) enum Node {
    Lit(Lit),
    /// A name `a.b.c`: the first root found (longest first, as CEL resolves qualified names),
    /// then the fields after it. `may_be_type`: a missing name may be a CEL type (`int`).
    Name {
        roots: Vec<(Root, usize)>,
        fields: Vec<CompactString>,
        may_be_type: bool,
    },
    /// A plain column name (`total_price`): what [`Node::Name`] gives for a one-part name
    /// other than `row`. `slot`: its place in [`Compiled::columns`], where a caller that knows
    /// the row's shape finds the column's position.
    Column {
        name: CompactString,
        hint: AtomicUsize,
        may_be_type: bool,
        slot: usize,
    },
    Select(Box<Node>, CompactString),
    Has(Box<Node>, CompactString),
    Index(Box<Node>, CompactString),
    Not(Box<Node>),
    Neg(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Eq(Box<Node>, Box<Node>),
    Ne(Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    /// `column <test> literal` (`flipped`: `literal <test> column`), the usual filter: the
    /// common kinds are compared straight on the row's value. `column` is a [`Node::Column`].
    ColumnTest {
        column: Box<Node>,
        test: Test,
        lit: Lit,
        flipped: bool,
    },
    Arith(ArithOp, Box<Node>, Box<Node>),
}

/// A literal of the tree.
#[derive(Debug)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(Box<str>),
}

/// A native tree and the plain columns it reads, one per [`Node::Column`] slot.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) node: Node,
    pub(crate) columns: Vec<CompactString>,
}

/// Builds the native tree of `expr`, or `None` when it leaves the subset. `is_type` tells the
/// names CEL also knows as types.
pub(crate) fn compile(expr: &IdedExpr, is_type: &dyn Fn(&str) -> bool) -> Option<Compiled> {
    let mut node = tree(expr, is_type)?;
    let mut columns = Vec::new();
    node.number_columns(&mut columns);
    Some(Compiled { node, columns })
}

/// The tree of `expr`, its columns not numbered yet.
fn tree(expr: &IdedExpr, is_type: &dyn Fn(&str) -> bool) -> Option<Node> {
    let b = |e: &IdedExpr| tree(e, is_type).map(Box::new);
    let n = |e: &IdedExpr| tree(e, is_type);
    Some(match &expr.expr {
        Expr::Literal(l) => Node::Lit(match l {
            LiteralValue::Null => Lit::Null,
            LiteralValue::Boolean(v) => Lit::Bool(*v.inner()),
            LiteralValue::Int(v) => Lit::Int(*v.inner()),
            LiteralValue::Double(v) => Lit::Double(*v.inner()),
            LiteralValue::String(v) => Lit::Str(v.inner().into()),
            LiteralValue::UInt(_) | LiteralValue::Bytes(_) => return None,
        }),
        Expr::Ident(_) => name(&segments(expr)?, is_type)?,
        Expr::Select(s) if s.test => {
            let operand = match segments(&s.operand) {
                Some(segs) => name(&segs, is_type)?,
                None => tree(&s.operand, is_type)?,
            };
            Node::Has(Box::new(operand), s.field.as_str().into())
        }
        Expr::Select(s) => match segments(expr) {
            Some(segs) => name(&segs, is_type)?,
            None => Node::Select(b(&s.operand)?, s.field.as_str().into()),
        },
        Expr::Call(c) if c.target.is_none() => {
            let args = &c.args;
            match (c.func_name.as_str(), args.len()) {
                (operators::LOGICAL_AND, 2) => Node::And(b(&args[0])?, b(&args[1])?),
                (operators::LOGICAL_OR, 2) => Node::Or(b(&args[0])?, b(&args[1])?),
                (operators::LOGICAL_NOT, 1) => Node::Not(b(&args[0])?),
                (operators::NEGATE, 1) => Node::Neg(b(&args[0])?),
                (operators::CONDITIONAL, 3) => Node::Cond(b(&args[0])?, b(&args[1])?, b(&args[2])?),
                (operators::EQUALS, 2) => test(Test::Eq, n(&args[0])?, n(&args[1])?),
                (operators::NOT_EQUALS, 2) => test(Test::Ne, n(&args[0])?, n(&args[1])?),
                (operators::LESS, 2) => test(Test::Cmp(CmpOp::Lt), n(&args[0])?, n(&args[1])?),
                (operators::LESS_EQUALS, 2) => {
                    test(Test::Cmp(CmpOp::Le), n(&args[0])?, n(&args[1])?)
                }
                (operators::GREATER, 2) => test(Test::Cmp(CmpOp::Gt), n(&args[0])?, n(&args[1])?),
                (operators::GREATER_EQUALS, 2) => {
                    test(Test::Cmp(CmpOp::Ge), n(&args[0])?, n(&args[1])?)
                }
                (operators::ADD, 2) => Node::Arith(ArithOp::Add, b(&args[0])?, b(&args[1])?),
                (operators::SUBSTRACT, 2) => Node::Arith(ArithOp::Sub, b(&args[0])?, b(&args[1])?),
                (operators::MULTIPLY, 2) => Node::Arith(ArithOp::Mul, b(&args[0])?, b(&args[1])?),
                (operators::DIVIDE, 2) => Node::Arith(ArithOp::Div, b(&args[0])?, b(&args[1])?),
                (operators::MODULO, 2) => Node::Arith(ArithOp::Rem, b(&args[0])?, b(&args[1])?),
                (operators::INDEX, 2) => match &args[1].expr {
                    Expr::Literal(LiteralValue::String(key)) => {
                        Node::Index(b(&args[0])?, key.inner().into())
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A comparison node: [`Node::ColumnTest`] for a plain column against a literal.
fn test(t: Test, a: Node, b: Node) -> Node {
    let column_test = |column, lit, flipped| Node::ColumnTest {
        column,
        test: t,
        lit,
        flipped,
    };
    match (a, b) {
        (c @ Node::Column { .. }, Node::Lit(lit)) => column_test(Box::new(c), lit, false),
        (Node::Lit(lit), c @ Node::Column { .. }) => column_test(Box::new(c), lit, true),
        (a, b) => {
            let (a, b) = (Box::new(a), Box::new(b));
            match t {
                Test::Eq => Node::Eq(a, b),
                Test::Ne => Node::Ne(a, b),
                Test::Cmp(op) => Node::Cmp(op, a, b),
            }
        }
    }
}

/// `column <test> lit` (`lit <test> column` when `flipped`), as [`Node::Eq`], [`Node::Ne`] and
/// [`Node::Cmp`] give it; strings against strings and floats against doubles are compared
/// without building values.
#[inline(never)]
fn column_test<'a>(
    column: &'a Node,
    test: Test,
    lit: &'a Lit,
    flipped: bool,
    row: &'a Record,
    at: Positions<'_>,
) -> Res<'a> {
    match (test, column.column_value(row, at), lit) {
        (Test::Eq, Some(Value::String(s)), Lit::Str(t)) => return Ok(Nv::Bool(s.as_str() == &**t)),
        (Test::Ne, Some(Value::String(s)), Lit::Str(t)) => return Ok(Nv::Bool(s.as_str() != &**t)),
        (Test::Cmp(op), Some(Value::Float(x)), Lit::Double(y)) => {
            let o = if flipped {
                y.partial_cmp(x)
            } else {
                x.partial_cmp(y)
            };
            return o.map(|o| Nv::Bool(op.holds(o))).ok_or(Fail::Error);
        }
        _ => {}
    }
    let v = column.operand(row, at)?;
    let l = lit.value();
    let (a, b) = if flipped { (l, v) } else { (v, l) };
    match test {
        Test::Eq => equals(&a, &b).map(Nv::Bool),
        Test::Ne => equals(&a, &b).map(|e| Nv::Bool(!e)),
        Test::Cmp(op) => compare(&a, &b).map(|o| Nv::Bool(op.holds(o))),
    }
}

/// The segments of `a.b.c` (an identifier and field selections on it), root first.
fn segments(expr: &IdedExpr) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut e = expr;
    loop {
        match &e.expr {
            Expr::Ident(n) => {
                out.push(n.as_str());
                out.reverse();
                return Some(out);
            }
            Expr::Select(s) if !s.test => {
                out.push(s.field.as_str());
                e = &s.operand;
            }
            _ => return None,
        }
    }
}

/// A name node resolving as the expression module's resolver does: `run…` is the run (left to
/// the interpreter), `row` the row, anything else a column; the longest prefix wins.
fn name(segs: &[&str], is_type: &dyn Fn(&str) -> bool) -> Option<Node> {
    let first = *segs.first()?;
    if first == "run" {
        return None;
    }
    let full = segs.join(".");
    if let [column] = segs
        && *column != "row"
    {
        // A plain column, the common case: looked up without the qualified-name walk.
        return Some(Node::Column {
            name: (*column).into(),
            hint: AtomicUsize::new(0),
            may_be_type: is_type(&full),
            slot: 0,
        });
    }
    let mut roots = Vec::with_capacity(segs.len());
    for len in (1..=segs.len()).rev() {
        let root = if len == 1 && first == "row" {
            Root::Row
        } else {
            Root::Column(segs[..len].join(".").into(), AtomicUsize::new(0))
        };
        roots.push((root, len - 1));
    }
    Some(Node::Name {
        roots,
        fields: segs
            .iter()
            .skip(1)
            .map(|s| CompactString::from(*s))
            .collect(),
        may_be_type: is_type(&full),
    })
}

/// A row value as a native value.
#[inline]
fn read(v: &Value) -> Res<'_> {
    Ok(match v {
        Value::Null => Nv::Null,
        Value::Bool(b) => Nv::Bool(*b),
        Value::Int(i) => Nv::Int(*i),
        Value::Float(f) => Nv::Double(*f),
        // As the interpreter sees them (`convert::to_cel`).
        Value::Decimal(d) => Nv::Double(d.to_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Nv::Str(Cow::Borrowed(s.as_str())),
        Value::Object(r) => Nv::Map(r),
        Value::Timestamp(_) | Value::Date(_) | Value::Array(_) => return Err(Fail::Unsupported),
    })
}

fn select<'a>(v: Nv<'a>, field: &str) -> Res<'a> {
    match v {
        Nv::Map(r) => r.get(field).map_or(Err(Fail::Error), read),
        _ => Err(Fail::Unsupported),
    }
}

/// `try_bool`: a boolean, anything else an error.
#[inline]
fn truth(v: Res<'_>) -> Result<bool, Fail> {
    match v {
        Ok(Nv::Bool(b)) => Ok(b),
        Ok(Nv::Map(_)) => Err(Fail::Unsupported),
        Ok(_) => Err(Fail::Error),
        Err(f) => Err(f),
    }
}

/// CEL's `==` on values it models (`Val::equals`).
fn equals(a: &Nv<'_>, b: &Nv<'_>) -> Result<bool, Fail> {
    Ok(match (a, b) {
        (Nv::Map(_), _) | (_, Nv::Map(_)) => return Err(Fail::Unsupported),
        (Nv::Null, Nv::Null) => true,
        (Nv::Bool(x), Nv::Bool(y)) => x == y,
        (Nv::Int(x), Nv::Int(y)) => x == y,
        (Nv::Double(x), Nv::Double(y)) => x == y,
        (Nv::Int(x), Nv::Double(y)) | (Nv::Double(y), Nv::Int(x)) => (*x as f64) == *y,
        (Nv::Str(x), Nv::Str(y)) => x == y,
        _ => false,
    })
}

/// CEL's ordering (`Comparer::compare`): numbers by value, strings by bytes, booleans.
fn compare(a: &Nv<'_>, b: &Nv<'_>) -> Result<Ordering, Fail> {
    match (a, b) {
        (Nv::Map(_), _) | (_, Nv::Map(_)) => Err(Fail::Unsupported),
        (Nv::Int(x), Nv::Int(y)) => Ok(x.cmp(y)),
        (Nv::Int(x), Nv::Double(y)) => (*x as f64).partial_cmp(y).ok_or(Fail::Error),
        (Nv::Double(x), Nv::Int(y)) => x.partial_cmp(&(*y as f64)).ok_or(Fail::Error),
        (Nv::Double(x), Nv::Double(y)) => x.partial_cmp(y).ok_or(Fail::Error),
        (Nv::Str(x), Nv::Str(y)) => Ok(x.as_ref().cmp(y.as_ref())),
        (Nv::Bool(x), Nv::Bool(y)) => Ok(x.cmp(y)),
        _ => Err(Fail::Error),
    }
}

fn arith<'a>(op: ArithOp, a: Nv<'a>, b: Nv<'a>) -> Res<'a> {
    use ArithOp::{Add, Div, Mul, Rem, Sub};
    let int = |r: Option<i64>| r.map(Nv::Int).ok_or(Fail::Error);
    match (op, a, b) {
        (_, Nv::Map(_), _) | (_, _, Nv::Map(_)) => Err(Fail::Unsupported),
        (Add, Nv::Int(x), Nv::Int(y)) => int(x.checked_add(y)),
        (Sub, Nv::Int(x), Nv::Int(y)) => int(x.checked_sub(y)),
        (Mul, Nv::Int(x), Nv::Int(y)) => int(x.checked_mul(y)),
        (Div | Rem, Nv::Int(_), Nv::Int(0)) => Err(Fail::Error),
        (Div, Nv::Int(x), Nv::Int(y)) => int(x.checked_div(y)),
        (Rem, Nv::Int(x), Nv::Int(y)) => int(x.checked_rem(y)),
        (Add, Nv::Double(x), Nv::Double(y)) => Ok(Nv::Double(x + y)),
        (Sub, Nv::Double(x), Nv::Double(y)) => Ok(Nv::Double(x - y)),
        (Mul, Nv::Double(x), Nv::Double(y)) => Ok(Nv::Double(x * y)),
        (Div, Nv::Double(x), Nv::Double(y)) => Ok(Nv::Double(x / y)),
        (Add, Nv::Str(x), Nv::Str(y)) => {
            let mut s = String::with_capacity(x.len() + y.len());
            s.push_str(&x);
            s.push_str(&y);
            Ok(Nv::Str(Cow::Owned(s)))
        }
        _ => Err(Fail::Error),
    }
}

/// `a && b` (`absorbing` false) or `a || b` (`absorbing` true), as CEL has them: from the
/// left, and a side equal to `absorbing` decides even when the other fails.
#[inline(always)]
fn junction<'a>(
    a: &'a Node,
    b: &'a Node,
    absorbing: bool,
    row: &'a Record,
    at: Positions<'_>,
) -> Res<'a> {
    let left = truth(a.operand(row, at));
    if left == Ok(absorbing) {
        return Ok(Nv::Bool(absorbing));
    }
    let right = b.operand(row, at);
    if left == Err(Fail::Unsupported) {
        // The left side may be the absorbing value, where CEL stops: only an absorbing right
        // side decides.
        return match right {
            Ok(Nv::Bool(r)) if r == absorbing => Ok(Nv::Bool(absorbing)),
            _ => Err(Fail::Unsupported),
        };
    }
    // The left side is the other value or an error; the right side's own failure wins.
    match (left, right?) {
        (Ok(_), Nv::Bool(r)) => Ok(Nv::Bool(r)),
        (_, Nv::Bool(r)) if r == absorbing => Ok(Nv::Bool(absorbing)),
        (_, Nv::Map(_)) => Err(Fail::Unsupported),
        _ => Err(Fail::Error),
    }
}

/// Where each plain column of an expression is in the row at hand, by slot (`None`: the row
/// lacks it); made for the row's shape by the caller.
pub(crate) type Positions<'p> = Option<&'p [Option<usize>]>;

impl Lit {
    /// The literal as a native value.
    fn value(&self) -> Nv<'_> {
        match self {
            Lit::Null => Nv::Null,
            Lit::Bool(b) => Nv::Bool(*b),
            Lit::Int(i) => Nv::Int(*i),
            Lit::Double(f) => Nv::Double(*f),
            Lit::Str(s) => Nv::Str(Cow::Borrowed(s)),
        }
    }
}

impl Node {
    /// Gives each plain column its slot, in the order they first appear; equal names share one.
    fn number_columns(&mut self, columns: &mut Vec<CompactString>) {
        match self {
            Node::Column { name, slot, .. } => {
                *slot = columns.iter().position(|c| c == name).unwrap_or_else(|| {
                    columns.push(name.clone());
                    columns.len() - 1
                });
            }
            Node::Lit(_) | Node::Name { .. } => {}
            Node::ColumnTest { column, .. } => column.number_columns(columns),
            Node::Select(a, _)
            | Node::Has(a, _)
            | Node::Index(a, _)
            | Node::Not(a)
            | Node::Neg(a) => {
                a.number_columns(columns);
            }
            Node::And(a, b)
            | Node::Or(a, b)
            | Node::Eq(a, b)
            | Node::Ne(a, b)
            | Node::Cmp(_, a, b)
            | Node::Arith(_, a, b) => {
                a.number_columns(columns);
                b.number_columns(columns);
            }
            Node::Cond(c, a, b) => {
                c.number_columns(columns);
                a.number_columns(columns);
                b.number_columns(columns);
            }
        }
    }

    /// Evaluates on `row`, finding columns by name.
    #[cfg(test)]
    pub(crate) fn eval<'a>(&'a self, row: &'a Record) -> Res<'a> {
        self.eval_at(row, None)
    }

    /// The row's value of a [`Node::Column`] (`None` for other nodes, or when the row lacks it).
    #[inline(always)]
    fn column_value<'a>(&self, row: &'a Record, at: Positions<'_>) -> Option<&'a Value> {
        let Node::Column {
            name, hint, slot, ..
        } = self
        else {
            return None;
        };
        match at.and_then(|at| at.get(*slot)) {
            Some(Some(i)) => row.values().get(*i),
            Some(None) => None,
            None => column(row, name, hint),
        }
    }

    /// An operand: literals, plain columns and tests of a column without a call of
    /// [`Node::eval_at`].
    #[inline(always)]
    fn operand<'a>(&'a self, row: &'a Record, at: Positions<'_>) -> Res<'a> {
        match self {
            Node::Lit(l) => Ok(l.value()),
            Node::Column { may_be_type, .. } => match self.column_value(row, at) {
                Some(v) => read(v),
                None => Err(if *may_be_type {
                    Fail::Unsupported
                } else {
                    Fail::Error
                }),
            },
            Node::ColumnTest {
                column,
                test,
                lit,
                flipped,
            } => column_test(column, *test, lit, *flipped, row, at),
            _ => self.eval_at(row, at),
        }
    }

    /// Evaluates on `row`; `at`, when given, holds the positions of the plain columns in it.
    pub(crate) fn eval_at<'a>(&'a self, row: &'a Record, at: Positions<'_>) -> Res<'a> {
        match self {
            Node::Lit(_) | Node::Column { .. } | Node::ColumnTest { .. } => self.operand(row, at),
            Node::And(a, b) => junction(a, b, false, row, at),
            Node::Eq(a, b) => {
                let l = a.operand(row, at)?;
                let r = b.operand(row, at)?;
                equals(&l, &r).map(Nv::Bool)
            }
            Node::Cmp(op, a, b) => {
                let l = a.operand(row, at)?;
                let r = b.operand(row, at)?;
                compare(&l, &r).map(|o| Nv::Bool(op.holds(o)))
            }
            Node::Arith(op, a, b) => {
                let l = a.operand(row, at)?;
                let r = b.operand(row, at)?;
                arith(*op, l, r)
            }
            _ => self.eval_cold(row, at),
        }
    }

    /// The arms of [`Node::eval_at`] that simple filters seldom use, apart so that the hot
    /// ones stay a small function.
    #[inline(never)]
    fn eval_cold<'a>(&'a self, row: &'a Record, at: Positions<'_>) -> Res<'a> {
        match self {
            Node::Name {
                roots,
                fields,
                may_be_type,
                ..
            } => {
                for (root, from) in roots {
                    let mut v = match root {
                        Root::Row => Nv::Map(row),
                        Root::Column(c, hint) => match column(row, c, hint) {
                            Some(v) => read(v)?,
                            None => continue,
                        },
                    };
                    for f in &fields[*from..] {
                        v = select(v, f)?;
                    }
                    return Ok(v);
                }
                Err(if *may_be_type {
                    Fail::Unsupported
                } else {
                    Fail::Error
                })
            }
            Node::Select(operand, field) => select(operand.operand(row, at)?, field),
            Node::Has(operand, field) => match operand.operand(row, at)? {
                Nv::Map(r) => Ok(Nv::Bool(r.contains_key(field))),
                _ => Err(Fail::Unsupported),
            },
            Node::Index(operand, key) => match operand.operand(row, at)? {
                Nv::Map(r) => r.get(key).map_or(Err(Fail::Error), read),
                _ => Err(Fail::Unsupported),
            },
            Node::Not(a) => truth(a.operand(row, at)).map(|b| Nv::Bool(!b)),
            Node::Neg(a) => match a.operand(row, at)? {
                Nv::Int(i) => i.checked_neg().map(Nv::Int).ok_or(Fail::Error),
                Nv::Double(f) => Ok(Nv::Double(-f)),
                Nv::Map(_) => Err(Fail::Unsupported),
                _ => Err(Fail::Error),
            },
            Node::Or(a, b) => junction(a, b, true, row, at),
            Node::Cond(c, a, b) => {
                if truth(c.operand(row, at))? {
                    a.operand(row, at)
                } else {
                    b.operand(row, at)
                }
            }
            Node::Ne(a, b) => {
                let l = a.operand(row, at)?;
                let r = b.operand(row, at)?;
                equals(&l, &r).map(|e| Nv::Bool(!e))
            }
            // The hot arms, which `eval_at` takes itself: never reached from there.
            _ => self.eval_at(row, at),
        }
    }
}
