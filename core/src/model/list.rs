//! Changes to an ordered list the core maintains for a UI (the conversation
//! list, a timeline), so the UI applies them instead of re-reading.

/// One change to a list, applied in order: an index refers to the list as
/// it is after the changes before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListDiff<T> {
    /// The whole list: the first change a new observer gets.
    Reset { items: Vec<T> },
    /// `item` is now at `index`; the items from `index` on move down one.
    Insert { index: u32, item: T },
    /// The item at `index` changed in place.
    Set { index: u32, item: T },
    /// The item at `index` is gone; the items after it move up one.
    Remove { index: u32 },
}

impl<T> ListDiff<T> {
    /// Applies this change to `items`, as a UI would. Returns `false` (and
    /// leaves `items` alone) when an index is out of range, which would be
    /// a bug in the list that emitted it.
    pub fn apply(self, items: &mut Vec<T>) -> bool {
        match self {
            ListDiff::Reset { items: all } => *items = all,
            ListDiff::Insert { index, item } if index as usize <= items.len() => {
                items.insert(index as usize, item)
            }
            ListDiff::Set { index, item } if (index as usize) < items.len() => {
                items[index as usize] = item
            }
            ListDiff::Remove { index } if (index as usize) < items.len() => {
                items.remove(index as usize);
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::ListDiff;

    #[test]
    fn diffs_apply_in_order_and_bad_indexes_are_refused() {
        let mut items = vec![];
        assert!(ListDiff::Reset {
            items: vec![1, 2, 3]
        }
        .apply(&mut items));
        assert!(ListDiff::Remove { index: 0 }.apply(&mut items));
        assert!(ListDiff::Insert { index: 2, item: 9 }.apply(&mut items));
        assert!(ListDiff::Set { index: 0, item: 7 }.apply(&mut items));
        assert_eq!(items, vec![7, 3, 9]);
        assert!(!ListDiff::Insert { index: 4, item: 0 }.apply(&mut items));
        assert!(!ListDiff::Set { index: 3, item: 0 }.apply(&mut items));
        assert!(!ListDiff::Remove { index: 3 }.apply(&mut items));
        assert_eq!(items, vec![7, 3, 9]);
    }
}
