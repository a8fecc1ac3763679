//! The simulator's CloudWatch metric math: arithmetic (`+ - * /`, parentheses,
//! numbers) over the service's other metrics by id, point by point, as
//! CloudWatch computes an expression in `GetMetricData`. Functions (`SUM`,
//! `FILL`, …) are not simulated: such a series reads as unknown, with why.

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Num(f64),
    Id(String),
    Neg(Box<Expr>),
    Bin(Box<Expr>, u8, Box<Expr>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
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

    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.product()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            left = Expr::Bin(Box::new(left), op, Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.i += 1;
            left = Expr::Bin(Box::new(left), op, Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some(b'(') => {
                self.i += 1;
                let e = self.sum()?;
                if self.peek() != Some(b')') {
                    return Err(format!("expected ')' at {}", self.i + 1));
                }
                self.i += 1;
                Ok(e)
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
                text.parse()
                    .map(Expr::Num)
                    .map_err(|_| format!("bad number \"{text}\""))
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
                Ok(Expr::Id(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
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

fn parse(expression: &str) -> Result<Expr, String> {
    let mut p = Parser {
        s: expression.as_bytes(),
        i: 0,
    };
    let e = p.sum()?;
    match p.peek() {
        None => Ok(e),
        Some(c) => Err(format!(
            "\"{}\" at {} is not simulated (only + - * /, parentheses, numbers and ids)",
            char::from(c),
            p.i + 1
        )),
    }
}

fn value(e: &Expr, at: usize, series: &dyn Fn(&str) -> Option<Vec<f64>>) -> Option<f64> {
    match e {
        Expr::Num(n) => Some(*n),
        Expr::Id(id) => series(id)?.get(at).copied(),
        Expr::Neg(x) => value(x, at, series).map(|v| -v),
        Expr::Bin(a, op, b) => {
            let (a, b) = (value(a, at, series)?, value(b, at, series)?);
            let v = match op {
                b'+' => a + b,
                b'-' => a - b,
                b'*' => a * b,
                _ => a / b,
            };
            // A division by zero leaves the point out, as CloudWatch does.
            v.is_finite().then_some(v)
        }
    }
}

/// The expression's points (`points` long, oldest first) over the series
/// `series(id)` gives; a point that cannot be computed is NaN (missing).
pub(super) fn evaluate(
    expression: &str,
    points: usize,
    series: &dyn Fn(&str) -> Option<Vec<f64>>,
) -> Result<Vec<f64>, String> {
    let e = parse(expression)?;
    Ok((0..points)
        .map(|i| value(&e, i, series).unwrap_or(f64::NAN))
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
}
