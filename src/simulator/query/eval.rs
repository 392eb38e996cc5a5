//! Evaluating a parsed leaf against a record's field value, and the date
//! bounds a leaf implies.

use super::*;

fn day(t: i64) -> i64 {
    t.div_euclid(DAY)
}

impl Leaf {
    pub(super) fn matches(&self, v: FieldValue<'_>, dates: DateMode) -> bool {
        let first = &self.values[0];
        match self.op {
            Op::Eq => self.equals(v, first, dates),
            Op::Ne => !self.equals(v, first, dates),
            Op::In => self.values.iter().any(|s| self.equals(v, s, dates)),
            Op::Nin => !self.values.iter().any(|s| self.equals(v, s, dates)),
            Op::Contains => text_any(v, first, |h, n| h.contains(n)),
            Op::NotContains => !text_any(v, first, |h, n| h.contains(n)),
            Op::StartsWith => text_any(v, first, |h, n| h.starts_with(n)),
            Op::EndsWith => text_any(v, first, |h, n| h.ends_with(n)),
            Op::Gt | Op::Lt | Op::Ge | Op::Le => self.compare(v, first, dates),
        }
    }

    fn equals(&self, v: FieldValue<'_>, s: &Scalar, dates: DateMode) -> bool {
        match (v, s) {
            (FieldValue::Null, Scalar::Null) => true,
            (FieldValue::Many(m), Scalar::Null) => m.is_empty(),
            (_, Scalar::Null) | (FieldValue::Null, _) => false,
            (FieldValue::Str(a), Scalar::Str(b)) => a == b,
            (FieldValue::Many(m), Scalar::Str(b)) => m.iter().any(|a| a == b),
            (FieldValue::Int(a), Scalar::Int(b)) => {
                if self.ty == FieldType::Date && dates == DateMode::Day {
                    day(a) == day(*b)
                } else {
                    a == *b
                }
            }
            (FieldValue::Int(a), Scalar::Float(b)) => a as f64 == *b,
            (FieldValue::Float(a), Scalar::Float(b)) => a == *b,
            (FieldValue::Float(a), Scalar::Int(b)) => a == *b as f64,
            (FieldValue::Bool(a), Scalar::Bool(b)) => a == *b,
            _ => false,
        }
    }

    fn compare(&self, v: FieldValue<'_>, s: &Scalar, dates: DateMode) -> bool {
        let (a, b) = match (v, s) {
            (FieldValue::Int(a), Scalar::Int(b)) => {
                if self.ty == FieldType::Date && dates == DateMode::Day {
                    return match self.op {
                        Op::Gt => a >= (day(*b) + 1) * DAY,
                        Op::Lt => a < day(*b) * DAY,
                        _ => false,
                    };
                }
                return match self.op {
                    Op::Gt => a > *b,
                    Op::Lt => a < *b,
                    Op::Ge => a >= *b,
                    Op::Le => a <= *b,
                    _ => false,
                };
            }
            (FieldValue::Int(a), Scalar::Float(b)) => (a as f64, *b),
            (FieldValue::Float(a), Scalar::Float(b)) => (a, *b),
            (FieldValue::Float(a), Scalar::Int(b)) => (a, *b as f64),
            _ => return false,
        };
        match self.op {
            Op::Gt => a > b,
            Op::Lt => a < b,
            Op::Ge => a >= b,
            Op::Le => a <= b,
            _ => false,
        }
    }

    pub(super) fn bounds(&self, dates: DateMode) -> Interval {
        if self.ty != FieldType::Date {
            return FULL;
        }
        let ints: Vec<i64> = self
            .values
            .iter()
            .filter_map(|s| match s {
                Scalar::Int(n) => Some(*n),
                _ => None,
            })
            .collect();
        if ints.len() != self.values.len() {
            return FULL;
        }
        let v = ints.first().copied().unwrap_or(0);
        match (dates, self.op) {
            (DateMode::Day, Op::Eq) => (day(v) * DAY, day(v) * DAY + DAY - 1),
            (DateMode::Day, Op::Gt) => ((day(v) + 1).saturating_mul(DAY), i64::MAX),
            (DateMode::Day, Op::Lt) => (i64::MIN, day(v) * DAY - 1),
            (DateMode::Exact, Op::Eq) => (v, v),
            (DateMode::Exact, Op::Gt) => (v.saturating_add(1), i64::MAX),
            (DateMode::Exact, Op::Ge) => (v, i64::MAX),
            (DateMode::Exact, Op::Lt) => (i64::MIN, v.saturating_sub(1)),
            (DateMode::Exact, Op::Le) => (i64::MIN, v),
            (DateMode::Exact, Op::In) => match (ints.iter().min(), ints.iter().max()) {
                (Some(lo), Some(hi)) => (*lo, *hi),
                _ => (i64::MAX, i64::MIN),
            },
            _ => FULL,
        }
    }
}

/// Case-insensitive text test; any element of a multi-valued field.
fn text_any(v: FieldValue<'_>, s: &Scalar, pred: impl Fn(&str, &str) -> bool) -> bool {
    let Scalar::Str(needle) = s else {
        return false;
    };
    match v {
        FieldValue::Str(h) => pred(&h.to_lowercase(), needle),
        FieldValue::Many(m) => m.iter().any(|h| pred(&h.to_lowercase(), needle)),
        _ => false,
    }
}
