use std::collections::HashSet;

/// Allocates new record ids in Zoho's format (a 10-digit org prefix and a sequence), skipping any
/// id already in use, so that ids are deterministic for a given seed and order of writes.
#[derive(Clone, Debug)]
pub(crate) struct IdAllocator {
    used: HashSet<String>,
    next: u64,
}

impl Default for IdAllocator {
    fn default() -> Self {
        Self {
            used: HashSet::new(),
            next: 1,
        }
    }
}

const PREFIX: &str = "1892000000";

impl IdAllocator {
    pub(crate) fn reserve(&mut self, id: &str) {
        self.used.insert(id.to_owned());
    }

    pub(crate) fn next(&mut self) -> String {
        loop {
            let id = format!("{PREFIX}{:06}", 900_000 + self.next);
            self.next += 1;
            if self.used.insert(id.clone()) {
                return id;
            }
        }
    }
}
