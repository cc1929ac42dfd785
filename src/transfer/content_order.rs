//! The content objects a local copy moves, in the order it moves them:
//! each once, those the destination has left out, the largest first (so
//! no worker is left with one big file at the end; equal sizes by
//! checksum), held as 32 bytes per object.
//!
//! A tree walk lists content as it meets it, repeats included
//! ([`crate::tree::traverse::Traversal::list_content`]). [`largest_first`]
//! sorts and dedups that list in place, asks each object's size on rayon's
//! pool (`None`: the destination has it, and it is dropped), and moves the
//! checksums into size order in place. Besides the list it holds, while
//! ordering, 16 bytes per object for its size and 8 for its new place —
//! never a second list of checksums or a hash set of them (at a million
//! objects a set of names alone outweighs ostree's whole pull).
//!
//! Upstream: `ostree-repo-pull.c` keeps the content it still has to fetch
//! in a hash table (`requested_content`) and fetches it in no set order.

use std::cmp::Reverse;

use rayon::prelude::*;

use crate::objects::checksum::Checksum;

/// `list` (repeats allowed) as each checksum once, without those `size`
/// says `None` for, largest `size` first and equal sizes by checksum.
pub fn largest_first(
    mut list: Vec<Checksum>,
    size: impl Fn(Checksum) -> Option<u64> + Sync,
) -> Vec<Checksum> {
    list.sort_unstable();
    list.dedup();
    let mut sizes: Vec<Option<u64>> = list.par_iter().map(|&c| size(c)).collect();
    // Drop what is not wanted, keeping each size beside its checksum.
    let mut kept = 0;
    for i in 0..list.len() {
        if sizes[i].is_some() {
            list[kept] = list[i];
            sizes[kept] = sizes[i];
            kept += 1;
        }
    }
    list.truncate(kept);
    list.shrink_to_fit();
    sizes.truncate(kept);
    // `list` is sorted by checksum: a smaller place is a smaller checksum.
    let mut order: Vec<usize> = (0..kept).collect();
    order.sort_unstable_by_key(|&i| (Reverse(sizes[i]), i));
    drop(sizes);
    gather(&mut list, order);
    list
}

/// Rearranges `items` in place so that the item at `k` is the one that was
/// at `order[k]`; `order` must be a permutation of `0..items.len()`.
fn gather<T: Copy>(items: &mut [T], mut order: Vec<usize>) {
    const DONE: usize = usize::MAX;
    debug_assert_eq!(items.len(), order.len());
    for start in 0..items.len() {
        if order[start] == DONE {
            continue;
        }
        // Follow the cycle through `start`: each place takes the item its
        // `order` names, read before that place is itself overwritten.
        let first = items[start];
        let mut k = start;
        loop {
            let from = std::mem::replace(&mut order[k], DONE);
            if from == start {
                items[k] = first;
                break;
            }
            items[k] = items[from];
            k = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u8) -> Checksum {
        Checksum::digest(&[n])
    }

    #[test]
    fn once_each_wanted_only_largest_first_ties_by_checksum() {
        // Sizes by content: 0 and 1 tie, 2 is the largest, 3 the destination has.
        let size = |x: Checksum| match (0..4).find(|&n| c(n) == x) {
            Some(0) | Some(1) => Some(10),
            Some(2) => Some(500),
            Some(3) => None,
            _ => Some(1),
        };
        let list = vec![c(1), c(3), c(0), c(1), c(4), c(2), c(0), c(3)];
        let (lo, hi) = if c(0) < c(1) {
            (c(0), c(1))
        } else {
            (c(1), c(0))
        };
        assert_eq!(largest_first(list, size), vec![c(2), lo, hi, c(4)]);
        assert!(largest_first(Vec::new(), size).is_empty());
        assert!(largest_first(vec![c(3), c(3)], size).is_empty());
    }

    #[test]
    fn gather_moves_every_item_to_its_place() {
        // A permutation with cycles of several lengths and fixed points.
        let order = vec![3, 0, 2, 5, 1, 4, 6, 9, 7, 8];
        let mut items: Vec<usize> = (100..110).collect();
        gather(&mut items, order.clone());
        let want: Vec<usize> = order.iter().map(|&i| 100 + i).collect();
        assert_eq!(items, want);
        // Ordered by key in place, as largest_first does.
        let keys = [7u64, 3, 9, 3, 1, 8, 0, 9];
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by_key(|&i| (Reverse(keys[i]), i));
        let mut items = keys;
        gather(&mut items, order);
        assert_eq!(items, [9, 9, 8, 7, 3, 3, 1, 0]);
    }
}
