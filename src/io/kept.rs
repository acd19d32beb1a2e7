//! A few things kept for reuse (buffers, stacks): taken for one use and
//! given back at once, so that what stays allocated follows the uses in
//! progress, not the threads alive. One taken while none is kept is made
//! anew; one given back while enough are kept is dropped.

use std::sync::{Mutex, MutexGuard};

pub struct Kept<T> {
    items: Mutex<Vec<T>>,
    most: usize,
}

impl<T> Kept<T> {
    /// Keeps at most `most` items.
    pub const fn new(most: usize) -> Kept<T> {
        Kept {
            items: Mutex::new(Vec::new()),
            most,
        }
    }

    fn items(&self) -> MutexGuard<'_, Vec<T>> {
        // A push or a pop cannot leave the list half done.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A kept item, if any (the caller makes one otherwise).
    pub fn take(&self) -> Option<T> {
        self.items().pop()
    }

    /// Keeps `item` if fewer than the most are kept; else drops it.
    pub fn give_back(&self, item: T) {
        let mut items = self.items();
        if items.len() < self.most {
            items.push(item);
        }
    }

    /// Drops every item kept.
    pub fn release(&self) {
        let dropped = std::mem::take(&mut *self.items());
        drop(dropped);
    }

    /// How many are kept.
    pub fn count(&self) -> usize {
        self.items().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_bound_and_reuses_them() {
        let kept = Kept::new(2);
        let made: Vec<Box<u32>> = (0..4)
            .map(|i| kept.take().unwrap_or_else(|| Box::new(i)))
            .collect();
        made.into_iter().for_each(|b| kept.give_back(b));
        assert_eq!(kept.count(), 2);
        let again = kept.take().expect("one is kept");
        assert!(*again < 2, "a kept one is reused: {again}");
        assert_eq!(kept.count(), 1);
        kept.release();
        assert_eq!(kept.count(), 0);
        assert_eq!(kept.take(), None);
    }
}
