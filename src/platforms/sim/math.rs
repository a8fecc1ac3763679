//! The simulator's CloudWatch metric math: arithmetic (`+ - * /`, parentheses,
//! numbers) over the service's other metrics by id, point by point, as
//! CloudWatch computes an expression in `GetMetricData`. Functions (`SUM`,
//! `FILL`, …) are not simulated: such a series reads as unknown, with why.

/// One step of a parsed expression, in postfix order: evaluating it needs a
/// stack of values, never recursion, however long the expression.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Num(f64),
    /// An id, by its place in the expression's list of ids.
    Id(usize),
    Neg,
    Bin(u8),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// Parentheses and signs open around the current position.
    depth: usize,
    ops: Vec<Op>,
    ids: Vec<String>,
}

impl Parser<'_> {
    fn skip(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip();
        self.s.get(self.i).copied()
    }

    /// One level deeper; the configuration refuses deeper expressions, and the
    /// parser refuses them again rather than overflow its stack.
    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > crate::config::MAX_EXPRESSION_NESTING {
            return Err(format!(
                "the expression nests deeper than {} levels at {}",
                crate::config::MAX_EXPRESSION_NESTING,
                self.i + 1
            ));
        }
        Ok(())
    }

    fn sum(&mut self) -> Result<(), String> {
        self.product()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            self.product()?;
            self.ops.push(Op::Bin(op));
        }
        Ok(())
    }

    fn product(&mut self) -> Result<(), String> {
        self.unary()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.i += 1;
            self.unary()?;
            self.ops.push(Op::Bin(op));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                self.enter()?;
                self.unary()?;
                self.depth -= 1;
                self.ops.push(Op::Neg);
                Ok(())
            }
            Some(b'(') => {
                self.i += 1;
                self.enter()?;
                self.sum()?;
                if self.peek() != Some(b')') {
                    return Err(format!("expected ')' at {}", self.i + 1));
                }
                self.i += 1;
                self.depth -= 1;
                Ok(())
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_digit() || *c == b'.')
                {
                    self.i += 1;
                }
                let text = String::from_utf8_lossy(&self.s[start..self.i]);
                let n = text.parse().map_err(|_| format!("bad number \"{text}\""))?;
                self.ops.push(Op::Num(n));
                Ok(())
            }
            Some(c) if c.is_ascii_lowercase() => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    self.i += 1;
                }
                let id = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                let at = self.ids.iter().position(|x| *x == id).unwrap_or_else(|| {
                    self.ids.push(id);
                    self.ids.len() - 1
                });
                self.ops.push(Op::Id(at));
                Ok(())
            }
            Some(c) => Err(format!(
                "\"{}\" at {} is not simulated (only + - * /, parentheses, numbers and ids)",
                char::from(c),
                self.i + 1
            )),
            None => Err("the expression ends too early".to_string()),
        }
    }
}

/// The expression in postfix order, and the ids it names.
fn parse(expression: &str) -> Result<(Vec<Op>, Vec<String>), String> {
    let mut p = Parser {
        s: expression.as_bytes(),
        i: 0,
        depth: 0,
        ops: Vec::new(),
        ids: Vec::new(),
    };
    p.sum()?;
    match p.peek() {
        None => Ok((p.ops, p.ids)),
        Some(c) => Err(format!(
            "\"{}\" at {} is not simulated (only + - * /, parentheses, numbers and ids)",
            char::from(c),
            p.i + 1
        )),
    }
}

/// One point of the expression; `None` when an input has no point there or a
/// step is not finite (a division by zero leaves the point out, as CloudWatch
/// does).
fn value(
    ops: &[Op],
    inputs: &[Option<Vec<f64>>],
    at: usize,
    stack: &mut Vec<Option<f64>>,
) -> Option<f64> {
    stack.clear();
    for op in ops {
        let v = match op {
            Op::Num(n) => Some(*n),
            Op::Id(i) => inputs.get(*i)?.as_ref().and_then(|s| s.get(at).copied()),
            Op::Neg => stack.pop()?.map(|v| -v),
            Op::Bin(op) => {
                let (b, a) = (stack.pop()?, stack.pop()?);
                a.zip(b)
                    .map(|(a, b)| match op {
                        b'+' => a + b,
                        b'-' => a - b,
                        b'*' => a * b,
                        _ => a / b,
                    })
                    .filter(|v| v.is_finite())
            }
        };
        stack.push(v);
    }
    stack.pop().flatten()
}

/// The expression's points (`points` long, oldest first) over the series
/// `series(id)` gives; a point that cannot be computed is NaN (missing).
pub(super) fn evaluate(
    expression: &str,
    points: usize,
    series: &dyn Fn(&str) -> Option<Vec<f64>>,
) -> Result<Vec<f64>, String> {
    let (ops, ids) = parse(expression)?;
    let inputs: Vec<Option<Vec<f64>>> = ids.iter().map(|id| series(id)).collect();
    let mut stack = Vec::new();
    Ok((0..points)
        .map(|i| value(&ops, &inputs, i, &mut stack).unwrap_or(f64::NAN))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    #[test]
    fn arithmetic_over_series_point_by_point() {
        let series = |id: &str| match id {
            "errors" => Some(vec![5.0, 200.0, 1.0]),
            "requests" => Some(vec![1000.0, 1000.0, 0.0]),
            _ => None,
        };
        let v = evaluate("errors / requests * 100", 3, &series).unwrap();
        assert!((v[0] - 0.5).abs() < 1e-9 && (v[1] - 20.0).abs() < 1e-9);
        assert!(v[2].is_nan(), "a division by zero is a missing point");
        let v = evaluate("-(errors - 1) * 2", 3, &series).unwrap();
        assert!((v[0] + 8.0).abs() < 1e-9);
        assert!(evaluate("nothing + 1", 3, &series).unwrap()[0].is_nan());
        assert!(evaluate("SUM(METRICS())", 3, &series).is_err());
        assert!(evaluate("errors +", 3, &series).is_err());
        assert!(evaluate("(errors", 3, &series).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_and_long_expressions_need_no_recursion() {
        let series = |id: &str| (id == "x").then(|| vec![1.0, 2.0]);
        let limit = crate::config::MAX_EXPRESSION_NESTING;
        let at_limit = format!("{}x{}", "(".repeat(limit), ")".repeat(limit));
        assert_eq!(evaluate(&at_limit, 2, &series).unwrap(), vec![1.0, 2.0]);
        for deep in [
            format!("{}x{}", "(".repeat(20_000), ")".repeat(20_000)),
            format!("{}x", "-".repeat(20_000)),
            format!("{}x", "-(".repeat(10_000)),
        ] {
            let err = evaluate(&deep, 2, &series).unwrap_err();
            assert!(err.contains("nests deeper than 64 levels"), "{err}");
        }
        // 20,000 terms in a row are flat: a loop, not a tower of calls.
        let long = format!("x{}", " + x".repeat(19_999));
        assert_eq!(
            evaluate(&long, 2, &series).unwrap(),
            vec![20_000.0, 40_000.0]
        );
        let negated = format!("{}x", "-".repeat(limit));
        assert_eq!(evaluate(&negated, 1, &series).unwrap(), vec![1.0]);
    }
}
