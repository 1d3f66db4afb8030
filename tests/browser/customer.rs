//! Browser tests of the customer pages.
