//! The evidence a scroll's passes leave: which record follows which with
//! no failure between ([`Links`]), one pass's share of it ([`PassLinks`]),
//! and whether it chains the whole listing (see the `paginate` module doc).

use std::collections::{HashMap, HashSet};

/// A point in the listing's order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Node {
    Start,
    Record(String),
    End,
}

/// What the passes proved: which record follows which, with no gap.
#[derive(Debug, Default, Clone)]
pub(super) struct Links {
    next: HashMap<Node, Node>,
    prev: HashMap<Node, Node>,
    /// Every record id the kept passes saw.
    seen: HashSet<String>,
}

impl Links {
    /// Add `a → b`; false if it contradicts a link already known.
    fn link(&mut self, a: &Node, b: &Node) -> bool {
        let fits =
            self.next.get(a).is_none_or(|n| n == b) && self.prev.get(b).is_none_or(|p| p == a);
        if fits {
            self.next.insert(a.clone(), b.clone());
            self.prev.insert(b.clone(), a.clone());
        }
        fits
    }

    /// Add a pass's evidence. On a contradiction the older evidence is
    /// dropped and only this pass is kept (or nothing, if it contradicts
    /// itself).
    pub(super) fn merge(&mut self, pass: &PassLinks) {
        let mut merged = self.clone();
        if pass.apply(&mut merged) {
            *self = merged;
        } else {
            let mut alone = Links::default();
            *self = if pass.apply(&mut alone) {
                alone
            } else {
                Links::default()
            };
        }
    }

    /// Do the links chain the start to the end through every record seen?
    pub(super) fn complete(&self) -> bool {
        let mut node = &Node::Start;
        let mut records = 0usize;
        // A chain from the start is simple (each node has one predecessor),
        // so it has at most `seen + 1` links; the bound only guards a bug.
        for _ in 0..=self.seen.len() + 1 {
            match self.next.get(node) {
                Some(Node::End) => return records == self.seen.len(),
                Some(n @ Node::Record(_)) => {
                    records += 1;
                    node = n;
                }
                Some(Node::Start) | None => return false,
            }
        }
        false
    }
}

/// The evidence of one pass.
#[derive(Debug, Default)]
pub(super) struct PassLinks {
    pub(super) links: Vec<(Node, Node)>,
    pub(super) ids: Vec<String>,
}

impl PassLinks {
    pub(super) fn apply(&self, links: &mut Links) -> bool {
        links.seen.extend(self.ids.iter().cloned());
        self.links.iter().all(|(a, b)| links.link(a, b))
    }
}

#[cfg(test)]
#[path = "links_tests.rs"]
mod tests;
