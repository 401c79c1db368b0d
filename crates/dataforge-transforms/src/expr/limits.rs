//! Limits on an expression's size and depth, checked on the text before CEL parses it.
//!
//! CEL's parser, its interpreter, the native evaluator and the syntax tree's `Drop` all recurse
//! once per level of the tree, so a deep expression (`1 + 1 + … + 1` ten thousand times,
//! `a.a.a.….b`, `((((…))))`) overflowed the stack and aborted the process. As cel-go does (an
//! expression size limit and a maximum recursion depth), an expression is refused before it is
//! parsed when it is longer than [`MAX_EXPR_LEN`] or may be deeper than [`MAX_EXPR_DEPTH`].
//!
//! The depth is bounded from the tokens, cheaply and from above: inside each pair of brackets,
//! the operators of one operand of `&&`, `||`, `?:` or `,` (each of `+ - * / % < <= > >= == !=
//! in ! .` and an index or call adds a level), plus the deepest bracket inside that operand,
//! plus a level per `?` and the height of the balanced trees CEL builds for `&&` and `||` chains.

use std::sync::{Mutex, OnceLock, PoisonError, mpsc};

use super::Expression;

/// The longest expression accepted, in bytes.
pub const MAX_EXPR_LEN: usize = 10_000;

/// The deepest expression accepted, in levels of its syntax tree (as bounded from the text).
///
/// Measured (`measure_stack_use` in the tests): evaluating a chain of `+` in the CEL interpreter
/// overflows a 2 MiB stack between 50 and 60 levels in a debug build and between 1,400 and
/// 1,600 in a release build (about 1.4 kB a level); parsing 16 nested brackets overflows 2 MiB
/// in a debug build, so expressions are compiled on a thread of their own, with 64 MiB.
/// The runner's transform threads have 16 MiB (debug: 400 levels evaluate); a release build
/// evaluates 64 levels on any 2 MiB thread with a margin of 20.
pub const MAX_EXPR_DEPTH: usize = 64;

/// The stack of the thread expressions are compiled on: parsing a level of brackets takes
/// about 130 kB in a debug build.
pub(crate) const COMPILE_STACK: usize = 64 * 1024 * 1024;

/// A compilation for the compile thread: the text, and where the result goes.
type Job = (String, mpsc::Sender<Result<Expression, String>>);

/// Compiles `source` ([`Expression::compile_checked`]) on a long-lived thread with
/// [`COMPILE_STACK`] of stack, started on first use: its stack stays mapped from one
/// expression to the next, where a fresh thread per expression would fault its pages in again.
pub(crate) fn on_compile_thread(source: &str) -> Result<Expression, String> {
    static QUEUE: OnceLock<Result<Mutex<mpsc::Sender<Job>>, String>> = OnceLock::new();
    let stopped = || "the thread that compiles expressions has stopped".to_owned();
    let queue = QUEUE.get_or_init(|| {
        let (jobs, incoming) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("dataforge-expr-compile".into())
            .stack_size(COMPILE_STACK)
            .spawn(move || {
                for (source, reply) in incoming {
                    let result = std::panic::catch_unwind(|| Expression::compile_checked(&source))
                        .unwrap_or_else(|_| Err("compiling the expression panicked".into()));
                    // The caller may have gone: nobody to tell.
                    let _ = reply.send(result);
                }
            })
            .map(|_| Mutex::new(jobs))
            .map_err(|e| format!("cannot start the thread that compiles expressions: {e}"))
    });
    let queue = queue.as_ref().map_err(Clone::clone)?;
    let (reply, result) = mpsc::channel();
    queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send((source.to_owned(), reply))
        .map_err(|_| stopped())?;
    result.recv().map_err(|_| stopped())?
}

/// Refuses an expression longer than [`MAX_EXPR_LEN`] or possibly deeper than
/// [`MAX_EXPR_DEPTH`], with a message naming the limit.
pub(crate) fn check(source: &str) -> Result<(), String> {
    if source.len() > MAX_EXPR_LEN {
        return Err(format!(
            "expression is too long: {} bytes, at most {MAX_EXPR_LEN}",
            source.len()
        ));
    }
    let depth = depth_bound(source);
    if depth > MAX_EXPR_DEPTH {
        return Err(format!(
            "expression is too deeply nested: up to {depth} levels, at most {MAX_EXPR_DEPTH} \
             (split it over several transforms, or use `&&`/`||` chains, which stay shallow)"
        ));
    }
    Ok(())
}

/// One pair of brackets being read (the whole expression is the outermost).
#[derive(Default)]
struct Group {
    /// Operators in the current operand.
    ops: usize,
    /// The deepest bracket closed in the current operand.
    inner: usize,
    /// The deepest operand so far (operators and brackets).
    deepest: usize,
    /// `&&` and `||` seen.
    logical: usize,
    /// `?` seen.
    ternary: usize,
}

impl Group {
    /// Ends an operand.
    fn next_operand(&mut self) {
        self.deepest = self.deepest.max(self.ops + self.inner);
        self.ops = 0;
        self.inner = 0;
    }

    /// The bound of the whole group: its deepest operand, its `?` levels, two balanced trees
    /// of its `&&`/`||` operands, and two levels for the group itself (a call, a list, a macro).
    fn close(mut self) -> usize {
        self.next_operand();
        let tree = (usize::BITS - self.logical.leading_zeros()) as usize;
        self.deepest + self.ternary + 2 * tree + 2
    }
}

/// An upper bound on the depth of the syntax tree of `source`.
fn depth_bound(source: &str) -> usize {
    let bytes = source.as_bytes();
    let mut stack = vec![Group::default()];
    let mut i = 0;
    // Whether the byte before `i` ended an operand (a name, a literal, a closing bracket):
    // then `(` and `[` are a call and an index (a level each), and `-` is binary.
    let mut after_operand = false;
    while i < bytes.len() {
        let b = bytes[i];
        let top = stack.len() - 1;
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => {
                i += 1;
                continue;
            }
            b'"' | b'\'' => {
                i = skip_string(bytes, i, raw_prefix(bytes, i));
                after_operand = true;
                continue;
            }
            b'(' | b'[' | b'{' => {
                if after_operand {
                    stack[top].ops += 1;
                }
                stack.push(Group::default());
                after_operand = false;
            }
            b')' | b']' | b'}' => {
                if stack.len() > 1 {
                    let closed = stack.pop().map_or(0, Group::close);
                    let top = stack.len() - 1;
                    stack[top].inner = stack[top].inner.max(closed);
                }
                after_operand = true;
            }
            b',' | b':' => {
                stack[top].next_operand();
                after_operand = false;
            }
            b'?' => {
                stack[top].next_operand();
                stack[top].ternary += 1;
                after_operand = false;
            }
            b'&' | b'|' if bytes.get(i + 1) == Some(&b) => {
                stack[top].next_operand();
                stack[top].logical += 1;
                after_operand = false;
                i += 2;
                continue;
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                // `in` is an operator; a number's `.5` or `e-3` stays part of it.
                if &bytes[start..i] == b"in" {
                    stack[top].ops += 1;
                    after_operand = false;
                } else {
                    if b.is_ascii_digit() {
                        while i < bytes.len()
                            && (bytes[i].is_ascii_alphanumeric()
                                || bytes[i] == b'.'
                                || ((bytes[i] == b'-' || bytes[i] == b'+')
                                    && matches!(bytes[i - 1], b'e' | b'E')))
                        {
                            i += 1;
                        }
                    }
                    after_operand = true;
                }
                continue;
            }
            _ if !b.is_ascii_punctuation() => {}
            _ => {
                // Every other punctuation byte (an operator, `.`, `!`, anything CEL refuses)
                // counts as a level: `<=` and the like count twice, which only makes the bound larger.
                stack[top].ops += 1;
                after_operand = false;
            }
        }
        i += 1;
    }
    // Unclosed brackets: close them (CEL refuses the text, but the bound must still hold).
    let mut depth = 0;
    while let Some(mut g) = stack.pop() {
        g.inner = g.inner.max(depth);
        depth = g.close();
    }
    depth
}

/// True when the quote at `i` opens a raw string (`r"…"`, `R'…'`, `br"…"`): a lone `r`/`R`,
/// possibly after a lone `b`/`B`, right before it.
fn raw_prefix(bytes: &[u8], i: usize) -> bool {
    let word_start =
        |j: usize| j == 0 || !(bytes[j - 1].is_ascii_alphanumeric() || bytes[j - 1] == b'_');
    match i.checked_sub(1).map(|j| (j, bytes[j])) {
        Some((j, b'r' | b'R')) => {
            word_start(j) || (j >= 1 && matches!(bytes[j - 1], b'b' | b'B') && word_start(j - 1))
        }
        _ => false,
    }
}

/// The index after the string literal that opens at `i` (single, double or triple quotes;
/// escapes unless `raw`); the end of the text when it is not closed.
fn skip_string(bytes: &[u8], i: usize, raw: bool) -> usize {
    let q = bytes[i];
    let triple = bytes.get(i + 1) == Some(&q) && bytes.get(i + 2) == Some(&q);
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < bytes.len() {
        match bytes[j] {
            b'\\' if !raw => j += 2,
            c if c == q && !triple => return j + 1,
            c if c == q && bytes.get(j + 1) == Some(&q) && bytes.get(j + 2) == Some(&q) => {
                return j + 3;
            }
            _ => j += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_follows_the_tree() {
        assert_eq!(depth_bound("x"), 2);
        assert_eq!(depth_bound("a + b * c"), 4);
        assert_eq!(depth_bound("1 + 1 + 1"), 4);
        // `&&` chains are balanced trees: 1000 tests stay shallow.
        let chain = vec!["a == 1"; 1000].join(" && ");
        assert!(depth_bound(&chain) < 30, "{}", depth_bound(&chain));
        // Brackets and calls nest.
        assert_eq!(depth_bound("f(g(x))"), 2 + 1 + (2 + 1 + 2));
        assert_eq!(depth_bound("((x))"), 6);
        // Operators inside strings do not count, raw or not, whatever their quotes.
        for s in [
            r#""a + b + c + d""#,
            r#"'a.b.c.d'"#,
            r#""""a"b"c+d+e""""#,
            r#""\"+++\"""#,
            r#"r"\"  "#,
        ] {
            assert!(depth_bound(s) <= 3, "{s}: {}", depth_bound(s));
        }
        // A raw string ends at its first quote: what follows counts.
        assert_eq!(depth_bound(r#"r"\" + x + y"#), 4);
        assert_eq!(depth_bound("1.5e-3 + 2"), 3);
        assert_eq!(depth_bound("x in [1, 2, 3]"), 2 + 1 + 2);
    }

    #[test]
    fn the_probes_are_refused_by_name() {
        let e = check(&format!("1{}", " + 1".repeat(10_000))).expect_err("long");
        assert!(e.contains("too long") && e.contains("10000"), "{e}");
        let e = check(&format!("1{}", " + 1".repeat(100))).expect_err("deep");
        assert!(
            e.contains("too deeply nested") && e.contains("at most 64"),
            "{e}"
        );
        assert!(check(&format!("1{}", " + 1".repeat(60))).is_ok());
        assert!(check(&format!("{}b", "a.".repeat(25_000))).is_err());
        assert!(check(&format!("{}1{}", "(".repeat(40), ")".repeat(40))).is_err());
        assert!(
            check(&format!("{}1", "(".repeat(3000))).is_err(),
            "unclosed"
        );
    }
}
