//! Customers' phone numbers in the lookup index, for databases written before numbers were
//! normalised and indexed.
//!
//! Such records keep the number as it was typed (`0912 111 2222`). [`Store::index_customer_phones`]
//! adds a `phone` key (E.164) for each, once per database (a mark in `meta` says it ran), so a
//! new ticket from the same number finds its customer. The record itself is left as it is: it
//! is normalised the next time it is saved, with an entry in its trail.

use super::{Store, StoreError, decode, keys};
use crate::engine::Customer;

/// The mark in `meta` that the phone numbers were indexed.
const INDEXED: &[u8] = b"migrated/customer_phones";

impl Store {
    /// Indexes every customer's phone number as `normalise` writes it (`None`: not a number it
    /// can read; left out), unless done before; a number another customer has is left to them.
    /// Returns how many keys were added.
    pub fn index_customer_phones(&self, normalise: &dyn Fn(&str) -> Option<String>) -> Result<usize, StoreError> {
        if self.meta.contains_key(INDEXED)? {
            return Ok(0);
        }
        let mut added = 0;
        for bytes in self.customers.iter().values() {
            let customer: Customer = decode(&bytes?, "customer")?;
            if customer.merged_into.is_some() {
                continue;
            }
            let Some(phone) = customer.phone.as_deref().and_then(normalise) else { continue };
            let value = keys::customer(customer.id);
            let taken = self.customer_keys.compare_and_swap(
                keys::customer_phone(&phone),
                None as Option<&[u8]>,
                Some(&value[..]),
            )?;
            added += usize::from(taken.is_ok());
        }
        self.meta.insert(INDEXED, Vec::<u8>::new())?;
        self.db.flush()?;
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::CustomerId;

    #[test]
    fn phones_typed_before_are_indexed_once() {
        let store = Store::open_temporary().expect("a store");
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T05:30:00Z").expect("time").to_utc();
        let customer = |n: u64, phone: &str| Customer {
            id: CustomerId(ulid::Ulid::from_parts(n, 1)),
            name: format!("c{n}"),
            email: None,
            phone: Some(phone.into()),
            external_id: None,
            vip: false,
            language: None,
            created_at: at,
            updated_at: at,
            satisfaction: Default::default(),
            merged_into: None,
        };
        let batch = crate::store::Batch {
            customers: vec![customer(1, "0912 111 2222"), customer(2, "call me"), customer(3, "09121112222")],
            ..Default::default()
        };
        store.commit(&batch).expect("written");
        let region = "IR".parse().ok();
        let normalise = |p: &str| crate::engine::phone::normalise(p, region).ok();
        assert_eq!(store.index_customer_phones(&normalise).expect("indexed"), 1, "one number, first customer");
        let found = store.customer_by_key(&keys::customer_phone("+989121112222")).expect("read");
        assert_eq!(found, Some(CustomerId(ulid::Ulid::from_parts(1, 1))));
        assert_eq!(store.index_customer_phones(&normalise).expect("again"), 0, "only once");
    }
}
