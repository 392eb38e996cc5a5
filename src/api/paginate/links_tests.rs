//! Tests of the scroll's chain evidence: when passes, clean or broken,
//! prove a complete read.

use super::*;

fn r(id: &str) -> Node {
    Node::Record(id.into())
}

/// A pass's evidence from its reads: `|` marks a failure.
fn pass(script: &str) -> PassLinks {
    let mut p = PassLinks::default();
    let mut prev = Some(Node::Start);
    for tok in script.split_whitespace() {
        match tok {
            "|" => prev = None,
            "END" => {
                if let Some(a) = prev.take() {
                    p.links.push((a, Node::End));
                }
            }
            id => {
                if let Some(a) = prev.take() {
                    p.links.push((a, r(id)));
                }
                prev = Some(r(id));
                p.ids.push(id.into());
            }
        }
    }
    p
}

#[test]
fn a_clean_pass_is_complete_by_itself() {
    let mut links = Links::default();
    links.merge(&pass("a b c d END"));
    assert!(links.complete());
    let mut empty = Links::default();
    empty.merge(&pass("END"));
    assert!(empty.complete(), "no records at all");
}

#[test]
fn a_broken_pass_is_not_complete_even_if_it_reached_the_end() {
    // The page with c was lost between b and d.
    let mut links = Links::default();
    links.merge(&pass("a b | d e END"));
    assert!(!links.complete());
    // A failure right before the end page: the last page may not be last.
    let mut links = Links::default();
    links.merge(&pass("a b c | "));
    assert!(!links.complete());
    // The first request failed: nothing links to the start.
    let mut links = Links::default();
    links.merge(&pass("| a b END"));
    assert!(!links.complete());
}

#[test]
fn broken_passes_complete_each_other_when_their_gaps_differ() {
    let mut links = Links::default();
    links.merge(&pass("a b | e f END")); // c d lost
    assert!(!links.complete());
    links.merge(&pass("a b c d | f END")); // e lost, but b→c→d proven
    assert!(!links.complete(), "d → e is not proven yet");
    links.merge(&pass("a | d e f END"));
    assert!(links.complete());
}

#[test]
fn a_record_seen_off_the_chain_keeps_the_read_incomplete() {
    // x was seen in a pass, but the chain start → end skips it.
    let mut links = Links::default();
    links.merge(&pass("a | x |"));
    links.merge(&pass("a b END"));
    assert!(!links.complete(), "x is on no proven chain");
    // A pass without failures stands alone (x was deleted meanwhile).
    let clean = pass("a b END");
    let mut alone = Links::default();
    assert!(clean.apply(&mut alone) && alone.complete());
}

#[test]
fn contradicting_passes_keep_only_the_newest() {
    let mut links = Links::default();
    links.merge(&pass("a b | c d END"));
    // The order changed (or b was deleted): a → c contradicts a → b.
    links.merge(&pass("a c | d END"));
    assert_eq!(links.next.get(&r("a")), Some(&r("c")));
    assert!(!links.seen.contains("b"), "the older pass is dropped");
    assert!(!links.complete());
    links.merge(&pass("a c d END"));
    assert!(links.complete());
}
