//! A list of the state whose stored items may leave memory.
//!
//! A conductor that forgets ([`super::Conductor::forget_stored`]) drops
//! the items of its contexts and task sequence once they are stored and
//! no later event can read them. Indexes stay those of the whole list
//! (entries and frames refer to each other by index), so a [`Held`] keeps
//! the items from `base` on in a vector and the few older ones still read
//! (a task's current entry, terminal entries) in a map.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone)]
pub(super) struct Held<T> {
    /// Items `base..len`.
    recent: Vec<T>,
    base: usize,
    /// Items below `base` still held, by index.
    kept: BTreeMap<usize, T>,
}

impl<T> Default for Held<T> {
    fn default() -> Self {
        Held {
            recent: Vec::new(),
            base: 0,
            kept: BTreeMap::new(),
        }
    }
}

impl<T> Held<T> {
    /// The length of the whole list.
    pub(super) fn len(&self) -> usize {
        self.base + self.recent.len()
    }

    pub(super) fn push(&mut self, item: T) {
        self.recent.push(item);
    }

    /// Whether no item was ever dropped.
    pub(super) fn is_whole(&self) -> bool {
        self.base == 0
    }

    /// The whole list; panics if items were dropped (read them from where
    /// they were stored).
    pub(super) fn whole(&self) -> &[T] {
        assert!(
            self.is_whole(),
            "the conductor forgot stored items: read the state from the store"
        );
        &self.recent
    }

    pub(super) fn get(&self, i: usize) -> Option<&T> {
        match i.checked_sub(self.base) {
            Some(r) => self.recent.get(r),
            None => self.kept.get(&i),
        }
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        match i.checked_sub(self.base) {
            Some(r) => self.recent.get_mut(r),
            None => self.kept.get_mut(&i),
        }
    }

    /// The held items with their indexes, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        let base = self.base;
        self.kept.iter().map(|(i, t)| (*i, t)).chain(
            self.recent
                .iter()
                .enumerate()
                .map(move |(r, t)| (base + r, t)),
        )
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        let base = self.base;
        self.kept.iter_mut().map(|(i, t)| (*i, t)).chain(
            self.recent
                .iter_mut()
                .enumerate()
                .map(move |(r, t)| (base + r, t)),
        )
    }

    /// The items from `start` on (all held: `start` is at least `base`).
    pub(super) fn starting_at(&self, start: usize) -> impl Iterator<Item = (usize, &T)> {
        let skip = start.checked_sub(self.base).expect("items from base on");
        self.recent
            .iter()
            .enumerate()
            .skip(skip)
            .map(move |(r, t)| (self.base + r, t))
    }

    /// The number of items held.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.kept.len() + self.recent.len()
    }

    /// Drops item `i` if it is an older one kept.
    pub(super) fn drop_kept(&mut self, i: usize) {
        self.kept.remove(&i);
    }

    /// Drops the items below `upto` for which `keep` is false; the older
    /// ones kept stay until [`Held::drop_kept`].
    pub(super) fn forget(&mut self, upto: usize, mut keep: impl FnMut(usize, &T) -> bool) {
        let n = upto.saturating_sub(self.base).min(self.recent.len());
        for (r, t) in self.recent.drain(..n).enumerate() {
            let i = self.base + r;
            if keep(i, &t) {
                self.kept.insert(i, t);
            }
        }
        self.base += n;
    }
}

impl<T> std::ops::Index<usize> for Held<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        self.get(i).expect("an item the conductor holds")
    }
}

impl<T> std::ops::IndexMut<usize> for Held<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        self.get_mut(i).expect("an item the conductor holds")
    }
}

impl<T> From<Vec<T>> for Held<T> {
    fn from(recent: Vec<T>) -> Self {
        Held {
            recent,
            base: 0,
            kept: BTreeMap::new(),
        }
    }
}

/// As the list it is; a list with items dropped does not serialize (its
/// state is the stored one).
impl<T: Serialize> Serialize for Held<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !self.is_whole() {
            return Err(serde::ser::Error::custom(
                "the conductor forgot stored items: read the state from the store",
            ));
        }
        self.recent.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Held<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(Held::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_survive_forgetting() {
        let mut h: Held<u32> = (0..10).collect::<Vec<_>>().into();
        h.forget(6, |i, _| i == 2);
        assert_eq!((h.len(), h.held()), (10, 5));
        assert_eq!((h[2], h[7]), (2, 7));
        assert_eq!(h.get(3), None);
        h.push(10);
        let all: Vec<usize> = h.iter().map(|(i, _)| i).collect();
        assert_eq!(all, [2, 6, 7, 8, 9, 10]);
        assert_eq!(
            h.starting_at(8).map(|(_, t)| *t).collect::<Vec<_>>(),
            [8, 9, 10]
        );
        h.drop_kept(2);
        h.forget(8, |_, _| false);
        assert_eq!(h.held(), 3);
        assert!(serde_json::to_string(&h).is_err());
    }
}
